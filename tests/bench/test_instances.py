"""Loading SWE-bench rows: good rows, selection, and exact messages for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dgm.bench.instances import load_instances, read_rows
from dgm.errors import BadInput, BenchError

REPO_ROOT = Path(__file__).resolve().parents[2]
LITE = REPO_ROOT / "datasets" / "swebench_lite.jsonl"
TOY = REPO_ROOT / "datasets" / "toy" / "toy.jsonl"


def row(i: int = 1, **over) -> dict:
    base = {
        "instance_id": f"o__r-{i}", "repo": "o/r", "version": "1.0", "base_commit": "abc",
        "problem_statement": "it breaks", "patch": "diff --git a/x b/x\n", "test_patch": "",
        "FAIL_TO_PASS": json.dumps(["t.py::test_a"]), "PASS_TO_PASS": ["t.py::test_b"],
        "created_at": "2020-01-01", "image_name": "custom",
    }
    base.update(over)
    return base


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_lite_loads_all_300_with_lists_decoded():
    rows = load_instances(LITE)
    assert len(rows) == 300
    flask = [r for r in rows if r.repo == "pallets/flask"]
    assert [r.instance_id for r in flask] == ["pallets__flask-4045", "pallets__flask-4992", "pallets__flask-5063"]
    assert isinstance(rows[0].FAIL_TO_PASS, list) and all(isinstance(t, str) for t in rows[0].FAIL_TO_PASS)


def test_jsonl_and_json_give_the_same_instances_and_keep_unknown_keys(tmp_path):
    rows = [row(1), row(2, FAIL_TO_PASS=["t.py::test_c"], PASS_TO_PASS="[]")]
    from_jsonl = load_instances(write_jsonl(tmp_path / "d.jsonl", rows))
    (tmp_path / "d.json").write_text(json.dumps(rows))
    from_json = load_instances(tmp_path / "d.json")
    for a, b in zip(from_jsonl, from_json):
        assert (a.instance_id, a.FAIL_TO_PASS, a.PASS_TO_PASS) == (b.instance_id, b.FAIL_TO_PASS, b.PASS_TO_PASS)
    assert from_jsonl[0].FAIL_TO_PASS == ["t.py::test_a"] and from_jsonl[1].FAIL_TO_PASS == ["t.py::test_c"]
    assert from_jsonl[1].PASS_TO_PASS == []
    assert from_jsonl[0].extra["image_name"] == "custom"
    # the row round-trips in SWE-bench's own form (lists as JSON strings, extras at top level)
    back = from_jsonl[0].to_row()
    assert back["FAIL_TO_PASS"] == '["t.py::test_a"]' and back["image_name"] == "custom"
    assert not any(k.startswith("_dgm") for k in back)


def test_selection_by_ids_repos_subset_and_slice(tmp_path):
    rows = [row(i) for i in range(5)] + [row(9, repo="x/y", instance_id="x__y-9")]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    assert [i.instance_id for i in load_instances(data, ids=["o__r-3", "o__r-1"])] == ["o__r-1", "o__r-3"]
    assert [i.instance_id for i in load_instances(data, repos=["x/y"])] == ["x__y-9"]
    subset = tmp_path / "subset.json"
    subset.write_text(json.dumps(["o__r-4", "x__y-9", "o__r-0"]))
    assert [i.instance_id for i in load_instances(data, subset_file=subset)] == ["o__r-0", "o__r-4", "x__y-9"]
    assert [i.instance_id for i in load_instances(data, slice_="1:3")] == ["o__r-1", "o__r-2"]
    assert [i.instance_id for i in load_instances(data, repos=["o/r"], slice_="3:")] == ["o__r-3", "o__r-4"]


@pytest.mark.parametrize("bad, message", [
    ('{"instance_id": "a"', "line 2: not valid JSON"),
    ("[1, 2]", "line 2: a row must be a JSON object, got list"),
    ({k: v for k, v in row(5).items() if k != "test_patch"}, "line 2: missing field 'test_patch'"),
    (row(5, FAIL_TO_PASS="not json"), "line 2: field 'FAIL_TO_PASS' is not a JSON list of test names"),
    (row(5, PASS_TO_PASS=[1, 2]), "line 2: field 'PASS_TO_PASS' must be a list of test names (strings)"),
    (row(5, repo=7), "line 2: field 'repo' must be a string, got int"),
    (row(1), "instance id 'o__r-1' appears twice"),
])
def test_malformed_rows_name_file_line_and_field(tmp_path, bad, message):
    data = write_jsonl(tmp_path / "bad.jsonl", [row(1), bad])
    with pytest.raises(BadInput) as err:
        read_rows(data)
    assert str(err.value).startswith(f"{data}") and message in str(err.value)


def test_unknown_ids_repos_and_bad_slices_are_bad_input(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [row(1)])
    with pytest.raises(BadInput, match=r"unknown instance id\(s\) in --instance: nope__x-1"):
        load_instances(data, ids=["nope__x-1"])
    subset = tmp_path / "s.json"
    subset.write_text('["o__r-1", "gone-2"]')
    with pytest.raises(BadInput, match=r"unknown instance id\(s\) in subset: gone-2"):
        load_instances(data, subset_file=subset)
    subset.write_text('{"ids": []}')
    with pytest.raises(BadInput, match="a subset file must be a JSON list of instance ids"):
        load_instances(data, subset_file=subset)
    with pytest.raises(BadInput, match="unknown repo"):
        load_instances(data, repos=["a/b"])
    with pytest.raises(BadInput, match="slice '1-3' is not START:STOP"):
        load_instances(data, slice_="1-3")
    with pytest.raises(BadInput, match="no such dataset file"):
        load_instances(tmp_path / "missing.jsonl")


def test_a_hub_dataset_name_offline_asks_for_a_file(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BenchError) as err:
        load_instances("princeton-nlp/SWE-bench_Lite")
    assert "pass a .json/.jsonl file" in str(err.value)


def test_toy_rows_are_complete_and_point_at_local_repos():
    toy = load_instances(TOY)
    assert len(toy) == 4 and {i.repo for i in toy} == {"dgm-toy/calc", "dgm-toy/textkit"}
    for inst in toy:
        assert inst.extra["dgm_source"]["kind"] == "local" and inst.extra["log_parser"] == "pytest"
        assert (TOY.parent / inst.extra["dgm_source"]["path"]).is_dir()
        assert inst.FAIL_TO_PASS and inst.PASS_TO_PASS and inst.patch.startswith("diff --git")
        assert "-rA" in inst.extra["test_command"]
