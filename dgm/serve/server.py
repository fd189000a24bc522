"""The live viewer's HTTP server: stdlib, read-only, and closed to anyone without the run's token.

The token comes in the URL printed at start; the first page load trades it for an HttpOnly,
SameSite=Strict cookie. Every request without one or the other is answered 403, whatever the path.
The page learns of changes through server-sent events (/events), polled from the archive's index."""

from __future__ import annotations

import json
import secrets
import threading
import time
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from dgm.artifacts.bounded import ArtifactInvalid
from dgm.artifacts.trajectory import read_trajectory
from dgm.errors import DgmError, UnknownNode
from dgm.serve import fragments
from dgm.serve.reader import RunReader, Snapshot, check_node_id

POLL_SECONDS = 0.25        # how often /events looks for a change (the admission → page latency floor)
VERIFY_ASK_SECONDS = 2.0  # how often an open page's stream asks for a newer analysis of the instruments
HEARTBEAT_SECONDS = 10.0   # a comment line keeps proxies and the browser from timing the stream out
FILE_CAP = 2_000_000       # bytes of an artifact file served as text
STATIC = {
    "serve.js": ("dgm.serve", "application/javascript; charset=utf-8"),
    "serve.css": ("dgm.serve", "text/css; charset=utf-8"),
    "report.css": ("dgm.report", "text/css; charset=utf-8"),
}
# Nothing but this server: no inline script, no frames, no form posts, no other origin.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class ViewerServer(ThreadingHTTPServer):
    """One run, one token; request threads are daemons so a hung browser never holds shutdown."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, reader: RunReader, host: str, port: int, token: str | None = None) -> None:
        self.reader = reader
        self.token = token or secrets.token_urlsafe(24)
        self.stopping = threading.Event()
        super().__init__((host, port), Handler)
        self.cookie_name = f"dgm_serve_{self.server_address[1]}"  # cookies ignore ports: one name per server

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/?token={self.token}"

    def warm(self) -> None:
        """Build the current view, the tree and the page's pieces (what every first request needs), and
        start the verification instruments."""
        try:
            self.reader.tree_json()
            snap = self.reader.snapshot()
            if snap.parts is None:
                snap.parts = fragments.main_parts(snap.view)
            self.reader.verification()
        except Exception:  # noqa: BLE001 - a failure here shows again, with its message, on the first request
            return

    def shutdown(self) -> None:
        self.stopping.set()
        super().shutdown()


class Handler(BaseHTTPRequestHandler):
    server: ViewerServer
    protocol_version = "HTTP/1.1"
    server_version = "dgm-serve"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        return  # quiet: the terminal shows the URL and errors only

    # ---- access ------------------------------------------------------------------------
    def _authorised(self, query: dict[str, list[str]]) -> tuple[bool, bool]:
        """(allowed, came with the token in the URL)."""
        token = self.server.token
        given = query.get("token", [""])[0]
        if given and secrets.compare_digest(given.encode(), token.encode()):
            return True, True
        cookie = SimpleCookie()
        try:
            cookie.load(self.headers.get("Cookie", ""))
        except Exception:  # a malformed Cookie header is just no cookie
            return False, False
        morsel = cookie.get(self.server.cookie_name)
        return bool(morsel and secrets.compare_digest(morsel.value.encode(), token.encode())), False

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        allowed, by_url = self._authorised(query)
        if not allowed:
            self._send(HTTPStatus.FORBIDDEN, b"403: this viewer needs the token printed by `dgm serve`\n",
                       "text/plain; charset=utf-8")
            return
        if by_url and url.path == "/":
            # Trade the token for a cookie and drop it from the address bar (and from history).
            self.send_response(HTTPStatus.SEE_OTHER)
            self.send_header("Location", "/")
            self.send_header("Set-Cookie", f"{self.server.cookie_name}={self.server.token}; HttpOnly; "
                                           "SameSite=Strict; Path=/")
            self._common_headers()
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        route: Callable[[dict[str, list[str]]], None] | None = {
            "/": self._page, "/api/main": self._main, "/api/tree": self._tree, "/api/verify": self._verify,
            "/api/node": self._node, "/api/workers": self._workers,
            "/api/trajectory": self._trajectory, "/events": self._events,
        }.get(url.path)
        try:
            if route is not None:
                route(query)
            elif url.path.startswith("/static/"):
                self._static(url.path[len("/static/"):])
            elif url.path.startswith("/files/"):
                self._file(url.path[len("/files/"):])
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            return
        except (DgmError, ArtifactInvalid, FileNotFoundError) as exc:
            self._send(HTTPStatus.NOT_FOUND, f"{type(exc).__name__}: {exc}\n".encode("utf-8", "replace"),
                       "text/plain; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802
        self._refuse_method()

    do_PUT = do_DELETE = do_PATCH = do_POST  # noqa: N815

    def _refuse_method(self) -> None:
        allowed, _ = self._authorised(parse_qs(urlsplit(self.path).query))
        if not allowed:
            self._send(HTTPStatus.FORBIDDEN, b"403\n", "text/plain; charset=utf-8")
        else:
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"this viewer only reads\n", "text/plain; charset=utf-8")

    # ---- responses ---------------------------------------------------------------------
    def _common_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self._common_headers()
        self.end_headers()
        self.wfile.write(body)

    def _html(self, text: str) -> None:
        self._send(HTTPStatus.OK, text.encode("utf-8", "replace"), "text/html; charset=utf-8")

    def _json(self, value: Any) -> None:
        self._send(HTTPStatus.OK, json.dumps(value).encode(), "application/json")

    # ---- routes ------------------------------------------------------------------------
    def _page(self, query: dict) -> None:
        token, tree_json = self.server.reader.tree_json()
        snap = self._parts()
        if snap.token != token:  # the archive moved between the two reads: both from the newer one
            token, tree_json = self.server.reader.tree_json()
        self._html(fragments.page(snap.view, snap.parts or {}, self.server.reader.progress(), token, tree_json))

    def _tree(self, query: dict) -> None:
        self._send(HTTPStatus.OK, self.server.reader.tree_json()[1], "application/json")

    def _verify(self, query: dict) -> None:
        self._html(fragments.verify_html(*self.server.reader.verification()))

    def _parts(self) -> Snapshot:
        snap = self.server.reader.snapshot()
        if snap.parts is None:  # two pages asking at once may both render; the result is the same
            snap.parts = fragments.main_parts(snap.view)
        return snap

    def _main(self, query: dict) -> None:
        snap = self._parts()
        self._json({"token": snap.token, "best": snap.view.best_id, "nodes": len(snap.view.nodes), **(snap.parts or {})})

    def _node(self, query: dict) -> None:
        view, nv = self.server.reader.node_view(query.get("id", [""])[0])
        self._html(fragments.node_html(view, nv))

    def _trajectory(self, query: dict) -> None:
        reader = self.server.reader
        node_id = check_node_id(query.get("node", [""])[0])
        task = query.get("task", [""])[0]
        nv = reader.snapshot().view.by_id().get(node_id)
        if nv is None:
            raise UnknownNode(f"unknown node {node_id!r}")
        if task:
            if task not in nv.node.results:  # only ids the archive knows: never a path from the request
                raise FileNotFoundError(f"task {task}")
            rel, title = f"artifacts/{node_id}/tasks/{task}/trajectory.json", f"node {node_id} on {task}"
        else:
            rel, title = f"artifacts/{node_id}/selfmod/trajectory.json", f"node {node_id}: the self-modification"
        reader.artifact(rel, 0)  # the containment and file-kind checks; the parse below has its own cap
        self._html(fragments.trajectory_html(title, read_trajectory(reader.run_dir / rel)))

    def _workers(self, query: dict) -> None:
        self._html(fragments.workers_html(self.server.reader.progress()))

    def _static(self, name: str) -> None:
        if name not in STATIC:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
            return
        package, ctype = STATIC[name]
        body = resources.files(package).joinpath("static", name).read_bytes()
        self._send(HTTPStatus.OK, body, ctype)

    def _file(self, rel: str) -> None:
        rel = unquote(rel)
        parts = Path(rel).parts
        if len(parts) < 3 or parts[0] != "artifacts" or ".." in parts or not parts[1].isdigit():
            raise FileNotFoundError(rel)
        data = self.server.reader.artifact(rel, FILE_CAP)
        # Plain text with nosniff and a CSP that runs nothing: a planted .html file stays text.
        self._send(HTTPStatus.OK, data, "text/plain; charset=utf-8")

    def _events(self, query: dict) -> None:
        """Server-sent events. `tree`: one change of the tree (new and changed nodes, moved positions),
        from the page's archive token to the next, its id the new token; `archive`: the page is too far
        behind for changes and reloads the tree; `progress`: the loop reported; `verify`: a newer
        analysis of the instruments is ready. The page's token comes as ?since= and, when the browser
        reconnects by itself, as Last-Event-ID."""
        reader = self.server.reader
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self._common_headers()
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        have = self.headers.get("Last-Event-ID") or query.get("since", [""])[0]
        seen = {"progress": "", "verify": ""}
        beat = asked = time.monotonic()
        while not self.server.stopping.is_set():
            if time.monotonic() - asked > VERIFY_ASK_SECONDS:  # a page is open: keep the instruments current
                reader.verification()
                asked = time.monotonic()
            if reader.token() != have:
                chain = reader.deltas_since(have)
                if chain is None:
                    have = reader.snapshot().token
                    self.wfile.write(f"id: {have}\nevent: archive\ndata: {json.dumps(have)}\n\n".encode())
                for have, data in chain or ():
                    self.wfile.write(f"id: {have}\nevent: tree\ndata: ".encode() + data + b"\n\n")
                beat = time.monotonic()
            for name, token in (("progress", reader.progress_token()), ("verify", reader.verify_token())):
                if token != seen[name]:
                    seen[name] = token
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(token)}\n\n".encode())
                    beat = time.monotonic()
            if time.monotonic() - beat > HEARTBEAT_SECONDS:
                self.wfile.write(b": beat\n\n")
                beat = time.monotonic()
            self.wfile.flush()
            self.server.stopping.wait(POLL_SECONDS)
