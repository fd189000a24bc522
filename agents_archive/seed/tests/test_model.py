"""The model client: the relay's wire format, retries and refusals."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from coder.model import BudgetExhausted, Model, ModelError
from fake_relay import TOKEN, call


def model_for(relay, **kw) -> Model:
    return Model(socket_path=relay.socket_path, token=TOKEN, retry_wait=0.0, **kw)


def test_request_goes_over_the_socket_with_token_and_tools(relay_factory):
    relay = relay_factory([call("bash", command="ls")])
    model = model_for(relay, model="scripted")
    reply = model.complete([{"role": "user", "content": "hi"}], [{"type": "function", "function": {"name": "bash"}}])
    assert relay.headers[0] == {"path": "/v1/chat/completions", "authorization": "Bearer " + TOKEN}
    request = relay.requests[0]
    assert request["messages"] == [{"role": "user", "content": "hi"}]
    assert request["tools"][0]["function"]["name"] == "bash" and request["model"] == "scripted"
    assert reply["message"]["tool_calls"][0]["function"]["name"] == "bash"
    assert reply["usage"] == {"tokens_in": 100, "tokens_out": 10, "cost_usd": 0.0}
    assert model.usage["calls"] == 1


def test_402_is_a_budget_stop(relay_factory):
    relay = relay_factory([(402, b'{"error": {"message": "budget of $0.10 spent"}}')])
    with pytest.raises(BudgetExhausted, match="budget of"):
        model_for(relay).complete([], [])


def test_5xx_is_retried_then_given_up(relay_factory):
    relay = relay_factory([(502, b"{}"), (500, b"oops"), call("submit")])
    assert model_for(relay).complete([], [])["message"]["tool_calls"]
    relay = relay_factory([(502, b"{}")] * 3)
    with pytest.raises(ModelError, match="3 attempts"):
        model_for(relay).complete([], [])
    assert len(relay.requests) == 3


def test_garbage_and_client_errors_are_model_errors(relay_factory):
    relay = relay_factory([(200, b"not json at all"), (200, b'{"choices": []}'), (413, b'{"error": "too large"}')])
    model = model_for(relay)
    for _ in range(3):
        with pytest.raises(ModelError):
            model.complete([], [])
    assert len(relay.requests) == 3  # none of these is retried


def test_a_wrong_token_is_refused(relay_factory):
    relay = relay_factory([call("submit")])
    with pytest.raises(ModelError, match="401"):
        Model(socket_path=relay.socket_path, token="wrong").complete([], [])


def test_plain_http_url_for_local_experiments():
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            seen.append((self.path, self.headers.get("Authorization")))
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"choices": [{"message": call("submit")}], "usage": {}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {"DGM_MODEL_URL": "http://127.0.0.1:%d/v1" % server.server_port, "DGM_MODEL_API_KEY": "k"}
        reply = Model.from_env(env).complete([], [])
        assert reply["message"]["tool_calls"][0]["function"]["name"] == "submit"
        assert seen == [("/v1/chat/completions", "Bearer k")]
    finally:
        server.shutdown()
        server.server_close()


def test_no_endpoint_is_an_error():
    with pytest.raises(ModelError, match="DGM_RELAY_SOCKET"):
        Model.from_env({})
