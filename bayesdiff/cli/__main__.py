"""``python -m bayesdiff.cli``: the ``bayesdiff`` command."""

import sys

from . import main

sys.exit(main())
