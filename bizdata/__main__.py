"""`python -m bizdata`: see bizdata/_cli.py."""

import sys

from bizdata._cli import main

sys.exit(main())
