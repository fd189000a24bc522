"""`dgm serve` over real HTTP: the token guards every path, the run is only read, bad input is one line."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.serve.conftest import REPO, trajectory, wait_for


def request(served, path: str, *, cookie: str | None = None, method: str = "GET") -> http.client.HTTPResponse:
    parts = urlsplit(served.base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request(method, path, headers={"Cookie": cookie} if cookie else {})
    resp = conn.getresponse()
    resp.read_body = resp.read()
    conn.close()
    return resp


def digest(run: Path) -> dict[str, str]:
    """Every file of the run and its content hash (the viewer must change none of them)."""
    out = {}
    for path in sorted(run.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(run))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_every_path_needs_the_token(run: Path, serve) -> None:
    served = serve(run)
    assert urlsplit(served.base).hostname == "127.0.0.1"  # localhost unless --host says otherwise
    for path in ("/", "/api/main", "/api/node?id=0", "/events", "/static/serve.js", "/files/artifacts/1/x",
                 "/nothing", f"/?token={served.token}x", "/?token="):
        resp = request(served, path)
        assert resp.status == 403, (path, resp.status)
        assert b"run" not in resp.read_body.split(b"\n", 1)[1]  # nothing of the run leaks in the refusal
    assert request(served, "/", cookie=f"dgm_serve_{urlsplit(served.base).port}=wrong").status == 403
    assert request(served, "/", method="POST").status == 403

    first = request(served, f"/?token={served.token}")
    assert first.status == 303 and first.getheader("Location") == "/"
    cookie = first.getheader("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = cookie.split(";", 1)[0]
    page = request(served, "/", cookie=jar)
    assert page.status == 200 and b'id="lineage"' in page.read_body
    assert "script-src 'self'" in page.getheader("Content-Security-Policy")
    main = json.loads(request(served, "/api/main", cookie=jar).read_body)
    assert main["nodes"] == 2 and main["best"] == "1"
    assert request(served, "/", cookie=jar, method="POST").status == 405  # it only reads


def test_the_server_only_reads_the_run(run: Path, serve) -> None:
    before = digest(run)
    mtimes = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    served = serve(run)
    jar = request(served, f"/?token={served.token}").getheader("Set-Cookie").split(";", 1)[0]
    for path in ("/", "/api/main", "/api/tree", "/api/verify", "/api/node?id=0", "/api/node?id=1", "/api/workers",
                 "/api/trajectory?node=1&task=toy__calc-1", "/files/artifacts/1/tasks/toy__calc-1/trajectory.json"):
        resp = request(served, path, cookie=jar)
        assert resp.status == 200, (path, resp.status, resp.read_body[:300])
    # The instruments' analysis (a child process over the same run) has finished and read it all too.
    wait_for(lambda: "resolve rate" in request(served, "/api/verify", cookie=jar).read_body.decode(),
             timeout=60, what="the analysis of the instruments")
    after = digest(run)
    # A WAL reader needs SQLite's shared-memory index; with no writer open, SQLite makes it (and an empty
    # log). Those two are SQLite's, hold no data, and are the next writer's own. Nothing else is new.
    assert set(after) - set(before) <= {"archive.sqlite-shm", "archive.sqlite-wal"}
    assert not (run / "archive.sqlite-wal").exists() or (run / "archive.sqlite-wal").stat().st_size == 0
    assert {k: after[k] for k in before} == before
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def test_files_outside_the_artifacts_or_through_links_are_refused(run: Path, serve, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the operator's secret")
    task = run / "artifacts" / "1" / "tasks" / "toy__calc-1"
    (task / "eval.log").symlink_to(secret)
    (run / "artifacts" / "1" / "up").symlink_to(tmp_path)
    served = serve(run)
    jar = request(served, f"/?token={served.token}").getheader("Set-Cookie").split(";", 1)[0]
    for path in ("/files/artifacts/1/tasks/toy__calc-1/eval.log", "/files/artifacts/1/up/secret.txt",
                 "/files/archive.sqlite", "/files/artifacts/../archive.sqlite", "/files/artifacts/1/%2e%2e/../x",
                 "/api/trajectory?node=1&task=../../../secret", "/api/node?id=../1"):
        resp = request(served, path, cookie=jar)
        assert resp.status == 404 and b"operator" not in resp.read_body, path
    served_file = request(served, "/files/artifacts/1/tasks/toy__calc-1/trajectory.json", cookie=jar)
    assert served_file.getheader("Content-Type").startswith("text/plain")
    assert json.loads(served_file.read_body) == trajectory("toy__calc-1", 3)


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, run: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for args in ([str(tmp_path / "missing")], [str(run), "--port", "70000"]):
        out = subprocess.run([sys.executable, "-m", "dgm", "serve", *args], capture_output=True, text=True,
                             cwd=REPO, env=env, timeout=60)
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("dgm: error: "), out.stderr
    helped = subprocess.run([sys.executable, "-m", "dgm", "serve", "--help"], capture_output=True, text=True,
                            cwd=REPO, env=env, timeout=60)
    assert "--host" in helped.stdout and "token" in helped.stdout and "403" in helped.stdout


def test_progress_writes_the_worker_table_for_the_viewer(tmp_path: Path) -> None:
    import io

    from dgm.evolve.progress import Progress
    from dgm.serve.fragments import workers_html

    with Progress(tmp_path, stream=io.StringIO()) as p:
        p.update(phase="iteration 1", iteration=1, iterations=2, spent_usd=0.25, budget_usd=2.0,
                 workers=[("worker_0", "node 3 stage 1 task <b>calc-1</b>\x1b[2J", 12.0)])
        live = json.loads((tmp_path / "progress.json").read_text())
    assert live["finished"] is False and live["workers"][0]["doing"].startswith("node 3 stage 1")
    html = workers_html(live)
    assert "&lt;b&gt;calc-1&lt;/b&gt;\\x1b[2J" in html and "<b>calc-1" not in html
    done = json.loads((tmp_path / "progress.json").read_text())
    assert done["finished"] is True and done["workers"] == []
    assert not list(tmp_path.glob(".progress.json.tmp"))  # written by rename, no residue


def test_the_instruments_analysis_does_not_outlive_the_viewer(run: Path, tmp_path: Path) -> None:
    """The analysis child (minutes on a large run) ends with the process that started it."""
    out = tmp_path / "analysis.json"
    starter = ("import os, subprocess, sys\n"
               f"with open({str(out)!r}, 'wb') as f:\n"
               f"    subprocess.Popen([sys.executable, '-m', 'dgm.serve.analyse', {str(run)!r}], stdout=f,\n"
               "                     env={**os.environ, 'DGM_SERVE_PARENT': str(os.getpid())})\n"
               "os._exit(0)\n")  # the viewer gone at once, its child still starting
    subprocess.run([sys.executable, "-c", starter], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                   check=True, timeout=60)
    time.sleep(8)  # long enough for the analysis of this run to finish, had it gone on
    assert out.read_bytes() == b""

    # With its parent alive it runs to the end and prints the instruments.
    done = subprocess.run([sys.executable, "-m", "dgm.serve.analyse", str(run)], cwd=REPO, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120, check=True)
    assert json.loads(done.stdout)["nodes"] == 2
