"""`python -m app.cli` is `clout`."""

import sys

from app.cli import main

sys.exit(main())
