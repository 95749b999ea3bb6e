"""`python -m nst_plugin.cli`, the same as `nst`."""

import sys

from . import main

sys.exit(main())
