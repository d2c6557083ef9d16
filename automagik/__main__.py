"""`python -m automagik ...`: the command line, as `automagik ...` or `python -m automagik.cli.cli ...`."""

import sys

from automagik.cli.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m automagik"))
