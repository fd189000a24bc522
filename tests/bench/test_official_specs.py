"""Classic rows: the image name and eval script the harness derives (swebench 4.1.0's specs, run
for real in its child process), the environments setting, and its errors. No Docker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dgm.bench.instances import load_instances
from dgm.bench.official import EnvironmentOptions, command_from_eval_script, target_for
from dgm.bench.pull import parse_reference
from dgm.bench.specs import classic_specs, is_classic
from dgm.cli import main
from dgm.errors import BadInput, BenchError

ROOT = Path(__file__).resolve().parents[2]
LITE = ROOT / "datasets" / "swebench_lite.jsonl"
TOY = ROOT / "datasets" / "toy" / "toy.jsonl"


@pytest.fixture(scope="module")
def lite():
    return {i.instance_id: i for i in load_instances(LITE, ids=["pallets__flask-4992", "django__django-11099"])}


def test_classic_rows_get_the_harness_image_name_and_eval_script(lite):
    specs = classic_specs(list(lite.values()))
    flask, django = specs["pallets__flask-4992"], specs["django__django-11099"]
    assert flask.image == "swebench/sweb.eval.x86_64.pallets_1776_flask-4992:latest"
    assert django.image == "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"
    assert ": '>>>>> Start Test Output'\npytest -rA tests/test_config.py\n: '>>>>> End Test Output'" in flask.eval_script
    assert flask.install == "python -m pip install -e ."
    command = command_from_eval_script(flask.eval_script, drop=(flask.install,))
    assert command.splitlines()[:2] == ["source /opt/miniconda3/bin/activate", "conda activate testbed"]
    assert command.endswith("pytest -rA tests/test_config.py") and "pip install" not in command
    assert "test_patch" not in command and "git apply" not in command  # grading applies it itself
    command = command_from_eval_script(django.eval_script, drop=(django.install,))
    assert "export LANG=en_US.UTF-8" in command
    assert command.endswith("./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 "
                            "auth_tests.test_validators")
    other = classic_specs([lite["pallets__flask-4992"]], namespace="127.0.0.1:5000/mirror", tag="v2")
    assert other["pallets__flask-4992"].image == "127.0.0.1:5000/mirror/sweb.eval.x86_64.pallets_1776_flask-4992:v2"


def test_which_rows_are_classic_and_what_has_no_spec(lite, tmp_path, monkeypatch):
    toy = load_instances(TOY)[0]
    assert not is_classic(toy) and target_for(toy, None) == "a row with a dgm source has no official image"
    flask = lite["pallets__flask-4992"]
    assert is_classic(flask)
    row = {**flask.to_row(), "instance_id": "o__r-1", "repo": "o/r"}
    (tmp_path / "d.jsonl").write_text(json.dumps(row) + "\n")
    unknown = load_instances(tmp_path / "d.jsonl")[0]
    spec = classic_specs([unknown])["o__r-1"]
    assert spec.error == "no spec for o/r version 2.3" and "no official spec" in target_for(unknown, spec)
    monkeypatch.setenv("DGM_SWEBENCH_CLASSIC", str(tmp_path / "none"))
    with pytest.raises(BenchError, match=r"pip install --no-deps --target .*none swebench==4.1.0"):
        classic_specs([flask])


def test_image_references_split_as_the_engine_splits_them():
    ref = parse_reference("127.0.0.1:5000/swebench/sweb.eval.x86_64.a_1776_b-1:latest")
    assert (ref.registry, ref.repository, ref.tag) == ("127.0.0.1:5000", "swebench/sweb.eval.x86_64.a_1776_b-1", "latest")
    assert parse_reference("swebench/x").registry == "" and parse_reference("swebench/x").tag == "latest"
    assert parse_reference("localhost/x:1").registry == "localhost"


def test_environment_settings_are_checked(tmp_path, capsys, lite):
    with pytest.raises(BadInput, match="not one of auto, official, rebuild"):
        EnvironmentOptions("sometimes")
    with pytest.raises(BadInput, match="not usable"):
        EnvironmentOptions("auto", namespace="")
    data = tmp_path / "d.jsonl"
    data.write_text(LITE.read_text().splitlines()[0] + "\n")
    base = ["bench", "build", "--dataset", str(data), "--store", str(tmp_path / "s")]
    assert main([*base, "--official", "--environments", "rebuild"]) == 2
    assert "--official contradicts --environments rebuild" in capsys.readouterr().err
    assert main([*base, "--pull-jobs", "0"]) == 2
    assert "--pull-jobs 0 must be at least 1" in capsys.readouterr().err
    # official on a row that has no official image: exit 2 before anything is built
    assert main(["bench", "build", "--dataset", str(TOY), "--store", str(tmp_path / "t"), "--official",
                 "--instance", "dgm-toy__calc-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "dgm-toy__calc-1: environments = official" in err
