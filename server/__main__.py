"""`python -m server`: the `paydesk` command line."""

import sys

from .entry import main

if __name__ == "__main__":
    sys.exit(main())
