"""Entry point of `python -m bgremove` (in the repository, `python -m engine`)."""

import sys

from .cli import main

sys.exit(main())
