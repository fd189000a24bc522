"""Instruments for what self-improvement depends on: the generation–verification gap, diversity, and
which verifier catches what. Everything here is a function of (archive, results, artifacts), so it runs
on any run, finished or running (`dgm analyze`, the report)."""
