"""`dgm archive ...` verbs on real archives, and bad input: one line, exit 2, nothing changes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from dgm.archive import Archive
from dgm.archive import commands
from dgm.cli import main


def state(run: Path) -> tuple:
    """Everything that makes up an archive's content."""
    rows = sqlite3.connect(run / "archive.sqlite").execute("SELECT * FROM nodes ORDER BY id").fetchall()
    refs = subprocess.run(["git", "--git-dir", str(run / "archive.git"), "for-each-ref"],
                          capture_output=True, text=True, check=True).stdout
    objects = sorted(str(p.relative_to(run)) for p in (run / "archive.git" / "objects").rglob("*")
                     if p.is_file())
    return rows, refs, objects


@pytest.fixture
def run(tmp_path: Path, make_tree, capsys) -> Path:
    run = tmp_path / "run"
    assert main(["archive", "init", str(run), "--seed", str(make_tree(0, "seed"))]) == 0
    assert main(["archive", "add", str(run), "--parent", "0", "--tree", str(make_tree(1)),
                 "--status", "admitted", "--score", "0.6", "--task", "add retries"]) == 0
    assert main(["archive", "add", str(run), "--parent", "1", "--tree", str(make_tree(2)),
                 "--status", "rejected:tests fail"]) == 0
    capsys.readouterr()
    return run


