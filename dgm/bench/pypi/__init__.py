"""Rebuild real SWE-bench instances from PyPI releases (no GitHub, no registry)."""

from __future__ import annotations

from dgm.bench.pypi.recipe import recipe_for_release

__all__ = ["recipe_for_release"]
