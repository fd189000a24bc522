"""`python -m dgm.simulate` is `dgm simulate`."""

import sys

from dgm.cli import main

sys.exit(main(prog_args=["simulate"]))
