"""`python -m phasebench`, the same as the `phasebench` command."""

import sys

from phasebench.cli import main

sys.exit(main())
