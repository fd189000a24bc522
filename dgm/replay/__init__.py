"""Replay one agent on one task instance: live in a sandbox, from a recorded log, or as a printed trajectory."""
