"""dgm.terminal.inert, and commands outside the archive and the loop that print sandbox or model text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dgm.bench.store import BenchStore, TaskEnvironment
from dgm.cli import main
from dgm.terminal import inert
from tests.terminal_payloads import HOSTILE, PAYLOADS, RAW, assert_inert


@pytest.fixture(scope="module")
def agent_image(base_image: str) -> str:
    from dgm.agent import ensure_agent_image

    return ensure_agent_image()


def test_every_class_of_control_is_shown_not_kept() -> None:
    for name, payload in PAYLOADS.items():
        shown = inert(payload)
        assert not RAW.search(shown), name
        assert "\\x" in shown or "\\u" in shown, name
    cases = {"\x00": "\\x00", "\x1b": "\\x1b", "\x7f": "\\x7f", "\x80": "\\x80", "\x9b": "\\x9b",
             "\x9d": "\\x9d", "\x9f": "\\x9f", "\u202a": "\\u202a", "\u202e": "\\u202e", "\u2066": "\\u2066",
             "\u2069": "\\u2069", "\u200e": "\\u200e", "\u061c": "\\u061c", "\u2028": "\\u2028",
             "\udc9b": "\\udc9b", "\ud800": "\\ud800"}
    for char, shown in cases.items():
        assert inert(f"a{char}b") == f"a{shown}b"


def test_lines_and_plain_text_are_kept() -> None:
    text = "def f():\n\treturn 'é, 中文, emoji 🙂, [red]not markup[/red] \\x1b'\n"
    assert inert(text) == text
    assert inert("a\nb\tc", lines=False) == "a\\x0ab\\x09c"
    assert inert("crlf\r\n") == "crlf\\x0d\n"
    assert inert(inert(HOSTILE)) == inert(HOSTILE)  # already inert text is left as it is
    assert inert(3) == "3"


def test_undecodable_bytes_print_without_error(tmp_path: Path) -> None:
    text = b"ok \xff\x9b2J \xe2\x80\xae".decode("utf-8", errors="surrogateescape")
    shown = inert(text)
    shown.encode("utf-8")  # strict: a lone surrogate would raise here
    assert "\\udcff" in shown and "\\u202e" in shown


def test_an_error_naming_a_hostile_path_is_one_inert_line(tmp_path: Path) -> None:
    missing = tmp_path / ("run" + PAYLOADS["osc52"] + PAYLOADS["c1csi"] + PAYLOADS["bidi"] + "\nforged line")
    out = subprocess.run([sys.executable, "-m", "dgm", "archive", "list", str(missing)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 2  # the path's own newline stays: one line each
    assert_inert(out.stderr, visible=("\\x1b]52;c;", "\\x9b2J", "\\u202e"))
    out = subprocess.run([sys.executable, "-m", "dgm", "--debug", "archive", "list", str(missing)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" in out.stderr
    assert_inert(out.stderr, visible=("\\x1b]52;c;", "\\x9b2J", "\\u202e"))


def test_bench_list_shows_details_inert(tmp_path: Path, capsys) -> None:
    store = BenchStore(tmp_path / "store")
    store.put(TaskEnvironment(instance_id="x__y-1" + PAYLOADS["csi"], image="img", repo="x/y[red]",
                              status="failed:" + PAYLOADS["c1csi"], detail="tests said " + HOSTILE))
    assert main(["bench", "list", "--store", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert_inert(out, visible=("\\x1b[2J", "\\x9b2J", "\\x1b]52;c;", "\\u202e"))
    assert "x/y[red]" in out  # data, not rich markup
    assert main(["bench", "list", "--store", str(store.path), "--json"]) == 0
    out = capsys.readouterr().out
    assert not RAW.search(out) and json.loads(out)[0]["detail"] == "tests said " + HOSTILE


@pytest.mark.docker
def test_sandbox_run_output_is_inert(base_image: str) -> None:
    script = "printf '\\033]52;c;cHduZWQ=\\007 \\302\\233""2J \\342\\200\\256rtl \\033[2J done\\n'"
    out = subprocess.run([sys.executable, "-m", "dgm", "sandbox", "run", "--image", base_image, "--", script],
                         capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode("utf-8")
    assert_inert(text, visible=("\\x1b]52;c;cHduZWQ=\\x07", "\\x9b2J", "\\u202ertl", "\\x1b[2J done"))


@pytest.mark.docker
def test_agent_run_prints_the_agents_reason_inert(agent_image: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(git + args, check=True)
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"sequence": [
        {"tool_calls": [{"name": "submit", "arguments": {"summary": "done " + HOSTILE}}]}]}))
    out = subprocess.run([sys.executable, "-m", "dgm", "agent", "run", "--repo", str(repo), "--problem", "fix add",
                          "--script", str(script), "--out", str(tmp_path / "out"), "--image", agent_image],
                         capture_output=True, timeout=600)
    text = out.stdout.decode("utf-8")
    assert out.returncode == 0 and "status: submitted" in text, text + out.stderr.decode(errors="replace")
    status = next(line for line in text.splitlines() if line.startswith("status:"))
    assert_inert(status, visible=("\\x1b]52;c;", "\\x1b]0;owned title", "\\x1b[2J", "\\x9b2J", "\\u202e"))
