"""The grader's own record of a pytest run, kept apart from the log the code under test can write to.

Loaded with `-p dgm_pytest_guard` before the project's code is imported. It records each test's
outcome from the raw call information of every phase, checks at the end that pytest's reporting
machinery was not replaced or patched since it loaded, and writes one JSON record to a file
descriptor the grader opened for it: the exec's own output stream, which the tests' output does
not go to. The record is framed by a nonce only it knew (both taken from the environment, then
removed from it), so nothing written to that stream without the nonce reads as a record, and a
record in a file could be rewritten by the code under test after the run.
"""

import json
import os
import sys

import pytest

_fdnum = os.environ.pop("DGM_GUARD_FD", None)
_nonce = os.environ.pop("DGM_GUARD_NONCE", None)
_fd = None
if _fdnum and _nonce:
    try:  # a private copy, not inherited; the shared descriptor is closed for everyone after us
        _fd = os.dup(int(_fdnum))
        os.close(int(_fdnum))
    except (OSError, ValueError):
        _fd = None

_MODULES = ("pytest", "_pytest.runner", "_pytest.reports", "_pytest.terminal", "_pytest.main",
            "_pytest.python", "_pytest.unittest", "_pytest.skipping", "_pytest.outcomes",
            "_pytest.capture", "_pytest.config", "pluggy", "pluggy._callers", "pluggy.callers",
            "pluggy._hooks", "pluggy.hooks", "pluggy._manager", "pluggy.manager", "pluggy._result",
            "pluggy.result", "_pytest._io.terminalwriter", "py._io.terminalwriter")
# Hooks whose callers decide or print outcomes.
_HOOKS = ("pytest_runtest_protocol", "pytest_runtest_setup", "pytest_runtest_call",
          "pytest_runtest_teardown", "pytest_runtest_makereport", "pytest_runtest_logreport",
          "pytest_report_teststatus", "pytest_pyfunc_call", "pytest_terminal_summary",
          "pytest_sessionfinish", "pytest_runtestloop")


# Attributes pytest's own legacypath plugin sets on its classes when it configures.
_PYTEST_SETS = {"startdir", "rootdir", "inifile", "invocation_dir", "_getini_unknown_type", "fspath",
                "_pytest_diamond_inheritance_warning_shown"}
_MISSING = object()


def _same(a, b):
    # bound methods are made anew on each lookup: equal when function and instance are
    return a is b or (hasattr(a, "__func__") and hasattr(a, "__self__") and a == b)


def _data(value):
    return value is _MISSING or not (callable(value) or hasattr(value, "__get__"))


def _import(name):
    try:
        __import__(name)
    except Exception:  # noqa: BLE001 - modules differ across pytest and pluggy versions
        return None
    return sys.modules.get(name)


def _snapshot():
    """Every function and class of the runner's modules, and every class's own attributes."""
    modules, classes = {}, {}
    for name in _MODULES:
        module = _import(name)
        if module is None:
            continue
        entries = {}
        for attr, value in list(vars(module).items()):
            if callable(value) or isinstance(value, type):
                entries[attr] = value
                if isinstance(value, type) and getattr(value, "__module__", None) == name:
                    classes[f"{name}.{attr}"] = (value, dict(vars(value)))
        modules[name] = (module, entries)
    return modules, classes


_MOD_SNAP, _CLASS_SNAP = _snapshot()
_tests = {}
_order = []
_problems = []
_hook_snap = {}
_config = None


def _changes():
    found = []
    for name, (module, entries) in _MOD_SNAP.items():
        if sys.modules.get(name) is not module:
            found.append(f"module {name} was replaced in sys.modules")
        now = vars(module)
        for attr, value in entries.items():
            if now.get(attr) is not value:
                found.append(f"{name}.{attr} was replaced")
    for qual, (cls, attrs) in _CLASS_SNAP.items():
        now = dict(vars(cls))
        for attr in set(attrs) | set(now):
            old, new = attrs.get(attr, _MISSING), now.get(attr, _MISSING)
            if attr in ("__dict__", "__weakref__", "__abstractmethods__", "_abc_impl") or old is new:
                continue
            if (_data(old) and _data(new)) or attr in _PYTEST_SETS:
                continue
            found.append(f"{qual}.{attr} was patched")
    if _config is not None:
        pm = _config.pluginmanager
        for attr, value in _hook_snap.items():
            if attr.startswith("pm.") and not _same(value, getattr(pm, attr[3:], None)):
                found.append(f"the plugin manager's {attr[3:]} was replaced")
            elif attr.startswith("hook."):
                caller = getattr(pm.hook, attr[5:], None)
                if caller is not value[0] or not _same(value[1], getattr(caller, "_hookexec", None)):
                    found.append(f"the hook caller of {attr[5:]} was replaced")
    return found


