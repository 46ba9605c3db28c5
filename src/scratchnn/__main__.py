"""`python -m scratchnn`: the scratchnn command (see scratchnn.cli)."""
import sys

from .cli import main

sys.exit(main())
