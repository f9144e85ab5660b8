"""`python -m monitor.cli ...`: the same as the `netvigil` command."""

import sys

from monitor.cli import main

sys.exit(main())
