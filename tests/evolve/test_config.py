"""The evolve configuration: schema, overrides, checks before any work, resume conflicts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dgm.errors import ConfigError
from dgm.evolve import config_io, options
from dgm.evolve.config import EvolveConfig, help_text, key_specs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text((REPO / "datasets" / "toy" / "toy.jsonl").read_text())
    return path


def base(dataset: Path, tmp_path: Path) -> list[str]:
    return [f"dataset.path={str(dataset)!r}".replace("'", '"'), f'run.dir="{tmp_path / "run"}"',
            "models.task.model=openai/local", 'models.task.api_base="http://127.0.0.1:9/v1"']


def test_defaults_follow_the_paper() -> None:
    c = EvolveConfig()
    assert c.selection.strategy == "score_child_prop"
    assert c.evolve.children_per_iteration == 2
    assert c.dataset.stages == [10, 50] and c.dataset.gate == 0.4


def test_default_file_matches_the_schema() -> None:
    path = REPO / "configs" / "default.toml"
    loaded = config_io.build([(config_io.flatten(config_io.load_file(path)), path.parent)])
    got, want = config_io.flat_values(loaded), config_io.flat_values(EvolveConfig())
    got.pop("run.dir"), want.pop("run.dir")
    assert got == want


def test_help_documents_every_key() -> None:
    text = help_text()
    for spec in key_specs():
        assert f"  {spec.key} (" in text
    out = subprocess.run([sys.executable, "-m", "dgm.evolve", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "models.task.model" in out.stdout and "limits.sandbox.memory_mb" in out.stdout


def test_overrides_parse_as_toml(dataset: Path, tmp_path: Path) -> None:
    c = options.resolve(None, base(dataset, tmp_path) + ["dataset.stages=[1, 2]", "budget.usd=2.5",
                                                         "evolve.workers=3", "selection.params={lam = 5.0}"])
    assert c.dataset.stages == [1, 2] and c.budget.usd == 2.5 and c.evolve.workers == 3
    assert c.selection.params == {"lam": 5.0}
    # diagnose and selfmod take the task model when they have none of their own
    assert c.models.diagnose.model == "openai/local" and c.models.selfmod.api_base == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize("override, words", [
    ("evolve.iterationz=3", ["evolve.iterationz", "evolve.iterations"]),
    ("evolve.workers=two", ["evolve.workers", "int"]),
    ("selection.strategy=worst", ["selection.strategy", "score_child_prop"]),
    ("dataset.gate=1.5", ["dataset.gate"]),
    ("dataset.stages=[3, 99]", ["dataset.stages[1]"]),
    ("dataset.stages=[\"nope__1\"]", ["nope__1"]),
    ("selection.params={bogus = 1}", ["selection.params", "bogus"]),
    ("policy.name=greedy", ["policy.name", "dgm", "hgm", "sequential"]),
    ("policy.params={delta = 2.0}", ["policy", "delta"]),
    ("policy.strategy=worst", ["policy", "worst", "lower_bound"]),
])
def test_bad_keys_and_values_name_the_key(dataset: Path, tmp_path: Path, override: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        c = options.resolve(None, base(dataset, tmp_path) + [override])
        from dgm.evolve.tasks import plan_tasks

        plan_tasks(c)
    for word in words:
        assert word in str(err.value)


def test_no_model_names_the_setting_and_the_key_variable(dataset: Path, tmp_path: Path, monkeypatch) -> None:
    out = subprocess.run([sys.executable, "-m", "dgm.evolve", "-c", f"dataset.path={dataset}",
                          "-c", f"run.dir={tmp_path / 'r'}"], capture_output=True, text=True)
    assert out.returncode == 2
    line = out.stderr.strip()
    assert "\n" not in line and "models.task.model" in line and "ANTHROPIC_API_KEY" in line
    assert not (tmp_path / "r").exists()  # nothing was created before the check
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        options.resolve(None, [f'dataset.path="{dataset}"', "models.task.model=anthropic/claude-sonnet-4-5"])


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "tasks.jsonl").write_text((REPO / "datasets" / "toy" / "toy.jsonl").read_text())
    (folder / "script.json").write_text('{"rules": [{"match": null, "replies": [{"content": "x"}]}]}')
    (folder / "run.toml").write_text('[dataset]\npath = "tasks.jsonl"\n[models.task]\nscripted = "script.json"\n'
                                     '[run]\ndir = "out"\n')
    c = options.resolve(folder / "run.toml", [])
    assert c.dataset.path == str(folder / "tasks.jsonl") and c.run.dir == str(folder / "out")
    assert c.models.selfmod.scripted == str(folder / "script.json")


def test_resume_refuses_a_conflicting_config(dataset: Path, tmp_path: Path) -> None:
    c = options.resolve(None, base(dataset, tmp_path))
    options.write(c, Path(c.run.dir))
    with pytest.raises(ConfigError, match="already holds a run"):
        options.resolve(None, base(dataset, tmp_path))
    again = options.resolve(None, ["budget.usd=20", "evolve.iterations=4"], resume=Path(c.run.dir))
    assert again.budget.usd == 20 and again.evolve.iterations == 4 and again.models.task.model == "openai/local"
    other = tmp_path / "other.toml"
    other.write_text(f'[dataset]\npath = "{dataset}"\nstages = [2]\n[models.task]\nmodel = "openai/local"\n'
                     'api_base = "http://127.0.0.1:9/v1"\n')
    with pytest.raises(ConfigError, match="dataset.stages"):
        options.resolve(other, [], resume=Path(c.run.dir))
    with pytest.raises(ConfigError, match="cannot resume"):
        options.resolve(None, [], resume=tmp_path / "nothing-here")


def test_show_config_round_trips(dataset: Path, tmp_path: Path) -> None:
    c = options.resolve(None, base(dataset, tmp_path) + ["dataset.stages=[1, 2]"])
    text = config_io.dumps(c)
    path = tmp_path / "again.toml"
    path.write_text(text)
    back = config_io.build([(config_io.flatten(config_io.load_file(path)), tmp_path)])
    assert config_io.flat_values(back) == config_io.flat_values(c)


def test_show_config_needs_no_model_and_starts_nothing(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "dgm.evolve", "--show-config", "-c", "evolve.iterations=7",
                          "-c", f"run.dir={tmp_path / 'r'}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "iterations = 7" in out.stdout and "[limits.sandbox]" in out.stdout
    assert not (tmp_path / "r").exists()
