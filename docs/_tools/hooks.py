"""MkDocs hooks for the scratchnn site (mkdocs.yml ``hooks:``).

- Links from a page to a file of the repository outside docs/ (``../../examples/seed001_digits.py``)
  work in the repository viewer as they are; on the site they become links to that file in the
  repository (``repo_url``). A link to a file that does not exist fails the build.
- After the build, every public name of every public module (``scratchnn.__all__``, and each module's
  ``__all__`` or, without one, the classes and functions it defines) must have its entry in the API
  reference: a name missing there fails the build.
"""
import html
import importlib
import pathlib
import posixpath
import re

from mkdocs.exceptions import PluginError

ROOT = pathlib.Path(__file__).resolve().parents[2]
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")


def on_page_markdown(markdown, page, config, files):
    repo = config.get("repo_url", "").rstrip("/")
    page_dir = posixpath.dirname(page.file.src_uri)

    def rewrite(match):
        target = match.group(2)
        if re.match(r"^[a-z]+:|^#|^/", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        joined = posixpath.normpath(posixpath.join("docs", page_dir, path))
        if joined.startswith("docs/"):
            return match.group(0)
        if not (ROOT / joined).exists():
            raise PluginError(f"{page.file.src_uri}: the link {target!r} names {joined}, which does not exist")
        kind = "tree" if (ROOT / joined).is_dir() else "blob"
        url = f"{repo}/{kind}/main/{joined}" + (f"#{anchor}" if anchor else "")
        return f"{match.group(1)}{url}{match.group(3)}"

    fenced = re.split(r"(^```.*?^```)", markdown, flags=re.M | re.S)
    return "".join(part if part.startswith("```") else LINK.sub(rewrite, part) for part in fenced)


def public_names(module):
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [name for name, value in vars(module).items() if not name.startswith("_")
            and getattr(value, "__module__", None) == module.__name__]


def on_post_build(config):
    import scratchnn
    site = pathlib.Path(config["site_dir"])
    rendered = "\n".join(path.read_text() for path in (site / "api").rglob("*.html"))
    anchors = set(html.unescape(anchor) for anchor in re.findall(r'id="(scratchnn[\w.]*)"', rendered))
    missing = []
    for name in scratchnn.__all__:
        value = getattr(scratchnn, name)
        if not hasattr(value, "__path__") and not hasattr(value, "__file__"):
            if f"scratchnn.{name}" not in anchors and name != "__version__":
                missing.append(f"scratchnn.{name}")
            continue
        module = importlib.import_module(f"scratchnn.{name}")
        missing += [f"scratchnn.{name}.{public}" for public in public_names(module)
                    if f"scratchnn.{name}.{public}" not in anchors]
    if missing:
        raise PluginError(f"the API reference does not document {len(missing)} public name(s): "
                          + ", ".join(missing))
