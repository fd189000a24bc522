"""The outer loop of the Darwin Gödel Machine: select, diagnose, self-modify, verify, admit."""