def _classify(item, call):
    excinfo = call.excinfo
    if excinfo is None:
        return "ok"
    outcomes = sys.modules.get("_pytest.outcomes")
    skipped = getattr(outcomes, "Skipped", ()) if outcomes else ()
    xfailed = getattr(outcomes, "XFailed", ()) if outcomes else ()
    import unittest

    kinds = tuple(k for k in (skipped, unittest.SkipTest) if isinstance(k, type))
    if kinds and excinfo.errisinstance(kinds):
        return "skipped"
    if (isinstance(xfailed, type) and excinfo.errisinstance(xfailed)) or (
            call.when == "call" and item.get_closest_marker("xfail") is not None):
        return "xfailed"
    return "failed"


def pytest_configure(config):
    global _config
    _config = config
    pm = config.pluginmanager
    for attr in ("_hookexec", "_inner_hookexec"):
        if hasattr(pm, attr):
            _hook_snap["pm." + attr] = getattr(pm, attr)
    for name in _HOOKS:
        caller = getattr(pm.hook, name, None)
        if caller is not None:
            _hook_snap["hook." + name] = (caller, getattr(caller, "_hookexec", None))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Read the phase's raw outcome before any report object exists (no hookwrapper: first impl)."""
    nodeid = item.nodeid
    try:
        nodeid = item.config.cwd_relative_nodeid(nodeid)
    except Exception:  # noqa: BLE001 - older pytest
        pass
    if nodeid not in _tests:
        _tests[nodeid] = {}
        _order.append(nodeid)
    _tests[nodeid][call.when] = _classify(item, call)



def _status(phases):
    if phases.get("setup") == "skipped" or phases.get("call") == "skipped":
        return "SKIPPED"
    if phases.get("setup") == "failed" or phases.get("teardown") == "failed":
        return "ERROR"
    if phases.get("call") == "xfailed":
        return "XFAIL"
    if phases.get("call") == "failed":
        return "FAILED"
    if phases.get("call") == "ok":
        return "PASSED"
    return "ERROR"


def pytest_sessionstart(session):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        _hook_snap["reporter"] = (reporter, getattr(reporter, "_tw", None),
                                  {k: v for k, v in vars(reporter).items() if callable(v)})


def pytest_sessionfinish(session, exitstatus):
    _hook_snap["exitstatus"] = int(exitstatus)


def _reporter_changes(config):
    found = []
    if "reporter" not in _hook_snap:
        return found
    reporter, writer, methods = _hook_snap["reporter"]
    if config.pluginmanager.get_plugin("terminalreporter") is not reporter:
        found.append("the terminal reporter was replaced")
    if getattr(reporter, "_tw", None) is not writer:
        found.append("the terminal reporter's writer was replaced")
    now = {k: v for k, v in vars(reporter).items() if callable(v)}
    for name in set(now) | set(methods):
        if not _same(methods.get(name), now.get(name)) and name != "_tw":
            found.append(f"the terminal reporter's {name} was patched")
    return found


def _project_plugins(config):
    """Plugins from the repository (other than conftest.py files) that implement outcome hooks."""
    found = []
    root = str(getattr(config, "rootpath", None) or getattr(config, "rootdir", "") or "")
    if not root:
        return found
    for plugin in config.pluginmanager.get_plugins():
        where = getattr(plugin, "__file__", None) or getattr(sys.modules.get(
            getattr(type(plugin), "__module__", ""), None), "__file__", None)
        if not where or not os.path.realpath(where).startswith(os.path.realpath(root) + os.sep):
            continue
        if os.path.basename(where) == "conftest.py":
            continue
        hooks = [h for h in _HOOKS if callable(getattr(plugin, h, None))]
        if hooks:
            found.append(f"a project module registered as a pytest plugin implements {hooks[0]}: {where}")
    return found


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    global _fd
    if _fd is None:
        return
    try:
        problems = _changes() + _reporter_changes(config) + _project_plugins(config)
    except Exception as exc:  # noqa: BLE001 - a check that cannot run is itself a finding
        problems = [f"the guard's check failed: {type(exc).__name__}: {exc}"]
    record = {"format": "dgm-pytest-guard-1", "complete": True,
              "exitstatus": _hook_snap.get("exitstatus"),
              "tests": [[nodeid, _status(_tests[nodeid])] for nodeid in _order],
              "tampered": problems + _problems}
    data = ("\n%s %s %s\n" % (_nonce, json.dumps(record), _nonce)).encode()
    fd, _fd = _fd, None
    try:
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)

