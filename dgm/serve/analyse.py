"""`python -m dgm.serve.analyse RUN`: dgm.science's instruments over a run, as JSON on stdout, read
through the viewer's read-only archive (never Archive.open, which may recover, that is write, a
half-added node). The viewer runs this in a child process at low priority, so an analysis of a large
run neither holds the server's interpreter nor adds to its memory."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1
PARENT_ENV = "DGM_SERVE_PARENT"


def die_with_parent() -> None:
    """Linux: be sent SIGTERM when the viewer that started us ends (an analysis of a large run may take
    an hour; it must not outlive the server). If the viewer is already gone, stop now."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    parent = os.environ.get(PARENT_ENV, "")
    if parent.isdigit() and os.getppid() != int(parent):
        raise SystemExit(1)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m dgm.serve.analyse RUN", file=sys.stderr)
        return 2
    die_with_parent()
    from dgm.science.analyze import analysis
    from dgm.serve.reader import ReadOnlyArchive

    try:
        os.nice(10)
    except OSError:
        pass
    data = analysis(ReadOnlyArchive(Path(argv[0])))
    sys.stdout.write(json.dumps(data, default=str, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
