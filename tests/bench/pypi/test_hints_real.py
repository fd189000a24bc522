"""The issue's own example of a leak, on the real release: Sphinx 3.3.0 with sphinx-8273 reversed."""

from __future__ import annotations

from pathlib import Path

from dgm.bench.hints import clean_tree
from dgm.bench.instances import load_instances
from dgm.bench.pypi.releases import download_sdist
from dgm.bench.pypi.reverse import reverse_patches, unpack

LITE = Path(__file__).resolve().parents[3] / "datasets" / "swebench_lite.jsonl"


def test_sphinx_8273_changelog_is_stripped_and_its_docs_still_leak(tmp_path: Path) -> None:
    inst = load_instances(LITE, ids=["sphinx-doc__sphinx-8273"])[0]
    tree = unpack(download_sdist("Sphinx", "3.3.0"), tmp_path / "src")  # the release map's choice
    reverse_patches(tree, inst.patch, inst.test_patch)
    assert "man_make_section_directory" not in inst.problem_statement
    report = clean_tree(tree, inst.patch, inst.problem_statement, inst.version)
    assert report.terms == ["man_make_section_directory"]
    assert report.found_before_strip == {"man_make_section_directory": ["CHANGES", "doc/usage/configuration.rst"]}
    assert report.stripped == ["CHANGES: 3.3.0"]
    assert "Release 3.3.0" not in (tree / "CHANGES").read_text() and "Release 3.2.1" in (tree / "CHANGES").read_text()
    assert report.found == {"man_make_section_directory": ["doc/usage/configuration.rst"]} and report.leaks
