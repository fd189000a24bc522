"""`dgm archive` verbs print agent code and model text shown, never obeyed by the terminal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dgm.archive import Archive
from dgm.cli import main
from tests.terminal_payloads import HOSTILE, PAYLOADS, RAW, assert_inert


@pytest.fixture
def hostile_run(tmp_path: Path, make_tree) -> Path:
    """Node 1: code, improvement task, diagnosis, a result id and a rejection reason carrying escapes."""
    child = make_tree(1)
    (child / "agent.py").write_text("#!/usr/bin/env python3\n" + "".join(
        f"# {name}: {payload}\n" for name, payload in PAYLOADS.items()) + "print(1)\n")
    with Archive.create(tmp_path / "run", make_tree(0, "seed")) as archive:
        archive.add_node("0", child, status="rejected:own tests fail " + PAYLOADS["osc0"] + PAYLOADS["c1csi"],
                         improvement_task="make it faster\n  status          admitted " + HOSTILE,
                         diagnosis={"why": HOSTILE}, results={"task" + PAYLOADS["csi"]: {"resolved": False}})
    return tmp_path / "run"


def test_show_prints_the_record_and_the_diff_inert(hostile_run: Path, capsys) -> None:
    assert main(["archive", "show", str(hostile_run), "1"]) == 0
    out = capsys.readouterr().out
    assert_inert(out)
    assert "+# osc52: \\x1b]52;c;" in out  # the agent's code, still readable as a diff
    # A model's newline cannot forge a field: the continuation is indented under "improvement".
    assert "\n  status          admitted" not in out and "\n                    status          admitted" in out
    assert "status          rejected:own tests fail \\x1b]0;owned title" in out


def test_diff_list_and_lineage_print_inert(hostile_run: Path, capsys) -> None:
    assert main(["archive", "diff", str(hostile_run), "0", "1"]) == 0
    assert_inert(capsys.readouterr().out)
    for verb in (["list"], ["lineage"], ["lineage", "--format", "dot"], ["lineage", "--format", "json"]):
        assert main(["archive", *verb, str(hostile_run)]) == 0
        out = capsys.readouterr().out
        assert_inert(out, visible=())
        assert "\\x1b]0;owned title" in out or "\\u001b]0;owned title" in out, verb


def test_status_is_not_rich_markup(tmp_path: Path, make_tree, capsys) -> None:
    with Archive.create(tmp_path / "run", make_tree(0, "seed")) as archive:
        archive.add_node("0", make_tree(1), status="rejected:[bold red]fake[/bold red] [link=x]y[/link]")
    for verb in ("list", "lineage"):
        assert main(["archive", verb, str(tmp_path / "run")]) == 0
        assert "[bold red]fake[/bold red] [link=x]y[/link]" in capsys.readouterr().out, verb


def test_json_output_is_escaped_json(hostile_run: Path, capsys) -> None:
    assert main(["archive", "show", str(hostile_run), "1", "--json"]) == 0
    out = capsys.readouterr().out
    assert not RAW.search(out)
    record = json.loads(out)
    assert record["improvement_task"].endswith(HOSTILE) and PAYLOADS["osc52"] in record["diff"]


def test_show_in_a_real_process_writes_no_control_byte(hostile_run: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "dgm", "archive", "show", str(hostile_run), "1"],
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for raw in (b"\x1b", b"\x07", b"\x7f", b"\xc2\x9b", b"\xc2\x9d", b"\xe2\x80\xae", b"\r"):
        assert raw not in out.stdout, raw
    assert_inert(out.stdout.decode("utf-8"))
