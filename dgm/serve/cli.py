"""`dgm serve RUN`: watch a run live in the browser (read-only, localhost, behind a token)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
import threading
from pathlib import Path

DEFAULT_PORT = 8765


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="watch a run live in the browser",
        description=("Serve a live view of a run: the lineage tree as it grows (zoom, pan, colour by score, "
                     "admitted and rejected, the path to the best), each node's record, diagnosis, diff "
                     "against its parent, task results and trajectories stepped through, the progress and "
                     "cost plots and the worker table. The server only reads the run; it works while "
                     "`dgm evolve` writes it and on a finished run. It binds to 127.0.0.1 and prints a URL "
                     "with a random token; every request without the token is refused (403)."),
    )
    p.add_argument("run", type=Path, metavar="RUN", help="run directory (the archive)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, metavar="N",
                   help=f"port to listen on (default {DEFAULT_PORT}; 0: any free port)")
    p.add_argument("--host", default="127.0.0.1", metavar="ADDR",
                   help="address to bind (default 127.0.0.1; another interface still needs the token)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from dgm.errors import BadInput
    from dgm.serve.reader import RunReader
    from dgm.serve.server import ViewerServer

    if not 0 <= args.port <= 65535:
        raise BadInput(f"--port {args.port} is not a port number", hint="give 1-65535, or 0 for any free port")
    reader = RunReader(args.run)
    try:
        server = ViewerServer(reader, args.host, args.port)
    except OSError as exc:
        raise BadInput(f"cannot listen on {args.host}:{args.port} ({exc.strerror})",
                       hint="give another --port N (0: any free port) or a local --host") from None
    if not _loopback(args.host):
        print(f"dgm serve: listening on {args.host}, not only this machine: anyone with the URL below "
              "can read the run", file=sys.stderr)
    # Read and draw the run once now, so the first page does not wait for it (seconds at 10,000 nodes).
    threading.Thread(target=server.warm, name="warm", daemon=True).start()
    print(f"dgm serve: {args.run} at {server.url}", flush=True)
    print("(Ctrl-C stops the server; the run is only read, never written)", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stopping.set()
        server.server_close()
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
