"""Files the grader puts into a test sandbox (under /tmp/dgm) after the model patch is applied.

They run inside the sandbox, under the task's Python (3.9 or newer) and pytest (4.4 or newer):
standard library and pytest only, nothing from dgm.
"""
