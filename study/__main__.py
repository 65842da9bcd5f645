"""``python -m study COMMAND [options]``: the ``study`` console script (see ``study.commands``)."""
import sys

from study.commands import main

if __name__ == "__main__":
    sys.exit(main())
