"""`dgm bench` argument handling without Docker: messages and exit codes."""

from __future__ import annotations

import json

from dgm.bench.store import BenchStore, TaskEnvironment
from dgm.cli import main


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
