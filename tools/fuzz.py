"""The long fuzz run: tests/test_fuzz.py's properties with many more examples and a fresh seed each time.

    .venv/bin/python tools/fuzz.py                    # 2,000 examples per target
    .venv/bin/python tools/fuzz.py --examples 20000 -k load_model

The test suite runs the same properties with a fixed seed and 40 examples per target (make test); this
script draws new examples (hypothesis's own randomness, derandomize off) and prints the failing input of
any property that breaks, as hypothesis reports it.
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2000, help="examples per target (default: 2000)")
    parser.add_argument("-k", default=None, help="only the targets matching this pytest -k expression")
    args = parser.parse_args()
    env = {**os.environ, "SCRATCHNN_FUZZ_EXAMPLES": str(args.examples), "SCRATCHNN_FUZZ_RANDOM": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "test_fuzz.py")]
    if args.k:
        command += ["-k", args.k]
    return subprocess.call(command, env=env, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
