"""SWE-bench-format tasks: loading, offline environment images, validation, grading."""
