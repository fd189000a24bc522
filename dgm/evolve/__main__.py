"""`python -m dgm.evolve ...` is `dgm evolve ...`."""

import sys

from dgm.cli import main

sys.exit(main(prog_args=["evolve"]))
