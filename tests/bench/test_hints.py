"""Hints of the fix in a rebuilt tree: the terms only the fix defines, release notes stripped, leaks found."""

from __future__ import annotations

from pathlib import Path

from dgm.bench.hints import STUB, clean_tree, fix_terms, series_key, strip_log
from dgm.bench.store import TaskEnvironment

GOLD = '''diff --git a/pkg/builders.py b/pkg/builders.py
--- a/pkg/builders.py
+++ b/pkg/builders.py
@@ -1,5 +1,11 @@
 def setup(app):
     app.add_config_value('man_pages', [], None)
+    app.add_config_value('man_make_section_directory', False, None)
+
+
+def section_dir(config, section):
+    label = "writing man pages into section directories"
+    return "man%s" % section if config.man_make_section_directory else ""
 
 
 def write(pages):
'''
PROBLEM = "Generated man pages should go into section directories (man/man1), as MANPATH expects; see write."

CHANGES = """Project changes
===============

Release 2.1.0 (in development)
==============================

Features added
--------------

* #12: man: add man_make_section_directory

Release 2.0.0 (released Jan 1, 2021)
====================================

* #10: something in 2.0

Release 1.9.0 (released Dec 1, 2020)
====================================

* #9: older entry naming section_dir
"""


def toy_tree(root: Path) -> Path:
    files = {
        "pkg/builders.py": "def setup(app):\n    app.add_config_value('man_pages', [], None)\n\n\ndef write(pages):\n"
                           "    pass\n",
        "CHANGES": CHANGES,
        "doc/config.rst": ".. confval:: man_make_section_directory\n\n   Put pages in section folders.\n",
        "doc/releases/2.0.txt": "2.0 release notes: man_make_section_directory\n",
        "doc/releases/1.9.txt": "1.9 release notes\n",
        "changelog/12.feature.rst": "Add section_dir\n",
        "pkg/uses.py": "from pkg.builders import write\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_terms_are_what_only_the_fix_defines():
    # man_pages is in the context lines, "section directories" and write in the problem statement
    assert fix_terms(GOLD, PROBLEM) == ["man_make_section_directory", "section_dir",
                                        "writing man pages into section directories"]
    assert fix_terms(GOLD, PROBLEM + " section_dir man_make_section_directory") == [
        "writing man pages into section directories"]
    assert fix_terms("not a diff", PROBLEM) == []


def test_sections_of_the_task_series_and_later_are_stripped():
    assert series_key("2.0") == (2, 0, 0) and series_key("0.12") == (0, 12, 0) and series_key("dev") is None
    text, removed = strip_log(CHANGES, (2, 0, 0))
    assert removed == ["2.1.0", "2.0.0"]
    assert text == ("Project changes\n===============\n\nRelease 1.9.0 (released Dec 1, 2020)\n"
                    "====================================\n\n* #9: older entry naming section_dir\n")
    assert strip_log(CHANGES, (3, 0, 0)) == (CHANGES, [])


def test_a_toy_tree_is_cleaned_and_what_still_leaks_is_recorded(tmp_path):
    tree = toy_tree(tmp_path / "src")
    report = clean_tree(tree, GOLD, PROBLEM, "2.0")
    assert report.found_before_strip == {
        "man_make_section_directory": ["CHANGES", "doc/config.rst", "doc/releases/2.0.txt"],
        "section_dir": ["CHANGES", "changelog/12.feature.rst"]}
    assert report.stripped == ["CHANGES: 2.1.0, 2.0.0", "changelog/12.feature.rst (unreleased entry)",
                               "doc/releases/2.0.txt"]
    # the 1.9 entry names section_dir too: it predates the task and stays, so the tree still leaks
    assert report.found == {"man_make_section_directory": ["doc/config.rst"], "section_dir": ["CHANGES"]}
    assert report.leaks and report.to_dict()["leaks"] is True
    assert (tree / "doc/releases/2.0.txt").read_text() == STUB
    assert (tree / "doc/releases/1.9.txt").read_text() == "1.9 release notes\n"
    assert not (tree / "changelog/12.feature.rst").exists()
    assert "#12" not in (tree / "CHANGES").read_text() and "#9" in (tree / "CHANGES").read_text()
    env = TaskEnvironment("x", "img", notes={"hints": report.to_dict()})
    assert env.leaks and not TaskEnvironment("y", "img", notes={"hints": {"leaks": False}}).leaks
    assert not TaskEnvironment("z", "img").leaks


def test_a_tree_with_nothing_to_find_does_not_leak(tmp_path):
    tree = toy_tree(tmp_path / "src")
    (tree / "doc/config.rst").unlink()
    (tree / "CHANGES").write_text("Release 1.9.0\n=============\n\n* #9\n")
    report = clean_tree(tree, GOLD, PROBLEM, "2.0")
    assert report.found == {} and not report.leaks


def test_resolve_rates_of_rebuilt_instances_say_so():
    from dgm.bench.labels import REBUILT, REBUILT_LITE, rate_label

    rebuilt = {"release": "3.3.0", "sdist": "Sphinx-3.3.0.tar.gz"}
    lite = TaskEnvironment("sphinx-doc__sphinx-8273", "img", notes=rebuilt)
    assert rate_label([lite]) == REBUILT_LITE == "SWE-bench Lite (rebuilt from releases)"
    assert rate_label([lite, TaskEnvironment("org__repo-1", "img", notes=rebuilt)]) == REBUILT
    assert rate_label([lite, TaskEnvironment("dgm-toy__calc-1", "img", notes={"kind": "local"})]) == ""
    assert rate_label([]) == ""
