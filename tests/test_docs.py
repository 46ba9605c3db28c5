"""Every ```python block of README.md and docs/**/*.md runs, and prints what the page says it prints.

The convention (the same for every page):
- the ```python blocks of one page run in order in one namespace, in a fresh temporary working directory;
- a ```python block followed (after blank lines only) by a ```text block must print exactly that text;
- a ```python block whose fence has the line ``<!-- no-run -->`` just above it is not run (a server, a
  cluster, minutes of training): the page gives its command and the figure that command printed;
- shell sessions are ```console blocks and are not run.
One test per page, so a failure names the page; the message gives the block's line in that page.
The figures are measured with 2 threads (``backend.set_num_threads(2)``): runs repeat exactly for a given
number of threads, and the pages say so. BLAS runs one thread per call here (as inside scratchnn's own
thread pool): on a busy machine OpenBLAS's spinning threads slow small products many times over.
"""
import contextlib
import importlib
import io
import os
import pathlib
import re

import pytest
import threadpoolctl
from conftest import require

ROOT = pathlib.Path(__file__).resolve().parents[1]
NO_RUN = "<!-- no-run -->"
FENCE = re.compile(r"^(`{3,})([\w+-]*)\s*$")


def documentation_pages():
    return [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))


def parse_blocks(text):
    """The fenced blocks of a page as dicts: language, code, first line number, no_run, expected output."""
    lines = text.splitlines()
    blocks, index = [], 0
    while index < len(lines):
        match = FENCE.match(lines[index].strip())
        if not match:
            index += 1
            continue
        fence, language, start = match.group(1), match.group(2), index
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        if end == len(lines):
            raise ValueError(f"line {start + 1}: the {fence}{language} block is never closed")
        above = start - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        blocks.append({"language": language, "code": "\n".join(lines[start + 1:end]) + "\n",
                       "line": start + 1, "no_run": above >= 0 and lines[above].strip() == NO_RUN,
                       "first_blank_after": end + 1})
        index = end + 1
    for block, following in zip(blocks, blocks[1:] + [None]):
        block["expected"] = None
        if following is not None and following["language"] == "text":
            between = lines[block["first_blank_after"]:following["line"] - 1]
            if not any(line.strip() for line in between):
                block["expected"] = following["code"]
    return blocks


def runnable_blocks(page):
    return [block for block in parse_blocks(page.read_text()) if block["language"] == "python"
            and not block["no_run"]]


PAGES = [page for page in documentation_pages() if runnable_blocks(page)]


def normalise(output):
    return "\n".join(line.rstrip() for line in output.rstrip("\n").splitlines())


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_page_code_blocks_run_and_print_what_the_page_says(page, tmp_path, monkeypatch):
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")
    import scratchnn as snn
    monkeypatch.chdir(tmp_path)
    snn.clear_session()
    threads = snn.backend.get_num_threads()
    snn.backend.set_num_threads(2)
    namespace = {"__name__": "__docs__"}
    name = page.relative_to(ROOT)
    blas = threadpoolctl.threadpool_limits(limits=1, user_api="blas")
    try:
        for block in runnable_blocks(page):
            where = f"{name}, the python block at line {block['line']}"
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                try:
                    exec(compile(block["code"], where, "exec"), namespace)
                except ModuleNotFoundError as error:
                    if os.environ.get("CI") == "true":          # CI has every extra: a missing one is a failure
                        raise
                    pytest.skip(f"{where} needs {error.name}, which is not installed (pip install -e '.[test]')")
                except Exception as error:
                    raise AssertionError(f"{where} raised {type(error).__name__}: {error}") from error
            if block["expected"] is not None:
                assert normalise(output.getvalue()) == normalise(block["expected"]), (
                    f"{where} printed\n{output.getvalue()}\nwhere the page's text block says\n{block['expected']}")
    finally:
        blas.restore_original_limits()
        snn.backend.set_num_threads(threads)
        import matplotlib.pyplot as plt
        plt.close("all")


def test_every_page_marks_only_fences_and_closes_its_blocks():
    for page in documentation_pages():
        lines = page.read_text().splitlines()
        parse_blocks(page.read_text())
        for number, line in enumerate(lines):
            if line.strip() != NO_RUN:
                continue
            following = next((later for later in lines[number + 1:] if later.strip()), "")
            assert following.strip().startswith("```python"), (
                f"{page.relative_to(ROOT)} line {number + 1}: {NO_RUN} must stand just above a ```python fence")


def test_the_parser_reads_the_convention():
    page = "\n".join(["text", "```python", "print(1)", "```", "", "```text", "1", "```",
                      NO_RUN, "```python", "raise SystemExit", "```", "```console", "$ ls", "```"])
    blocks = parse_blocks(page)
    assert [block["language"] for block in blocks] == ["python", "text", "python", "console"]
    assert blocks[0]["expected"] == "1\n" and blocks[0]["line"] == 2
    assert blocks[2]["no_run"] and not blocks[0]["no_run"]
    assert blocks[2]["expected"] is None
    with pytest.raises(ValueError, match="never closed"):
        parse_blocks("```python\nprint(1)\n")


def public_names(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name, value in vars(module).items() if not name.startswith("_")
                 and getattr(value, "__module__", None) == module.__name__]
    return names


def api_directives():
    text = "\n".join(page.read_text() for page in sorted((ROOT / "docs" / "api").glob("*.md")))
    return set(re.findall(r"^::: ([\w.]+)", text, re.M))


def test_the_api_reference_has_a_page_for_every_public_module():
    """Each module of scratchnn.__all__ has its '::: scratchnn.X' directive (the strict site build then checks,
    in docs/_tools/hooks.py, that every public name of each module has its entry in the rendered pages)."""
    import scratchnn as snn
    directives = api_directives()
    modules = [name for name in snn.__all__ if hasattr(getattr(snn, name), "__file__")]
    missing = [f"scratchnn.{name}" for name in modules if f"scratchnn.{name}" not in directives]
    assert not missing, f"docs/api/ has no '::: module' directive for {missing}"
    assert "scratchnn" in directives, "docs/api/ has no '::: scratchnn' directive for the top-level names"


def test_every_public_module_lists_what_the_reference_renders():
    """mkdocstrings renders a module's __all__ (or its own public definitions): each name must resolve."""
    import scratchnn as snn
    for name in [name for name in snn.__all__ if hasattr(getattr(snn, name), "__file__")]:
        module = importlib.import_module(f"scratchnn.{name}")
        for public in public_names(module):
            assert hasattr(module, public), f"scratchnn.{name}.__all__ names {public!r}, which it does not define"
