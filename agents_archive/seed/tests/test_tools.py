"""Tool dispatch: every call ends as text for the model, or as Submitted."""

from __future__ import annotations

import pytest

from coder.tools import Submitted, Toolbox


@pytest.fixture
def tools(tmp_path):
    box = Toolbox(str(tmp_path), command_timeout=10)
    yield box
    box.close()


def test_arguments_as_json_text_or_object(tools, tmp_path):
    assert "hello" in tools.call("bash", '{"command": "echo hello"}')
    assert "hello" in tools.call("bash", {"command": "echo hello"})
    assert tools.call("bash", "[1]").startswith("error: the arguments are not valid JSON")
    assert "bad arguments for editor" in tools.call("editor", {"command": "view"})
    assert "unknown tool" in tools.call("browser", {})


def test_submit_ends_the_run(tools):
    with pytest.raises(Submitted, match="all done"):
        tools.call("submit", {"summary": "all done"})


def test_tool_observations_are_valid_unicode(tools, tmp_path):
    (tmp_path / "latin.py").write_bytes(b"name = '\xe9'\n")
    out = tools.call("editor", {"command": "str_replace", "path": "latin.py", "old_str": "name", "new_str": "x"})
    out.encode("utf-8")  # would raise on a lone surrogate
    assert "\ufffd" in out