def test_init_add_list(run: Path, make_tree, capsys) -> None:
    assert main(["archive", "add", str(run), "--parent", "0", "--tree", str(make_tree(3)), "--json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert (added["id"], added["parent_id"], added["status"]) == ("3", "0", "pending")
    assert main(["archive", "list", str(run)]) == 0
    out = capsys.readouterr().out
    assert "rejected:tests fail" in out and "0.600" in out and "4 node(s)" in out
    assert main(["archive", "list", str(run), "--status", "rejected", "--json"]) == 0
    assert [n["id"] for n in json.loads(capsys.readouterr().out)] == ["2"]
    with Archive.open(run) as archive:
        assert archive.get("1").score == 0.6
        assert archive.get("1").improvement_task == "add retries"


def test_list_by_verdict_reads_the_leading_reason(run: Path, make_tree, capsys) -> None:
    assert main(["archive", "add", str(run), "--parent", "0", "--tree", str(make_tree(4)),
                 "--status", "rejected:forbidden name in tree: HEAD"]) == 0
    capsys.readouterr()
    assert main(["archive", "list", str(run), "--verdict", "forbidden name in tree", "--json"]) == 0
    assert [n["id"] for n in json.loads(capsys.readouterr().out)] == ["3"]
    assert main(["archive", "list", str(run), "--verdict", "admitted", "--json"]) == 0
    assert [n["id"] for n in json.loads(capsys.readouterr().out)] == ["0", "1"]


def test_show_prints_record_and_diff(run: Path, capsys) -> None:
    assert main(["archive", "show", str(run), "1"]) == 0
    out = capsys.readouterr().out
    for text in ("node 1", "parent          0", "generation      1", "status          admitted",
                 "score           0.600", "improvement     add retries", "diff against parent 0:",
                 "-VERSION = 0", "+VERSION = 1"):
        assert text in out
    assert main(["archive", "show", str(run), "2", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "rejected:tests fail" and "+VERSION = 2" in record["diff"]
    assert set(record) >= {"id", "commit", "parent_id", "generation", "status", "diagnosis",
                           "improvement_task", "results", "stage_scores", "score", "tokens_in",
                           "tokens_out", "cost_usd", "wall_seconds", "created_at", "updated_at", "meta"}
    assert main(["archive", "show", str(run), "0"]) == 0
    assert "root node: no parent" in capsys.readouterr().out


def test_diff(run: Path, capsys) -> None:
    assert main(["archive", "diff", str(run), "0", "2"]) == 0
    out = capsys.readouterr().out
    assert "a/agent.py" in out and "-VERSION = 0" in out and "+VERSION = 2" in out


def test_lineage_tree_and_exports(run: Path, tmp_path: Path, capsys) -> None:
    assert main(["archive", "lineage", str(run)]) == 0
    out = capsys.readouterr().out
    assert "1 admitted score=0.600 gen=1 children=1" in out
    assert main(["archive", "lineage", str(run), "--format", "graphml", "-o", str(tmp_path / "g.graphml")]) == 0
    assert set(nx.read_graphml(tmp_path / "g.graphml").edges) == {("0", "1"), ("1", "2")}
    capsys.readouterr()
    assert main(["archive", "lineage", str(run), "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["nodes"]) == 3
    assert main(["archive", "lineage", str(run), "--format", "dot", "--root", "1"]) == 0
    out = capsys.readouterr().out
    assert '"1" -> "2"' in out and '\n  "0" [' not in out and '"0" ->' not in out


def test_python_dash_m_is_dgm_archive(run: Path) -> None:
    env = {**os.environ, "LITELLM_OFFLINE_MODE": "true", "HF_HUB_OFFLINE": "1"}
    via_m = subprocess.run([sys.executable, "-m", "dgm.archive", "list", str(run), "--json"],
                           capture_output=True, text=True, env=env)
    via_dgm = subprocess.run(["dgm", "archive", "list", str(run), "--json"],
                             capture_output=True, text=True, env=env)
    assert via_m.returncode == via_dgm.returncode == 0, via_m.stderr
    assert json.loads(via_m.stdout) == json.loads(via_dgm.stdout)
    bad = subprocess.run([sys.executable, "-m", "dgm.archive", "show", str(run), "77"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "unknown node '77'" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("argv, message", [
    (["add", "{run}", "--parent", "2", "--tree", "{tree}"], "parent node 2 is rejected:tests fail"),
    (["add", "{run}", "--parent", "9", "--tree", "{tree}"], "unknown node '9'"),
    (["add", "{run}", "--parent", "x", "--tree", "{tree}"], "unknown node 'x'"),
    (["add", "{run}", "--parent", "0", "--tree", "{missing}"], "does not exist"),
    (["add", "{run}", "--parent", "0", "--tree", "{tree}", "--status", "good"], "invalid status 'good'"),
    (["add", "{run}", "--parent", "0", "--tree", "{tree}", "--score", "1.5"], "--score 1.5"),
    (["add", "{run}", "--parent", "0", "--tree", "{escaping}"], "outside the tree"),
    (["show", "{run}", "5"], "unknown node '5'"),
    (["diff", "{run}", "0", "12"], "unknown node '12'"),
    (["lineage", "{run}", "--root", "8"], "unknown node '8'"),
    (["init", "{run}", "--seed", "{tree}"], "already holds an archive"),
    (["list", "{missing}"], "is not a directory"),
    (["list", "{tree}"], "is not a dgm archive"),
])
def test_bad_input_exits_2_with_one_line_and_changes_nothing(
        run: Path, make_tree, tmp_path: Path, capsys, argv: list[str], message: str) -> None:
    escaping = make_tree(9)
    os.symlink("/etc", escaping / "etc")
    paths = {"run": run, "tree": make_tree(5), "missing": tmp_path / "missing", "escaping": escaping}
    before = state(run)
    assert main(["archive", *(a.format(**paths) for a in argv)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dgm: error: ") and err.count("\n") == 1 and message in err
    assert state(run) == before


def test_init_without_default_seed_names_it(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(commands, "default_seed", lambda: tmp_path / "agents_archive" / "seed")
    assert main(["archive", "init", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "agents_archive" / "seed") in err and "--seed" in err
    assert not (tmp_path / "run" / "archive.sqlite").exists()


def test_default_seed_is_the_checkout_seed() -> None:
    assert commands.default_seed().parts[-2:] == ("agents_archive", "seed")
    assert (commands.default_seed().parent.parent / "dgm" / "archive").is_dir()


def test_help_lists_the_verbs(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["archive", "--help"])
    out = capsys.readouterr().out
    for verb in ("init", "add", "list", "show", "diff", "lineage", "fsck"):
        assert verb in out


def test_lineage_html_goes_through_the_report_module(run: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("dgm.report.lineage")
    out = tmp_path / "lineage.html"
    assert main(["archive", "lineage", str(run), "--format", "html", "-o", str(out)]) == 0
    assert out.is_file() and out.stat().st_size > 0
    assert "wrote html lineage" in capsys.readouterr().out


def test_lineage_html_without_report_module_says_so(run: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "dgm.report.lineage", None)  # as if not installed
    assert main(["archive", "lineage", str(run), "--format", "png"]) == 1
    err = capsys.readouterr().err
    assert "report module" in err and err.count("\n") == 1
    assert not (run / "lineage.png").exists()
