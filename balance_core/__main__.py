"""`python -m balance_core …` = the `patch-balancer` command."""
import sys

from .cli import main

sys.exit(main())
