"""The tools the model can call: their JSON schemas and how each call is carried out."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from .editor import EditError, Editor
from .shell import BashSession, clip


class Submitted(Exception):
    """The model called submit: the run is over and the repository holds its answer."""


SCHEMAS = [
    {"type": "function", "function": {
        "name": "bash",
        "description": ("Run a command in a persistent bash shell (the working directory and exported "
                        "variables persist between calls). Output is stdout and stderr together, "
                        "truncated when long. Commands get no stdin; do not start interactive programs."),
        "parameters": {"type": "object", "properties": {
            "command": {"type": "string", "description": "the bash command to run"},
            "timeout": {"type": "integer", "description": "seconds before the command is killed (optional)"},
        }, "required": ["command"]}}},
    {"type": "function", "function": {
        "name": "editor",
        "description": ("View and edit files. Paths are relative to the repository root or absolute. "
                        "view: show a file with line numbers (view_range [start, end], end -1 = last line) "
                        "or list a directory. create: write a whole file. str_replace: replace old_str, "
                        "which must occur exactly once, with new_str. insert: add new_str after line "
                        "insert_line (0 = top of file). undo_edit: revert the last edit of a file."),
        "parameters": {"type": "object", "properties": {
            "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"]},
            "path": {"type": "string"},
            "view_range": {"type": "array", "items": {"type": "integer"}},
            "file_text": {"type": "string"},
            "old_str": {"type": "string"},
            "new_str": {"type": "string"},
            "insert_line": {"type": "integer"},
        }, "required": ["command", "path"]}}},
    {"type": "function", "function": {
        "name": "submit",
        "description": "Finish: call this once the issue is fixed and the tests pass. The repository's "
                       "current state is the answer.",
        "parameters": {"type": "object", "properties": {
            "summary": {"type": "string", "description": "one or two sentences on what you changed"},
        }, "required": []}}},
]


class Toolbox:
    """Carries out tool calls against one repository; every failure becomes text for the model."""

    def __init__(self, repo: str, *, command_timeout: float = 120.0, max_output: int = 10000) -> None:
        self.shell = BashSession(repo, timeout=command_timeout, max_output=max_output)
        self.editor = Editor(repo)
        self.max_output = max_output
        self.schemas = SCHEMAS

    def close(self) -> None:
        self.shell.close()

    def call(self, name: str, raw_arguments: Any, time_left: Optional[float] = None) -> str:
        """Run one tool call; raises Submitted for submit, returns the observation otherwise."""
        # Lone surrogates (from undecodable file bytes) are not valid in a JSON request.
        return self._call(name, raw_arguments, time_left).encode("utf-8", "surrogatepass").decode("utf-8", "replace")

    def _call(self, name: str, raw_arguments: Any, time_left: Optional[float]) -> str:
        try:
            args = raw_arguments if isinstance(raw_arguments, dict) else json.loads(raw_arguments or "{}")
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as exc:
            return "error: the arguments are not valid JSON (%s); send a JSON object" % exc
        if name == "submit":
            raise Submitted(str(args.get("summary") or ""))
        try:
            if name == "bash":
                return self.bash(args, time_left)
            if name == "editor":
                return clip(self.edit(args), self.max_output)
        except EditError as exc:
            return "error: %s" % exc
        except (KeyError, TypeError, ValueError) as exc:
            return "error: bad arguments for %s (%s: %s)" % (name, type(exc).__name__, exc)
        except OSError as exc:
            return "error: %s" % exc
        return "error: unknown tool %r; the tools are bash, editor and submit" % name

    def bash(self, args: Dict[str, Any], time_left: Optional[float]) -> str:
        command = args["command"]
        if not isinstance(command, str) or not command.strip():
            raise ValueError("command must be a non-empty string")
        timeout = float(args.get("timeout") or self.shell.timeout)
        if time_left is not None:
            timeout = max(1.0, min(timeout, time_left))
        return self.shell.run(command, timeout=timeout)

    def edit(self, args: Dict[str, Any]) -> str:
        cmd, path = args["command"], args["path"]
        if cmd == "view":
            return self.editor.view(path, args.get("view_range"))
        if cmd == "create":
            return self.editor.create(path, args["file_text"])
        if cmd == "str_replace":
            return self.editor.str_replace(path, args["old_str"], args.get("new_str") or "")
        if cmd == "insert":
            return self.editor.insert(path, int(args["insert_line"]), args["new_str"])
        if cmd == "undo_edit":
            return self.editor.undo_edit(path)
        raise EditError("unknown editor command %r" % cmd)
