"""Entry point for ``python -m model``."""
import sys

from .cli import main

sys.exit(main())
