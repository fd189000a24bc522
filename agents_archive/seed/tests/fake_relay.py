"""A scripted fake of the relay (HTTP on a unix socket), and a way to run agent.py against it."""

from __future__ import annotations

import json
import os
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TOKEN = "test-token"


def call(name: str, call_id: Optional[str] = None, **arguments: Any) -> Dict[str, Any]:
    """An assistant message making one tool call."""
    return calls((name, arguments), call_id=call_id)


def calls(*pairs, call_id: Optional[str] = None) -> Dict[str, Any]:
    """An assistant message making several tool calls: calls(("bash", {...}), ("submit", {}))."""
    tool_calls = []
    for n, (name, arguments) in enumerate(pairs):
        tool_calls.append({"id": call_id or "call_%d_%s" % (n, name), "type": "function",
                           "function": {"name": name, "arguments": json.dumps(arguments)}})
    return {"role": "assistant", "content": None, "tool_calls": tool_calls}


def say(text: str) -> Dict[str, Any]:
    """An assistant message with text and no tool call."""
    return {"role": "assistant", "content": text}


class FakeRelay:
    """Answers chat completions from a script, like the engine's relay; records every request.

    Script entries: an assistant message dict, an (http_status, body_bytes) tuple, or a
    callable(request) returning either. When the script runs out, the agent is told to submit.
    """

    def __init__(self, script: List[Any], *, cost_per_call: float = 0.0) -> None:
        self.script = list(script)
        self.cost_per_call = cost_per_call
        self.requests: List[Dict[str, Any]] = []
        self.headers: List[Dict[str, str]] = []
        self.dir = tempfile.mkdtemp(prefix="fake-relay-")
        self.socket_path = os.path.join(self.dir, "relay.sock")
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # unix-socket peers have no address to log
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                relay.headers.append({"path": self.path, "authorization": self.headers.get("Authorization", "")})
                status, data = relay.answer(self.path, self.headers.get("Authorization", ""), body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(self.socket_path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def answer(self, path: str, auth: str, body: bytes):
        if auth != "Bearer " + TOKEN:
            return 401, b'{"error": {"message": "bad token"}}'
        if path != "/v1/chat/completions":
            return 404, b'{"error": {"message": "no such path"}}'
        request = json.loads(body)
        self.requests.append(request)
        entry = self.script.pop(0) if self.script else call("submit", summary="script ended")
        if callable(entry):
            entry = entry(request)
        if isinstance(entry, tuple):
            return entry
        reply = {"id": "chatcmpl-%d" % len(self.requests), "object": "chat.completion",
                 "choices": [{"index": 0, "message": entry, "finish_reason": "tool_calls"}],
                 "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110,
                           "cost_usd": self.cost_per_call}}
        return 200, json.dumps(reply).encode()

    def env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env.pop("DGM_MODEL_URL", None)
        env.update(DGM_RELAY_SOCKET=self.socket_path, DGM_RELAY_TOKEN=TOKEN, DGM_MODEL="scripted")
        return env

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_agent(relay: FakeRelay, repo: str, workdir: str, *, problem: str = "add() subtracts instead of adding",
              limits: Optional[Dict[str, Any]] = None, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Run agent.py as the engine would (a subprocess) against the fake relay; outputs in workdir/out."""
    task = {"abi": "dgm-agent-1", "instance_id": "demo__calc-1", "problem_statement": problem,
            "limits": dict({"max_steps": 20, "max_seconds": 60, "max_usd": 1.0}, **(limits or {}))}
    out = os.path.join(workdir, "out")
    task_path = os.path.join(workdir, "task.json")
    os.makedirs(workdir, exist_ok=True)
    with open(task_path, "w") as fh:
        json.dump(task, fh)
    return subprocess.run([sys.executable, os.path.join(ROOT, "agent.py"), "--task", task_path,
                           "--repo", repo, "--out", out], env=relay.env(), capture_output=True,
                          text=True, timeout=timeout)


def load(path: str) -> Any:
    with open(path) as fh:
        return json.load(fh)

