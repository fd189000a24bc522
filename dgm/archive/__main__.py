"""`python -m dgm.archive ...` is `dgm archive ...`."""

import sys

from dgm.cli import main

sys.exit(main(prog_args=["archive"]))
