"""A Griffe extension for the API reference: doctest examples in docstrings render as code.

The docstrings hold doctests (``>>> ...`` followed by the expected output), which pytest runs. As plain
Markdown they would be a paragraph (and ``[[0, 1], [2, 3]]`` a broken link); this wraps every run of
doctest lines, up to the next blank line, in a fenced ``pycon`` block before the docstring is rendered.
"""
import griffe


def fence_doctests(text: str) -> str:
    lines, out, index = text.splitlines(), [], 0
    in_fence = False
    while index < len(lines):
        line = lines[index]
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if in_fence or not line.lstrip().startswith(">>>"):
            out.append(line)
            index += 1
            continue
        indent = line[:len(line) - len(line.lstrip())]
        block = []
        while index < len(lines) and lines[index].strip():
            block.append(lines[index][len(indent):] if lines[index].startswith(indent) else lines[index].strip())
            index += 1
        out += [f"{indent}```pycon", *[indent + row for row in block], f"{indent}```"]
    return "\n".join(out)


class DoctestBlocks(griffe.Extension):
    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
