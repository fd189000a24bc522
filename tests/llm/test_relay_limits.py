"""What one sandbox can make the relay spend, send, hold and record: budgets, ceilings, connections, depth."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from dgm.llm import Gateway, Relay, RelayClient, ScriptedModelServer
from dgm.llm.recording import read

HELLO = [{"role": "user", "content": "hello"}]


def honest(delay: float = 0.0):
    """A model that sleeps, then bills the prompt by characters / 4 and every output token it was allowed."""
    def respond(request: dict) -> dict:
        time.sleep(delay)
        return {"content": "ok", "usage": {"prompt_tokens": max(1, len(json.dumps(request["messages"])) // 4),
                                           "completion_tokens": int(request.get("max_tokens") or 1)}}
    return respond


def priced(settings_for, server, **kw):
    values = dict(price_in_per_mtok=30.0, price_out_per_mtok=60.0, max_tokens=100, max_retries=0, timeout=30)
    values.update(kw)
    return settings_for(server, **values)


def test_concurrent_calls_never_spend_past_the_caps(settings_for, short_dir):
    # Each call costs about $0.0068 and may cost up to about $0.038; 24 at once against a $0.05 run cap
    # and a $0.02 cap on one sandbox: a pre-call check alone would let every one of them through.
    with ScriptedModelServer(honest(delay=0.2)) as server:
        gateway = Gateway({"task": priced(settings_for, server)}, budget_usd=0.05)
        with Relay(gateway, short_dir / "relay") as relay:
            tokens = [relay.issue_token(f"sandbox:s{i % 3}", budget_usd=0.02 if i % 3 == 0 else None)
                      for i in range(24)]
            statuses: list[int] = []
            barrier = threading.Barrier(len(tokens))

            def call(token: str) -> None:
                barrier.wait()
                statuses.append(RelayClient(relay.socket_path, token).chat(HELLO).status)

            threads = [threading.Thread(target=call, args=(t,)) for t in tokens]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    ledger = gateway.ledger
    assert set(statuses) <= {200, 402} and 200 in statuses and 402 in statuses, statuses
    assert ledger.usage().usd <= 0.05 and ledger.usage("sandbox:s0").usd <= 0.02
    assert statuses.count(200) == len(server.requests) == ledger.usage().calls
    assert ledger.held() == 0.0


def test_the_operators_max_tokens_is_a_ceiling(settings_for, short_dir):
    with ScriptedModelServer(honest()) as server:
        gateway = Gateway({"task": priced(settings_for, server, max_tokens=50),
                           "open": priced(settings_for, server, model="openai/open", max_tokens=None)})
        with Relay(gateway, short_dir / "relay") as relay:
            client = RelayClient(relay.socket_path, relay.issue_token("sandbox:c"))
            for asked, sent in [({"max_tokens": 5000}, 50), ({"max_tokens": 20}, 20),
                                ({"max_completion_tokens": 9999}, 50), ({"max_completion_tokens": 7}, 7),
                                ({"max_tokens": 30, "max_completion_tokens": 40}, 30)]:
                reply = client.chat(HELLO, **asked)
                assert reply.status == 200, reply.body
                assert server.requests[-1]["max_tokens"] == sent, asked
                assert "max_completion_tokens" not in server.requests[-1]
            # what a sandbox may not choose: the model, where it goes, the key, extra completions or logprobs
            reply = client.chat(HELLO, model="openai/gpt-4o", api_base="http://127.0.0.1:9/v1", api_key="sk-mine",
                                base_url="http://127.0.0.1:9/v1", logprobs=True, top_logprobs=20, mock_response="x")
            assert reply.status == 200 and len(server.requests) == 6
            sent = server.requests[-1]
            assert sent["model"] == "scripted" and "logprobs" not in sent and "top_logprobs" not in sent
            for bad, why in [({"n": 3}, "n must be 1"), ({"max_tokens": -1}, "positive integer"),
                             ({"max_tokens": "lots"}, "positive integer"), ({"max_tokens": True}, "positive integer")]:
                reply = client.chat(HELLO, **bad)
                assert reply.status == 400 and why in reply.body["error"]["message"], (bad, reply.body)
            remote = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/a.png"}}]}]
            reply = client.chat(remote)
            assert reply.status == 400 and "data: image URLs" in reply.body["error"]["message"]
            assert client.chat([{"role": "user", "content": [{"type": "file", "file": {}}]}]).status == 400
            assert len(server.requests) == 6  # refused before the model
            # a priced role without a ceiling still gets one: a reservation needs a bound
            other = RelayClient(relay.socket_path, relay.issue_token("sandbox:d", role="open"))
            assert other.chat(HELLO, max_tokens=10**9).status == 200
            assert server.requests[-1]["max_tokens"] == gateway.output_ceiling(gateway.settings_for("open"))


GREEDY = textwrap.dedent(r'''
    import http.client, json, socket, sys, threading, time
    path, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    held = []
    for i in range(count):                       # half-open: connect, then send nothing or a trickle
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
        except OSError:
            continue
        if i % 3 == 1:
            s.send(b"POST /v1/chat/completions HTTP/1.1\r\n")
        if i % 3 == 2:
            s.send(b"POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer " + token.encode()
                   + b"\r\nContent-Length: 1000000\r\n\r\n{")
        held.append(s)
    def flood():                                 # and many real calls with the token at once
        for _ in range(5):
            try:
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.connect(path)
                body = json.dumps({"messages": [{"role": "user", "content": "greedy"}]}).encode()
                c.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer " + token.encode()
                          + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                c.recv(65536); c.close()
            except OSError:
                pass
    threads = [threading.Thread(target=flood) for _ in range(20)]
    for t in threads: t.start()
    print("ready", len(held), flush=True)
    end = time.time() + 15
    while time.time() < end:                     # keep trickling a byte now and then
        for s in held:
            try:
                s.send(b"x")
            except OSError:
                pass
        time.sleep(1)
    print("alive", sum(1 for s in held if s.fileno() >= 0), flush=True)
''')


def test_a_greedy_client_does_not_starve_another_token(settings_for, short_dir):
    def respond(request: dict) -> dict:
        if "greedy" in json.dumps(request["messages"]):
            time.sleep(2)  # the greedy token's calls hold their slots for a while
        return {"content": "ok", "usage": {"prompt_tokens": 1, "completion_tokens": 1}}

    with ScriptedModelServer(respond) as server:
        gateway = Gateway({"task": settings_for(server, max_retries=0, timeout=30)})
        with Relay(gateway, short_dir / "relay") as relay:
            greedy = subprocess.Popen([sys.executable, "-c", GREEDY, str(relay.socket_path),
                                       relay.issue_token("sandbox:greedy"), "400"], stdout=subprocess.PIPE, text=True)
            try:
                assert greedy.stdout.readline().startswith("ready")
                client = RelayClient(relay.socket_path, relay.issue_token("sandbox:polite"), timeout=30)
                statuses = [client.chat(HELLO).status for _ in range(5)]
                assert statuses == [200] * 5, statuses
            finally:
                greedy.kill()
                greedy.wait()
    assert gateway.ledger.usage("sandbox:polite").calls == 5
    assert gateway.ledger.usage("sandbox:greedy").calls <= 100  # served, within its own caps


def test_a_slow_client_is_cut_in_seconds(settings_for, short_dir):
    with ScriptedModelServer(honest()) as server:
        with Relay(Gateway({"task": settings_for(server)}), short_dir / "relay") as relay:
            token = relay.issue_token("sandbox:slow")
            for opening in (b"", b"POST /v1/chat/completions HTTP/1.1\r\n",
                            b"POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer " + token.encode()
                            + b"\r\nContent-Length: 100000\r\n\r\n{"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(40)
                sock.connect(str(relay.socket_path))
                sock.send(opening)
                closed = False
                for _ in range(35):  # a byte a second: each read arrives well within any per-read timeout
                    try:
                        sock.send(b"x")
                    except OSError:
                        closed = True
                        break
                    time.sleep(1)
                    sock.setblocking(False)
                    try:
                        if sock.recv(65536) == b"":
                            closed = True
                            break
                    except BlockingIOError:
                        pass
                    finally:
                        sock.setblocking(True)
                sock.close()
                assert closed, f"a client trickling {opening[:40]!r} was still connected after 35 s"


def test_deep_or_broken_bodies_get_an_http_answer_and_print_nothing(settings_for, short_dir, capfd):
    with ScriptedModelServer(honest()) as server:
        with Relay(Gateway({"task": settings_for(server)}), short_dir / "relay") as relay:
            client = RelayClient(relay.socket_path, relay.issue_token("sandbox:deep"))
            post = lambda body: client.request("POST", "/v1/chat/completions", body)  # noqa: E731
            for depth in (65, 900, 5000, 100_000):
                nested = b'{"messages": [{"role": "user", "content": "x", "n": ' + b"[" * depth + b"]" * depth + b"}]}"
                reply = post(nested)
                assert reply.status == 400 and "nests deeper than 64" in reply.body["error"]["message"], depth
            # a flat body of tiny values: a few hundred kilobytes that would parse into tens of megabytes
            tiny = b'{"messages": [{"role": "user", "content": "x"}], "stop": [' + b"0," * 150_000 + b"0]}"
            reply = post(tiny)
            assert reply.status == 400 and "more than 100000 values" in reply.body["error"]["message"]
            reply = post(b'{"messages": [{"role": "user", "content": "' + b'[{,\\"' * 100_000 + b'"}]}')
            assert reply.status == 200, reply.body  # brackets inside strings are text, not nesting
            assert post(b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}').status == 400
            # a lone surrogate parses, then cannot be encoded on the way out: still an answer
            reply = post(b'{"messages": [{"role": "user", "content": "\\ud800"}]}')
            assert reply.status in (400, 500, 502), reply.body
            assert client.chat(HELLO).status == 200
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and err == ""


def test_a_token_records_its_bodies_once_and_within_its_quota(settings_for, short_dir):
    marker = "MARKER-" + "z" * 20_000
    with ScriptedModelServer(honest()) as server:
        gateway = Gateway({"task": settings_for(server, tokens_only=True, price_in_per_mtok=None,
                                                price_out_per_mtok=None, model="openai/free")},
                          record_path=short_dir / "run" / "llm_calls.jsonl")
        with Relay(gateway, short_dir / "relay", record_quota_bytes=100_000) as relay:
            own = short_dir / "task" / "llm_calls.jsonl"
            client = RelayClient(relay.socket_path, relay.issue_token("sandbox:rec", record_path=own))
            statuses = [client.chat([{"role": "user", "content": f"{k} {marker}"}]).status for k in range(60)]
    run_text = gateway.record_path.read_text()
    assert marker not in run_text  # the run's line names the token's file instead
    rows = read(own)
    full = [r for r in rows if "messages" in r["request"]]
    assert 2 <= len(full) <= 5 and sum(r["request"]["messages"][0]["content"].count(marker) for r in full) == len(full)
    assert all("quota" in r["request"]["omitted"] for r in rows[len(full):])
    assert all(r["response"] for r in rows)  # responses are kept: a replay still has every answer
    assert statuses[:len(rows)] == [200] * len(rows) and set(statuses[len(rows):]) == {403}
    recorded = own.stat().st_size + gateway.record_path.stat().st_size
    recorded += (short_dir / "run" / "llm_calls.reservations.jsonl").stat().st_size
    assert recorded <= 125_000 + 25_000  # the hard limit, overshot by at most one call's lines


CRASHER = textwrap.dedent(r'''
    import sys, threading
    from pathlib import Path
    from dgm.llm import Gateway, ModelSettings
    url, run_dir = sys.argv[1], Path(sys.argv[2])
    settings = ModelSettings(model="openai/scripted", api_base=url, price_in_per_mtok=30.0, price_out_per_mtok=60.0,
                             max_tokens=100, max_retries=0, timeout=120)
    gateway = Gateway({"task": settings}, run_dir=run_dir, budget_usd=10.0)
    gateway.complete("task", [{"role": "user", "content": "quick"}], account="sandbox:k")
    for k in range(3):
        threading.Thread(target=gateway.complete, args=("task", [{"role": "user", "content": f"slow {k}"}]),
                         kwargs={"account": "sandbox:k"}).start()
    print("started", flush=True)
    threading.Event().wait()
''')


def test_calls_in_flight_when_the_loop_is_killed_count_at_their_reservation(tmp_path: Path):
    script = [{"match": "slow", "replies": [{"fault": "hang", "seconds": 60}]},
              {"match": None, "replies": [{"content": "ok", "usage": {"prompt_tokens": 10, "completion_tokens": 10}}]}]
    with ScriptedModelServer(script) as server:
        child = subprocess.Popen([sys.executable, "-c", CRASHER, server.url, str(tmp_path)], stdout=subprocess.PIPE,
                                 text=True)
        try:
            assert child.stdout.readline().startswith("started")
            for _ in range(200):
                if len(server.requests) == 4:
                    break
                time.sleep(0.05)
            assert len(server.requests) == 4  # the three slow calls reached the provider
            child.kill()  # SIGKILL: no finally block runs
            child.wait()
        finally:
            if child.poll() is None:
                child.kill()
        resumed = Gateway({"task": settings_for_resume(server)}, run_dir=tmp_path, budget_usd=10.0)
    usage = resumed.ledger.usage("sandbox:k")
    quick = 10 * 30e-6 + 10 * 60e-6
    worst = (len(json.dumps([{"role": "user", "content": "slow 0"}])) + len("[]") + 1024) * 30e-6 + 100 * 60e-6
    assert usage.calls == 4 and usage.errors == 3
    assert usage.usd == pytest.approx(quick + 3 * worst, rel=1e-6)
    assert resumed.ledger.usage().usd == pytest.approx(usage.usd)


def settings_for_resume(server):
    from dgm.llm import ModelSettings

    return ModelSettings(model="openai/scripted", api_base=server.url, price_in_per_mtok=30.0,
                         price_out_per_mtok=60.0, max_tokens=100)


def test_an_oversized_request_is_refused_without_ending_the_shared_budget(settings_for, short_dir):
    with ScriptedModelServer(honest()) as server:
        gateway = Gateway({"task": priced(settings_for, server)}, budget_usd=0.50)
        with Relay(gateway, short_dir / "relay") as relay:
            hog = RelayClient(relay.socket_path, relay.issue_token("sandbox:hog"))
            reply = hog.chat([{"role": "user", "content": "x" * 1_000_000}])  # up to $30 in: cannot fit
            assert reply.status == 402 and "may cost up to $30" in reply.body["error"]["message"]
            assert gateway.ledger.remaining() == 0.50 and server.requests == []
            other = RelayClient(relay.socket_path, relay.issue_token("sandbox:other"))
            assert other.chat(HELLO).status == 200  # the run's budget is not spent by one refusal
            assert hog.chat(HELLO).status == 200
    assert 0 < gateway.ledger.usage().usd <= 0.50
