"""Which tests are "around" a change, and how the task's test command is pointed at them (pure rules)."""

from __future__ import annotations

from dgm.bench.wider import compare, pick_tests, sources_of, wider_command

CALC = ["calc/__init__.py", "calc/arith.py", "calc/stats.py", "tests/conftest.py", "tests/test_arith.py",
        "tests/test_stats.py", "README.md"]
SKLEARN = ["sklearn/linear_model/_ridge.py", "sklearn/linear_model/tests/test_ridge.py",
           "sklearn/linear_model/tests/test_base.py", "sklearn/tests/test_ridge.py", "sklearn/tests/test_base.py"]


def test_the_test_file_named_for_the_module_comes_first_and_the_closest_of_them_first() -> None:
    assert pick_tests(["calc/stats.py"], CALC, set()) == ["tests/test_stats.py"]
    assert pick_tests(["sklearn/linear_model/_ridge.py"], SKLEARN, set()) == [
        "sklearn/linear_model/tests/test_ridge.py", "sklearn/tests/test_ridge.py"]
    django = ["django/db/models/query.py", "tests/queries/test_query.py", "tests/queries/tests.py"]
    assert pick_tests(["django/db/models/query.py"], django, set()) == ["tests/queries/test_query.py"]
    assert pick_tests(["pkg/sub/__init__.py"], ["pkg/tests/test_sub.py", "pkg/tests/test_pkg.py"], set()) == [
        "pkg/tests/test_sub.py"]


def test_the_hidden_test_files_are_never_picked_and_the_nearest_test_folder_stands_in() -> None:
    assert pick_tests(["calc/arith.py"], CALC, {"tests/test_arith.py"}) == ["tests/test_stats.py"]
    hidden = {"sklearn/linear_model/tests/test_ridge.py", "sklearn/tests/test_ridge.py"}
    assert pick_tests(["sklearn/linear_model/_ridge.py"], SKLEARN, hidden) == [
        "sklearn/linear_model/tests/test_base.py"]
    assert pick_tests(["calc/arith.py"], ["calc/arith.py", "tests/test_arith.py"], {"tests/test_arith.py"}) == []


def test_only_python_source_counts_and_the_runner_is_never_a_test_around_it() -> None:
    assert sources_of(["README.md", "tests/test_stats.py", "conftest.py", "setup.cfg", "calc/stats.py"]) == [
        "calc/stats.py"]
    assert pick_tests(["README.md", "tests/test_stats.py"], CALC, set()) == []
    assert "tests/conftest.py" not in pick_tests(["calc/arith.py"], CALC, {"tests/test_arith.py"})
    assert pick_tests(["django/x.py"], ["tests/runtests.py", "tests/test_x.py"], set()) == ["tests/test_x.py"]
    sqlite = ["django/db/backends/sqlite.py", "tests/test_sqlite.py"]   # Django's test settings, not a test
    assert pick_tests(["django/db/backends/sqlite.py"], sqlite, set(), repo="django/django") == []
    assert pick_tests(["django/db/backends/sqlite.py"], sqlite, set()) == ["tests/test_sqlite.py"]


def test_at_most_cap_files_in_the_patch_order_each_once() -> None:
    tree = [f"tests/test_m{i}.py" for i in range(8)] + [f"pkg/m{i}.py" for i in range(8)]
    changed = [f"pkg/m{i}.py" for i in (3, 1, 3, 7, 0, 2, 5)]
    assert pick_tests(changed, tree, set()) == [f"tests/test_m{i}.py" for i in (3, 1, 7, 0, 2)]
    assert pick_tests(changed, tree, set(), cap=2) == ["tests/test_m3.py", "tests/test_m1.py"]


def test_the_command_runs_the_picked_files_in_the_form_it_names_the_hidden_ones() -> None:
    assert wider_command("python -m pytest -rA -p no:cacheprovider tests/test_arith.py", ["tests/test_arith.py"],
                         ["tests/test_stats.py", "tests/a b.py"]) == (
        "python -m pytest -rA -p no:cacheprovider tests/test_stats.py 'tests/a b.py'")
    assert wider_command("./tests/runtests.py --verbosity 2 --parallel 1 queries.test_q queries.tests",
                         ["tests/queries/test_q.py", "tests/queries/tests.py"], ["tests/queries/test_query.py"]) == (
        "./tests/runtests.py --verbosity 2 --parallel 1 queries.test_query")
    assert wider_command("pytest -rA a/tests/test_x.py", ["b/test_y.py"], ["c/test_c.py"]) is None
    assert wider_command("pytest -rA a/tests/test_xy.py", ["a/tests/test_x.py"], ["c/test_c.py"]) is None


def test_a_break_is_a_test_that_passed_before_and_failed_errored_or_vanished_after() -> None:
    before = {"t::a": "PASSED", "t::b": "PASSED", "t::c": "PASSED", "t::d": "FAILED", "t::e": "PASSED"}
    after = {"t::a": "PASSED", "t::b": "FAILED", "t::c": "ERROR", "t::d": "FAILED", "t::f": "PASSED"}
    tests, breaks, truncated = compare(before, after)
    assert breaks == ["t::b", "t::c", "t::e"] and not truncated
    assert tests["t::e"] == ["PASSED", None] and tests["t::f"] == [None, "PASSED"]
    tests, breaks, truncated = compare(before, after, cap=2)
    assert list(tests) == ["t::b", "t::c"] and truncated
