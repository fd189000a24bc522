"""Per-call latency of the model path against a loopback scripted server (its own process), side by side.

raw HTTP (http.client) < litellm.completion < Gateway.complete (retries, accounting, recording)
< relay + gateway (a client on the unix socket). Also litellm's import time and `dgm --help`.
Printed, never asserted.  Usage: python scripts/bench_llm.py [--calls 200]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlparse

OFFLINE = {"LITELLM_OFFLINE_MODE": "true", "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
for key, value in OFFLINE.items():
    os.environ.setdefault(key, value)

from dgm.llm import Gateway, ModelSettings, Relay, RelayClient  # noqa: E402
from dgm.llm.backend import load_litellm  # noqa: E402

MESSAGES = [{"role": "system", "content": "You are a coding agent."},
            {"role": "user", "content": "Fix the failing test in calc.py. " * 20}]
SCRIPT = [{"match": "MEMORY-PROBE", "replies": [{"fault": "hang", "seconds": 3}]},
          {"match": None, "replies": [{"content": "I will run the tests first.",
                                       "usage": {"prompt_tokens": 200, "completion_tokens": 10}}]}]
# Sends K requests of B bytes at once from its own process, so only the relay's memory is measured.
SENDER = r"""
import http.client, json, socket, sys, threading
path, token, count, size, shape = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
piece = "MEMORY-PROBE " + "def f(x):\n    return x  # padding\n" * 64
messages, total = [], 0
while total < size - 4096:
    messages.append({"role": "user" if len(messages) % 2 == 0 else "assistant", "content": piece})
    total += len(piece) + 40
body = json.dumps({"model": "m", "messages": messages}).encode()
if shape == "tiny":  # about as many of JSON's smallest values as the relay accepts: the parser's worst expansion
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "MEMORY-PROBE"}],
                       "stop": [[] for _ in range(45_000)]}).encode()
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); self.sock.connect(path)
def send():
    c = C("localhost", timeout=60)
    c.request("POST", "/v1/chat/completions", body=body, headers={"Authorization": "Bearer " + token})
    c.getresponse().read()
print(len(body), flush=True)
threads = [threading.Thread(target=send) for _ in range(count)]
for t in threads: t.start()
for t in threads: t.join()
"""


def timed(fn: Callable[[], object], calls: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


class CannedGateway(Gateway):
    """A gateway that answers at once: isolates the relay's own cost (socket, HTTP parsing, JSON, threads)."""

    def complete(self, role: str, messages: list[dict], **kw: object) -> dict:
        return {"id": "canned", "object": "chat.completion", "model": "canned", "usage": {
            "prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}, "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}


def memory_per_request(server_url: str, work: Path, count: int, size: int, shape: str) -> tuple[int, float]:
    """Peak host memory added by `count` concurrent requests of about `size` bytes: (body bytes, KiB each)."""
    settings = ModelSettings(model="openai/scripted", api_base=server_url, price_in_per_mtok=1.0,
                             price_out_per_mtok=2.0, max_tokens=100, timeout=10, max_retries=0)
    gateway = Gateway({"task": settings}, run_dir=work / "memory")
    with Relay(gateway, work / f"relay-memory-{shape}") as relay:
        token = relay.issue_token("sandbox:memory", record_path=work / "memory-task" / "llm_calls.jsonl")
        import gc
        import tracemalloc

        gc.collect()
        # Python's heap, traced: RSS keeps freed arenas from earlier probes and would hide the peak
        tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0] // 1024
        out = subprocess.run([sys.executable, "-c", SENDER, str(relay.socket_path), token, str(count), str(size), shape],
                             capture_output=True, text=True, check=True).stdout
        peak = tracemalloc.get_traced_memory()[1] // 1024
        tracemalloc.stop()
    return int(out.split()[0]), (peak - base) / count


def subprocess_seconds(code: str, repeats: int = 3) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


