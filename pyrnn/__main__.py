"""``python -m pyrnn``: the same command line as the ``pyrnn`` script (see pyrnn/cli.py)."""
import sys

from .cli import main

sys.exit(main())
