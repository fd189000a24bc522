"""Crash safety for real: a writer process is SIGKILLed at random moments, repeatedly."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from dgm.archive import Archive
from dgm.archive.fsck import fsck

WRITER = Path(__file__).with_name("crash_writer.py")


def _assert_consistent(run: Path) -> None:
    report = fsck(run)
    assert report.ok, report.problems
    with Archive.open(run) as archive:
        nodes = archive.nodes()
        refs = archive.git.refs()
        types = archive.git.object_types([n.commit for n in nodes])
        assert set(refs) == {n.id for n in nodes}
        for n in nodes:
            assert refs[n.id] == n.commit
            assert types[n.commit] == "commit"
        assert [n.id for n in nodes] == [str(i) for i in range(len(nodes))]


def test_sigkill_at_random_moments_leaves_a_consistent_archive(tmp_path: Path, make_tree) -> None:
    run = tmp_path / "run"
    Archive.create(run, make_tree(0, "seed")).close()
    rng = random.Random(20261127)
    sizes = []
    for round_ in range(12):
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(run), str(tmp_path / f"w{round_}"), str(round_)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        assert proc.stdout.readline().strip() == b"ready", proc.stderr.read()
        time.sleep(rng.uniform(0.02, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _assert_consistent(run)
        with Archive.open(run) as archive:
            sizes.append(len(archive))
    # The writer really was writing when it died.
    assert sizes[-1] > 5 and sizes == sorted(sizes)


def test_sigkill_between_ref_and_row_is_recovered(tmp_path: Path, make_tree) -> None:
    """Hold SQLite's write lock so the writer stops exactly after its ref, then kill it."""
    import sqlite3

    run = tmp_path / "run"
    Archive.create(run, make_tree(0, "seed")).close()
    blocker = sqlite3.connect(run / "archive.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(run), str(tmp_path / "w"), "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout.readline().strip() == b"ready", proc.stderr.read()
        residue = run / "archive.git" / "refs" / "dgm" / "nodes" / "1"
        deadline = time.monotonic() + 20
        while not residue.exists():
            assert time.monotonic() < deadline, "the writer never wrote its ref"
            time.sleep(0.01)
        # A reader opening now must not mistake the live writer's ref for residue.
        with Archive.open(run) as reader:
            assert reader.recover() == []
        assert residue.exists()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
        blocker.execute("ROLLBACK")
        blocker.close()
    report = fsck(run)
    assert report.ok, report.problems
    assert report.repaired == ["removed ref refs/dgm/nodes/1 left by an interrupted add"]
    assert not residue.exists()
    _assert_consistent(run)
    with Archive.open(run) as archive:
        assert len(archive) == 1
        assert archive.add_node("0", make_tree(1)).id == "1"
