"""The grader's own record of a unittest run (Django's runtests.py), kept apart from the log.

Imported at interpreter start (first on PYTHONPATH, before any project code). It wraps
unittest.TextTestRunner.run to write the result's counts when the run returns, and checks
then that unittest's result and case machinery was not replaced or patched since start-up.
Only the first interpreter that sees the environment variables records (they are removed).
"""

import json
import os
import sys

# The grader's descriptor (the exec's own output stream) and the nonce that frames the record.
_fdnum = os.environ.pop("DGM_GUARD_FD", None)
_nonce = os.environ.pop("DGM_GUARD_NONCE", None)
_fd = None
if _fdnum and _nonce:
    try:
        _fd = os.dup(int(_fdnum))
        os.close(int(_fdnum))
    except (OSError, ValueError):
        _fd = None

if _fd is not None:
    import unittest
    import unittest.case
    import unittest.result
    import unittest.runner
    import unittest.suite

    _orig_run = unittest.runner.TextTestRunner.run

    def _run(self, test):
        result = _orig_run(self, test)
        _write(result)
        return result

    unittest.runner.TextTestRunner.run = _run
    _CLASSES = [unittest.result.TestResult, unittest.runner.TextTestResult, unittest.runner.TextTestRunner,
                unittest.case.TestCase, unittest.suite.TestSuite, unittest.suite.BaseTestSuite]
    _SNAP = [(cls, dict(vars(cls))) for cls in _CLASSES]
    _MODS = {name: sys.modules[name] for name in ("unittest", "unittest.case", "unittest.result",
                                                  "unittest.runner", "unittest.suite")}

    def _changes():
        found = [f"module {n} was replaced" for n, m in _MODS.items() if sys.modules.get(n) is not m]
        for name, module in _MODS.items():
            for attr in ("TestResult", "TextTestResult", "TextTestRunner", "TestCase", "TestSuite"):
                if hasattr(module, attr) and getattr(module, attr) not in _CLASSES:
                    found.append(f"{name}.{attr} was replaced")
        for cls, attrs in _SNAP:
            now = dict(vars(cls))
            for attr in set(attrs) | set(now):
                if attr not in ("__dict__", "__weakref__") and attrs.get(attr, _changes) is not now.get(attr, _changes):
                    found.append(f"{cls.__module__}.{cls.__name__}.{attr} was patched")
        return found

    def _write(result):
        global _fd
        if _fd is None:
            return
        try:
            problems = _changes()
        except Exception as exc:  # noqa: BLE001 - a check that cannot run is itself a finding
            problems = [f"the guard's check failed: {type(exc).__name__}"]
        record = {"format": "dgm-unittest-guard-1", "complete": True, "tests_run": int(result.testsRun),
                  "failures": len(result.failures), "errors": len(result.errors),
                  "unexpected_successes": len(getattr(result, "unexpectedSuccesses", ())),
                  "successful": bool(result.wasSuccessful()), "tampered": problems}
        data = ("\n%s %s %s\n" % (_nonce, json.dumps(record), _nonce)).encode()
        fd, _fd = _fd, None
        try:
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
