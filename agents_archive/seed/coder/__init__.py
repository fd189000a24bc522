"""The seed coding agent: a tool loop over chat completions (standard library only)."""
