"""`dgm bench` argument handling without Docker: messages and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from dgm.bench.failures import failure_line, keeps_its_reason, shortfalls
from dgm.bench.store import BenchStore, TaskEnvironment
from dgm.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_build_with_unknown_inputs_exits_2_naming_them(tmp_path, capsys):
    assert main(["bench", "build", "--dataset", str(tmp_path / "none.jsonl"), "--store", str(tmp_path)]) == 2
    assert "none.jsonl: no such dataset file" in capsys.readouterr().err
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"instance_id": "a", "repo": "o/r", "patch": "", "test_patch": "",
                                "FAIL_TO_PASS": [], "PASS_TO_PASS": []}) + "\n")
    assert main(["bench", "build", "--dataset", str(data), "--instance", "zz", "--store", str(tmp_path)]) == 2
    assert "unknown instance id(s) in --instance: zz" in capsys.readouterr().err


def test_list_shows_the_manifest_and_filters(tmp_path, capsys):
    assert main(["bench", "list", "--store", str(tmp_path)]) == 0
    assert "no instances" in capsys.readouterr().out
    store = BenchStore(tmp_path)
    store.put(TaskEnvironment("o__r-1", "img:1", status="validated", repo="o/r"))
    store.put(TaskEnvironment("o__r-2", "", status="failed:build", repo="o/r", detail="boom"))
    assert main(["bench", "list", "--store", str(tmp_path), "--status", "failed", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["instance_id"] for r in rows] == ["o__r-2"] and rows[0]["detail"] == "boom"


def test_list_marks_instances_whose_tree_still_leaks_the_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    store = BenchStore(tmp_path)
    leaking = {"hints": {"terms": ["man_make_section_directory"], "leaks": True,
                         "found": {"man_make_section_directory": ["doc/usage/configuration.rst"]}}}
    clean = {"hints": {"terms": ["other_term"], "leaks": False, "found": {}}}
    store.put(TaskEnvironment("o__r-1", "img:1", status="validated", repo="o/r", notes=leaking))
    store.put(TaskEnvironment("o__r-2", "img:2", status="validated", repo="o/r", notes=clean))
    assert main(["bench", "list", "--store", str(tmp_path)]) == 0
    lines = {ln.split()[1]: ln for ln in capsys.readouterr().out.splitlines() if "o__r-" in ln}
    assert "leaks: man_make_section_directory" in lines["o__r-1"]
    assert "leaks" not in lines["o__r-2"]
    assert main(["bench", "list", "--store", str(tmp_path), "--json"]) == 0
    rows = {r["instance_id"]: r["leaks"] for r in json.loads(capsys.readouterr().out)}
    assert rows == {"o__r-1": True, "o__r-2": False}


def test_grade_refuses_predictions_for_unvalidated_instances(tmp_path, capsys):
    store = BenchStore(tmp_path)
    store.put(TaskEnvironment("o__r-2", "", status="failed:build", repo="o/r"))
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"instance_id": "o__r-2", "repo": "o/r", "patch": "", "test_patch": "",
                                "FAIL_TO_PASS": [], "PASS_TO_PASS": []}) + "\n")
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"instance_id": "o__r-2", "model_name_or_path": "m", "model_patch": "x"}) + "\n")
    code = main(["bench", "grade", "--predictions", str(preds), "--dataset", str(data), "--store", str(tmp_path)])
    assert code == 2 and "instances not validated" in capsys.readouterr().err
    preds.write_text('{"instance_id": "o__r-2"}\n')
    code = main(["bench", "grade", "--predictions", str(preds), "--dataset", str(data), "--store", str(tmp_path)])
    assert code == 2 and "line 1: missing field 'model_patch'" in capsys.readouterr().err


LITE = REPO_ROOT / "datasets" / "swebench_lite.jsonl"
COMPILED = "astropy__astropy-12907"  # a compiled project's version without a spec: refused before any download


def test_a_refused_instance_fails_build_and_keeps_its_reason_through_validate(tmp_path, capsys):
    code = main(["bench", "build", "--dataset", str(LITE), "--instance", COMPILED, "--store", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 1
    assert (f"{COMPILED}: refused (no-recipe): astropy/astropy 4.3: needs a compiler in the image "
            "(C extensions are built from source) and no spec for this version says how to build it"
            ) in captured.err.splitlines()
    assert "no-recipe ┃" not in captured.out  # one instance: its line, not a table
    assert main(["bench", "validate", "--instance", COMPILED, "--store", str(tmp_path)]) == 1
    env = BenchStore(tmp_path).environment(COMPILED)
    assert env.status == "failed:no-recipe" and "needs a compiler" in env.detail
    assert f"{COMPILED}: refused (no-recipe)" in capsys.readouterr().err


def test_shortfalls_name_each_instance_with_its_reason_on_one_line():
    envs = [TaskEnvironment("ok", "img:1", status="validated"),
            TaskEnvironment("built", "img:2", status="built"),
            TaskEnvironment("refused", "", status="failed:no-recipe", detail="no release takes\neither patch"),
            TaskEnvironment("broken", "", status="failed:build", detail="pip: no wheel"),
            TaskEnvironment("drifted", "img:3", status="failed:p2p-fails-before", detail="t1 fails\x1b[2J")]
    assert [failure_line(e) for e in shortfalls(envs)] == [
        "built: not validated (status built)",
        "refused: refused (no-recipe): no release takes either patch",
        "broken: build failed (build): pip: no wheel",
        "drifted: validation failed (p2p-fails-before): t1 fails\\x1b[2J",
    ]
    assert [e.instance_id for e in shortfalls(envs, validated=False)] == ["refused", "broken", "drifted"]
    assert [keeps_its_reason(e) for e in envs] == [False, False, True, True, False]
