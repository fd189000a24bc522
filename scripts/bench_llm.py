"""Per-call latency of the model path against a loopback scripted server, measured side by side.

raw HTTP (http.client) < litellm.completion < Gateway.complete (retries, accounting, recording)
< relay + gateway (a client on the unix socket). Also litellm's import time and `dgm --help`.
Printed, never asserted.  Usage: python scripts/bench_llm.py [--calls 200]
"""

from __future__ import annotations

import argparse
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
from typing import Callable
from urllib.parse import urlparse

for key, value in {"LITELLM_OFFLINE_MODE": "true", "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}.items():
    os.environ.setdefault(key, value)

from dgm.llm import Gateway, ModelSettings, Relay, RelayClient, ScriptedModelServer  # noqa: E402
from dgm.llm.backend import load_litellm  # noqa: E402

MESSAGES = [{"role": "system", "content": "You are a coding agent."},
            {"role": "user", "content": "Fix the failing test in calc.py. " * 20}]
SCRIPT = [{"match": None, "replies": [{"content": "I will run the tests first.",
                                       "usage": {"prompt_tokens": 200, "completion_tokens": 10}}]}]


def timed(fn: Callable[[], object], calls: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def subprocess_seconds(code: str, repeats: int = 3) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per path (default 200)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dgm-bench-llm-", dir="/tmp"))
    rows: dict[str, list[float]] = {}
    try:
        with ScriptedModelServer(SCRIPT) as server:
            url = urlparse(server.url)
            body = json.dumps({"model": "scripted", "messages": MESSAGES}).encode()

            def raw() -> None:
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
                conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
                json.loads(conn.getresponse().read())
                conn.close()

            litellm = load_litellm()

            def direct() -> None:
                litellm.completion(model="openai/scripted", messages=MESSAGES, api_base=server.url, api_key="x",
                                   timeout=10, num_retries=0, max_retries=0)

            settings = ModelSettings(model="openai/scripted", api_base=server.url, price_in_per_mtok=1.0,
                                     price_out_per_mtok=2.0, timeout=10)
            gateway = Gateway({"task": settings}, run_dir=work / "run")

            def through_gateway() -> None:
                gateway.complete("task", MESSAGES, account="sandbox:bench")

            with Relay(gateway, work / "relay") as relay:
                client = RelayClient(relay.socket_path, relay.issue_token("sandbox:relay"))

                def through_relay() -> None:
                    reply = client.chat(MESSAGES)
                    assert reply.status == 200, reply.body

                # interleave rounds so that machine load drifts hit every path alike
                paths = {"raw HTTP (http.client)": raw, "litellm.completion": direct,
                         "Gateway.complete": through_gateway, "relay + Gateway (unix socket)": through_relay}
                rounds = 4
                for _ in range(rounds):
                    for name, fn in paths.items():
                        rows.setdefault(name, []).extend(timed(fn, max(1, args.calls // rounds)))
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
