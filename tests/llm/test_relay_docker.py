"""Real containers talk to the real relay over the mounted socket, and find no provider key."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest

from dgm.llm import Gateway, Relay, ScriptedModelServer
from dgm.sandbox.driver import Sandbox
from dgm.sandbox.engine import docker_client

pytestmark = pytest.mark.docker

SECRET = "sk-test-secret-4f9a1c0e7b2d48e6a5c3"

# Standard library only: what any agent variant can do inside the sandbox.
CLIENT = r'''
import http.client, json, os, socket, sys

class UnixConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.environ["DGM_RELAY_SOCKET"])

conn = UnixConnection("localhost", timeout=60)
method, path = sys.argv[1], sys.argv[2]
body = None
if method == "POST":
    body = json.dumps({"model": "anything", "messages": [{"role": "user", "content": sys.argv[3]}]})
headers = {"Content-Type": "application/json"}
if os.environ.get("DGM_RELAY_TOKEN"):
    headers["Authorization"] = "Bearer " + os.environ["DGM_RELAY_TOKEN"]
conn.request(method, path, body=body, headers=headers)
response = conn.getresponse()
print(json.dumps({"status": response.status, "body": json.loads(response.read())}))
'''

# Every place a process in the sandbox could look for the key; the key arrives base64-encoded so
# that the hunt's own command line does not contain it. Prints where it was found.
HUNT = r'''
import base64, os, sys
needle = base64.b64decode(sys.argv[1])
found, unreadable, files = [], 0, 0
if needle in "\\0".join(f"{k}={v}" for k, v in os.environ.items()).encode():
    found.append("os.environ")
for pid in filter(str.isdigit, os.listdir("/proc")):
    for name in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as fh:
                if needle in fh.read():
                    found.append(f"/proc/{pid}/{name}")
        except OSError:
            unreadable += 1
for top, dirs, names in os.walk("/"):
    if top == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    for name in names:
        path = os.path.join(top, name)
        try:
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as fh:
                files += 1
                if needle in fh.read(50_000_000):
                    found.append(path)
        except OSError:
            unreadable += 1
print("searched", files, "files; unreadable", unreadable, "; relay dir:", sorted(os.listdir("/run/dgm")))
print("FOUND" if found else "NOT FOUND", found)
sys.exit(1 if found else 0)
'''


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def relay_call(box: Sandbox, token: str | None, method: str = "POST", path: str = "/v1/chat/completions",
               text: str = "hello from the sandbox") -> dict:
    env = {"DGM_RELAY_TOKEN": token} if token else {}
    result = box.exec(["python3", "/tmp/client.py", method, path, text], env=env, timeout=60)
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


@pytest.fixture
def server():
    with ScriptedModelServer([{"match": "hello from the sandbox", "replies": [{"content": "hello, sandbox"}]},
                              {"match": None, "replies": [{"fault": "401", "message": "Incorrect API key"}]}]) as s:
        yield s


def test_container_calls_the_relay_and_foreign_tokens_are_refused(base_image, run_id, server, settings_for,
                                                                  short_dir, secret_env):
    gateway = Gateway({"task": settings_for(server, api_key_env="OPENAI_API_KEY")})
    with Relay(gateway, short_dir / "relay") as relay:
        token_a = relay.issue_token("sandbox:a")
        token_b = relay.issue_token("sandbox:b")
        with Sandbox.start(base_image, run_id=run_id, relay_dir=relay.socket_dir) as box_a, \
                Sandbox.start(base_image, run_id=run_id, relay_dir=relay.socket_dir) as box_b:
            for box in (box_a, box_b):
                box.put_file("/tmp/client.py", CLIENT.encode())
            reply = relay_call(box_a, token_a)
            assert reply["status"] == 200, reply
            assert reply["body"]["choices"][0]["message"]["content"] == "hello, sandbox"
            assert relay_call(box_a, token_a, "GET", "/v1/usage")["body"]["calls"] == 1
            assert relay_call(box_b, token_b)["status"] == 200

            relay.revoke(token_a)  # sandbox a is done; b has learnt its token somehow
            reply = relay_call(box_b, token_a)
            assert reply["status"] == 401 and reply["body"]["error"]["message"] == "relay token revoked"
            reply = relay_call(box_b, "forged-" + token_b[7:])
            assert reply["status"] == 401 and reply["body"]["error"]["message"] == "relay token unknown"
            assert relay_call(box_b, None)["status"] == 401
    assert [h["authorization"] for h in server.headers] == [f"Bearer {SECRET}"] * 2  # the host used the key
    assert gateway.ledger.usage("sandbox:a").calls == 1 and gateway.ledger.usage("sandbox:b").calls == 1


def test_container_cannot_find_the_provider_key(base_image, run_id, server, settings_for, short_dir, secret_env):
    gateway = Gateway({"task": settings_for(server, api_key_env="OPENAI_API_KEY")})
    with Relay(gateway, short_dir / "relay") as relay:
        token = relay.issue_token("sandbox:hunt")
        with Sandbox.start(base_image, run_id=run_id, relay_dir=relay.socket_dir,
                           env={"DGM_MODEL": "openai/scripted"}) as box:
            box.put_file("/tmp/client.py", CLIENT.encode())
            box.put_file("/tmp/hunt.py", HUNT.encode())
            assert relay_call(box, token)["status"] == 200
            # a provider error travels back to the container: its message must not carry the key
            failed = relay_call(box, token, text="make the provider refuse")
            assert failed["status"] == 502 and SECRET not in json.dumps(failed)
            usage = relay_call(box, token, "GET", "/v1/usage")
            assert usage["status"] == 200 and SECRET not in json.dumps(usage)
            hunt = box.exec(["python3", "/tmp/hunt.py", b64(SECRET)], env={"DGM_RELAY_TOKEN": token}, timeout=300)
            assert hunt.exit_code == 0 and "NOT FOUND" in hunt.output, hunt.output
            assert "relay.sock" in hunt.output  # the hunt did look at the mounted relay directory
            assert int(hunt.output.split("searched ", 1)[1].split()[0]) > 1000, hunt.output  # the whole filesystem
            # the hunt finds what is there: the token, in its own environment and its own process
            control = box.exec(["python3", "/tmp/hunt.py", b64(token)], env={"DGM_RELAY_TOKEN": token}, timeout=300)
            assert control.exit_code == 1 and "os.environ" in control.output and "/environ" in control.output
            # PID 1 and the container's configuration are root's: look from the host
            config = docker_client().api.inspect_container(box.id)["Config"]
            assert SECRET not in json.dumps(config)


# Holds as many connections to the relay as it can, half-open or trickling, and keeps them busy.
GREEDY = r'''
import os, socket, sys, time
held = []
for i in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(os.environ["DGM_RELAY_SOCKET"])
        if i % 2:
            s.send(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 100\r\n")
    except OSError:
        continue
    held.append(s)
print("ready", len(held), flush=True)
for _ in range(15):
    for s in held:
        try:
            s.send(b"x")
        except OSError:
            pass
    time.sleep(1)
'''


def test_a_greedy_sandbox_does_not_starve_another(base_image, run_id, server, settings_for, short_dir):
    gateway = Gateway({"task": settings_for(server)})
    with Relay(gateway, short_dir / "relay") as relay:
        with Sandbox.start(base_image, run_id=run_id, relay_dir=relay.socket_dir) as greedy, \
                Sandbox.start(base_image, run_id=run_id, relay_dir=relay.socket_dir) as polite:
            greedy.put_file("/tmp/greedy.py", GREEDY.encode())
            polite.put_file("/tmp/client.py", CLIENT.encode())
            # execs end with every process they started, so the greedy one runs in the foreground, in a thread
            hog = threading.Thread(target=greedy.exec, args=(["python3", "/tmp/greedy.py", "400"],),
                                   kwargs={"timeout": 120}, daemon=True)
            hog.start()
            for _ in range(100):  # until the greedy sandbox holds every connection it may
                if max(getattr(relay._server, "_per_peer", {}).values(), default=0) >= getattr(relay, "peer_connections", 64):
                    break
                time.sleep(0.1)
            token = relay.issue_token("sandbox:polite")
            replies = [relay_call(polite, token) for _ in range(3)]
            assert [r["status"] for r in replies] == [200] * 3, replies
    assert gateway.ledger.usage("sandbox:polite").calls == 3
