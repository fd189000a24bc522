"""An OpenAI-compatible HTTP server on 127.0.0.1 that answers from a script: tests and the offline demo."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Mapping

from dgm.llm.script import Reply, Script, ScriptLike, from_recording, message_texts

HANG_SECONDS = 60.0


class ScriptedModelServer:
    """Serves POST /v1/chat/completions and GET /v1/models; records every request it receives."""

    def __init__(self, script: ScriptLike, *, host: str = "127.0.0.1", port: int = 0,
                 model_name: str = "scripted") -> None:
        self._responder: Callable[[dict], Reply | None]
        if callable(script) and not isinstance(script, Script):
            self._responder = script
        else:
            self._responder = Script.from_data(script).reply_for
        self.model_name = model_name
        self.requests: list[dict] = []       # parsed request bodies, in arrival order
        self.headers: list[dict[str, str]] = []   # request headers, lower-case names
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._count = 0
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @classmethod
    def from_file(cls, path: Path, **kw: Any) -> "ScriptedModelServer":
        """A server answering from a JSON script file."""
        return cls(Script.load(path), **kw)

    @classmethod
    def from_recording(cls, path: Path, *, account: str | None = None, **kw: Any) -> "ScriptedModelServer":
        """A server replaying the responses recorded in an llm_calls.jsonl, in order."""
        return cls(from_recording(path, account=account), **kw)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "ScriptedModelServer":
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"scripted-model-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes handlers that are "hanging"
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "ScriptedModelServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_id(self) -> int:
        with self._lock:
            self._count += 1
            return self._count


def completion_body(request: Mapping[str, Any], reply: Reply, *, serial: int, model: str) -> dict:
    """A chat.completion dict for a content/tool_calls reply, with deterministic ids and usage."""
    if "raw" in reply:
        return dict(reply["raw"])
    content = reply.get("content")
    calls = []
    for k, call in enumerate(reply.get("tool_calls") or []):
        arguments = call.get("arguments", {})
        arguments = arguments if isinstance(arguments, str) else json.dumps(arguments)
        digest = hashlib.sha1(f"{serial}:{k}:{call['name']}:{arguments}".encode()).hexdigest()[:16]
        calls.append({"id": call.get("id") or f"call_{digest}", "type": "function",
                      "function": {"name": call["name"], "arguments": arguments}})
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    usage = dict(reply.get("usage") or {})
    if "prompt_tokens" not in usage:
        prompt_chars = sum(len(t) for t in message_texts(request)) + len(json.dumps(request.get("tools") or []))
        usage["prompt_tokens"] = max(1, math.ceil(prompt_chars / 4))
    if "completion_tokens" not in usage:
        out_chars = len(content or "") + sum(len(c["function"]["name"]) + len(c["function"]["arguments"])
                                             for c in calls)
        usage["completion_tokens"] = max(1, math.ceil(out_chars / 4))
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return {
        "id": f"chatcmpl-scripted-{serial}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": "tool_calls" if calls else reply.get("finish_reason", "stop")}],
        "usage": usage,
    }


def _handler_for(server: ScriptedModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in separate writes: with Nagle's algorithm and the client's
        # delayed ACK, every keep-alive response would stall ~40 ms
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
            pass

        def _send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
            kind = {429: "rate_limit_error", 400: "invalid_request_error", 401: "authentication_error"}
            self._send_json(status, {"error": {"message": message, "type": kind.get(status, "server_error"),
                                               "code": str(status)}}, headers)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.rstrip("/").endswith("/models"):
                self._send_json(200, {"object": "list", "data": [
                    {"id": server.model_name, "object": "model", "created": 0, "owned_by": "dgm"}]})
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._error(404, f"no route {self.path}")
                return
            try:
                request = json.loads(raw)
            except json.JSONDecodeError:
                self._error(400, "request body is not JSON")
                return
            with server._lock:
                server.requests.append(request)
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
            serial = server._next_id()
            try:
                reply = server._responder(request)
            except Exception as exc:  # a broken test callable: tell the client, loudly
                self._error(500, f"script raised {exc!r}")
                return
            if reply is None:
                self._error(400, "no scripted reply matches this conversation")
                return
            fault = reply.get("fault")
            if fault is not None:
                self._fault(str(fault), reply)
                return
            self._send_json(200, completion_body(request, reply, serial=serial, model=server.model_name))

        def _fault(self, fault: str, reply: Reply) -> None:
            if fault == "hang":
                server._stop.wait(float(reply.get("seconds", HANG_SECONDS)))
                self.close_connection = True
            elif fault == "drop":
                self.close_connection = True  # no status line at all
            elif fault == "malformed":
                data = b'{"id": "chatcmpl-broken", "choices": [{"message": '
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            elif fault.isdigit():
                status = int(fault)
                headers = {}
                if reply.get("retry_after") is not None:
                    headers["Retry-After"] = str(reply["retry_after"])
                self._error(status, reply.get("message") or f"scripted fault {status}", headers)
            else:
                self._error(500, f"unknown scripted fault {fault!r}")

    return Handler


def main(argv: list[str] | None = None) -> int:
    """`python -m dgm.llm.scripted SCRIPT.json`: serve a script until interrupted (try an agent offline)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dgm.llm.scripted", description=main.__doc__)
    parser.add_argument("script", type=Path, help="JSON model script (rules or sequence), see docs/llm.md")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    args = parser.parse_args(argv)
    with ScriptedModelServer.from_file(args.script, port=args.port) as server:
        print(f"serving {args.script} at {server.url} (model openai/<any>, api key x); Ctrl-C stops", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
