"""Start paydesk from a checkout: `python run.py [COMMAND]` is the `paydesk` command."""

import sys

from server.entry import main

if __name__ == "__main__":
    sys.exit(main())