@contextlib.contextmanager
def scripted_server_process(work: Path) -> Iterator[str]:
    """The scripted server in its own process, like a remote provider: no GIL shared with the client."""
    script = work / "script.json"
    script.write_text(json.dumps(SCRIPT))
    proc = subprocess.Popen([sys.executable, "-m", "dgm.llm.scripted", str(script)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # "serving SCRIPT at URL (...)"
        if " at " not in line:
            raise RuntimeError(f"scripted server did not start: {line!r}")
        yield line.split(" at ", 1)[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per path (default 200)")
    parser.add_argument("--body-mb", type=float, default=3.5, help="request body for the memory probe (MiB)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dgm-bench-llm-", dir="/tmp"))
    rows: dict[str, list[float]] = {}
    hops: list[float] = []
    try:
        with scripted_server_process(work) as server_url:
            url = urlparse(server_url)
            body = json.dumps({"model": "scripted", "messages": MESSAGES}).encode()

            def raw() -> None:
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
                conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
                json.loads(conn.getresponse().read())
                conn.close()

            litellm = load_litellm()

            def direct() -> None:
                litellm.completion(model="openai/scripted", messages=MESSAGES, api_base=server_url, api_key="x",
                                   timeout=10, num_retries=0, max_retries=0)

            settings = ModelSettings(model="openai/scripted", api_base=server_url, price_in_per_mtok=1.0,
                                     price_out_per_mtok=2.0, timeout=10)
            gateway = Gateway({"task": settings}, run_dir=work / "run")

            def through_gateway() -> None:
                gateway.complete("task", MESSAGES, account="sandbox:bench")

            with Relay(gateway, work / "relay") as relay:
                client = RelayClient(relay.socket_path, relay.issue_token("sandbox:relay"))
                def through_relay() -> None:
                    # paired: the same call's time inside the gateway is subtracted, so litellm's
                    # jitter (tens of ms) cancels out of the relay's own cost
                    inside = gateway.ledger.usage("sandbox:relay").seconds
                    start = time.perf_counter()
                    reply = client.chat(MESSAGES)
                    total = time.perf_counter() - start
                    assert reply.status == 200, reply.body
                    hops.append(total - (gateway.ledger.usage("sandbox:relay").seconds - inside))

                # interleave rounds so that machine load drifts hit every path alike
                paths = {"raw HTTP (http.client)": raw, "litellm.completion": direct,
                         "Gateway.complete": through_gateway, "relay + Gateway (unix socket)": through_relay}
                rounds = 4
                for _ in range(rounds):
                    for name, fn in paths.items():
                        rows.setdefault(name, []).extend(timed(fn, max(1, args.calls // rounds)))
            memory = [(shape, k, *memory_per_request(server_url, work, k, int(args.body_mb * 2**20), shape))
                      for shape in ("messages", "tiny") for k in (1, 4)]
        canned = CannedGateway({"task": ModelSettings(model="openai/canned", api_base=server_url, tokens_only=True)})
        with Relay(canned, work / "canned") as relay:
            client = RelayClient(relay.socket_path, relay.issue_token("sandbox:canned"))
            alone = timed(lambda: client.chat(MESSAGES), args.calls)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    medians = {name: statistics.median(values) * 1000 for name, values in rows.items()}
    print(f"per-call latency against the loopback scripted server, {args.calls} calls per path "
          f"(medians, ms; p90 in brackets)")
    for name, values in rows.items():
        p90 = sorted(values)[int(len(values) * 0.9)] * 1000
        print(f"  {name:32s} {medians[name]:8.2f}   [{p90:7.2f}]")
    raw_ms, lite_ms = medians["raw HTTP (http.client)"], medians["litellm.completion"]
    gw_ms, relay_ms = medians["Gateway.complete"], medians["relay + Gateway (unix socket)"]
    print("overheads (median differences, ms):")
    print(f"  litellm over raw HTTP           {lite_ms - raw_ms:8.2f}")
    print(f"  Gateway over litellm            {gw_ms - lite_ms:8.2f}   (retry wrapper, accounting, JSONL recording)")
    print(f"  relay over Gateway              {relay_ms - gw_ms:8.2f}   (unix socket HTTP hop + JSON)")
    print(f"  relay + Gateway over litellm    {relay_ms - lite_ms:8.2f}   (target: under 5 ms)")
    hop = sorted(hops)
    p90 = hop[int(len(hop) * 0.9)] * 1000
    print(f"  relay hop, paired per call      {statistics.median(hop) * 1000:8.2f}   [p90 {p90:.2f}]"
          "   (client time minus the same call's time inside the gateway)")
    print(f"  relay hop alone (canned answer) {statistics.median(alone) * 1000:8.2f}   [p90 "
          f"{sorted(alone)[int(len(alone) * 0.9)] * 1000:.2f}]   (new connection per call)")

    print("host memory per in-flight request (peak traced Python heap growth / requests, in the relay's process):")
    for shape, count, body, kib in memory:
        print(f"  {shape:8s} {count} x {body / 2**20:.1f} MiB   {kib / 1024:8.1f} MiB each"
              f"   = {kib * 1024 / body:5.2f} x the body   (target: under 2 x)")

    import_s = subprocess_seconds("import litellm")
    bare_s = subprocess_seconds("pass")
    help_s = subprocess_seconds("import sys; sys.argv=['dgm','--help']\n"
                                "from dgm.cli import main\ntry: main()\nexcept SystemExit: pass")
    leaks = subprocess.run([sys.executable, "-c", "import sys; from dgm.cli import build_parser; build_parser(); "
                            "print('litellm' in sys.modules)"], capture_output=True, text=True).stdout.strip()
    print("start-up (fresh interpreter, median of 3, s):")
    print(f"  python -c pass                  {bare_s:8.2f}")
    print(f"  import litellm                  {import_s:8.2f}")
    print(f"  dgm --help                      {help_s:8.2f}   (imports litellm: {leaks})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
