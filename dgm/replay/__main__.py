"""`python -m dgm.replay` is `dgm replay`."""

import sys

from dgm.cli import main

if __name__ == "__main__":
    sys.exit(main(prog_args=["replay"]))
