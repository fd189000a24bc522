"""The persistent bash session."""

from __future__ import annotations

from coder.shell import BashSession, clip


def test_state_persists_between_commands(tmp_path):
    shell = BashSession(str(tmp_path), timeout=10)
    try:
        (tmp_path / "sub").mkdir()
        shell.run("cd sub && export GREETING=hello")
        out = shell.run("pwd; echo $GREETING")
        assert out.splitlines()[:2] == [str(tmp_path / "sub"), "hello"]
        assert "[exit code: 0]" in out
        assert "[exit code: 7]" in shell.run("(exit 7)")
    finally:
        shell.close()


def test_timeout_kills_and_restarts_the_shell(tmp_path):
    shell = BashSession(str(tmp_path), timeout=10)
    try:
        shell.run("export MARK=1")
        out = shell.run("echo started; sleep 30", timeout=1)
        assert "started" in out and "timed out after 1s" in out and "restarted" in out
        after = shell.run("echo alive:$MARK")
        assert "alive:" in after and "alive:1" not in after  # a fresh shell
    finally:
        shell.close()


def test_long_output_is_truncated_with_a_note(tmp_path):
    shell = BashSession(str(tmp_path), timeout=20, max_output=1000)
    try:
        out = shell.run("seq 1 300000")
        assert len(out) < 1500
        assert "output truncated" in out and "300000" in out  # head and tail both kept
        assert out.startswith("1\n2\n")
    finally:
        shell.close()


def test_syntax_errors_and_exit_do_not_hang(tmp_path):
    shell = BashSession(str(tmp_path), timeout=5)
    try:
        out = shell.run('echo "unclosed')
        assert "timed out" not in out and "[exit code: 2]" in out
        assert "shell exited" in shell.run("exit 4")
        assert "back" in shell.run("echo back")
        assert "timed out" not in shell.run("cat")  # no stdin: cat returns at once
    finally:
        shell.close()


def test_clip_keeps_head_and_tail():
    text = "a" * 100 + "b" * 100
    out = clip(text, 60)
    assert out.startswith("a" * 40) and out.endswith("b" * 20) and "truncated" in out
    assert clip("short", 60) == "short"


def test_a_closed_session_leaves_no_scratch_folder(tmp_path):
    import os

    shell = BashSession(str(tmp_path), timeout=10)
    shell.run("echo one")
    first = shell.scratch
    assert os.path.isdir(first)
    shell.run("sleep 5", timeout=1)  # a restart cleans up too
    assert not os.path.exists(first)
    shell.run("echo two")
    second = shell.scratch
    shell.close()
    assert not os.path.exists(second)
