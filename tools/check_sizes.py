"""Fail when a source file is over the line budget (400 lines): a file that grows past it is split along
what it holds, as DESIGN.md says. Run: python tools/check_sizes.py [root ...] (default src/scratchnn)."""
from __future__ import annotations

import pathlib
import sys

BUDGET = 400


def oversized(roots: list[str]) -> list[tuple[pathlib.Path, int]]:
    found = []
    for root in roots:
        for path in sorted(pathlib.Path(root).rglob("*.py")):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > BUDGET:
                found.append((path, lines))
    return found


def main(argv: list[str]) -> int:
    roots = argv or ["src/scratchnn"]
    over = oversized(roots)
    for path, lines in over:
        print(f"{path}: {lines} lines, over the budget of {BUDGET}: split it along what it holds")
    if not over:
        print(f"every source file under {roots} is within {BUDGET} lines")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
