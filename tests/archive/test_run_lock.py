"""Archive writers (`dgm archive add`, `init`) refuse a run directory a live process owns; readers do not care."""

from __future__ import annotations

from dgm.archive import Archive
from dgm.cli import main
from tests.test_locks import holder  # noqa: F401 - the fixture: a live process holding tmp_path/run


def test_archive_writers_refuse_a_held_run_and_readers_do_not_need_it(holder,  # noqa: F811
                                                                      make_tree, capsys) -> None:
    run, proc = holder
    Archive.create(run, make_tree(0, "seed")).close()
    assert main(["archive", "add", str(run), "--parent", "0", "--tree", str(make_tree(1))]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"dgm process {proc.pid}" in err
    with Archive.open(run) as archive:
        assert len(archive) == 1  # nothing was added
    assert main(["archive", "init", str(run), "--seed", str(make_tree(2))]) == 2
    assert f"dgm process {proc.pid}" in capsys.readouterr().err
    assert main(["archive", "show", str(run), "0"]) == 0 and main(["archive", "list", str(run)]) == 0
    proc.stdin.close()
    proc.wait()
    assert main(["archive", "add", str(run), "--parent", "0", "--tree", str(make_tree(3))]) == 0
