"""`dgm simulate`: bad input is one line naming the valid choices (exit 2); a small run prints the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgm.cli import main


@pytest.mark.parametrize("argv,message", [
    (["--policies", "dgm,greedy"], "unknown policy greedy (valid: dgm, hgm, sequential)"),
    (["--strategies", "bogus"], "unknown strategy bogus (valid: score_child_prop, score_prop, best, random, "
                                "hgm_thompson, performance_novelty, lower_bound)"),
    (["-w", "broken=1.5"], "world.broken = 1.5 is out of range (give a value in [0.0, 1.0])"),
    (["-w", "mutation_sd=-1"], "world.mutation_sd = -1 is out of range (give a value in [0.0, 3.0])"),
    (["-w", "clusterz=3"], "unknown world parameter 'clusterz'"),
    (["-w", "broken"], "is not KEY=VALUE"),
    (["--seeds", "0"], "--seeds 0 must be at least 1"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_world_file_errors_name_the_key(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    world = tmp_path / "world.toml"
    world.write_text("[world]\ntask_spread = 9.0\n")
    assert main(["simulate", "--world", str(world)]) == 2
    assert "world.task_spread = 9.0 is out of range (give a value in [0.0, 6.0])" in capsys.readouterr().err


def test_a_small_run_prints_the_table_and_writes_the_plot(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    plot = tmp_path / "sim.png"
    code = main(["simulate", "--seeds", "1", "--iterations", "3", "--workers", "4", "--archive", "memory",
                 "--strategies", "score_child_prop,hgm_thompson", "--plot", str(plot)])
    out = capsys.readouterr().out
    assert code == 0
    for policy in ("dgm", "hgm", "sequential"):
        assert policy in out
    assert out.count("hgm_thompson") >= 3 and "q@dgm evals" in out
    assert plot.is_file() and plot.stat().st_size > 10_000


def test_help_explains(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    out = capsys.readouterr().out
    assert "Bernoulli" in out and "sequential" in out and "--seeds" in out
