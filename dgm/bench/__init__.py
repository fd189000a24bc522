"""SWE-bench-format tasks: loading, offline environment images, validation, grading.

Names are imported lazily so `import dgm.bench` pulls in neither docker nor swebench.
"""

from __future__ import annotations

from dgm.lazy import lazy_exports

_EXPORTS = {
    "TaskInstance": "dgm.bench.instances",
    "load_instances": "dgm.bench.instances",
    "EnvRecipe": "dgm.bench.recipe",
    "recipe_for": "dgm.bench.makers",
    "TaskEnvironment": "dgm.bench.store",
    "BenchStore": "dgm.bench.store",
    "EvalResult": "dgm.bench.grading",
    "grade": "dgm.bench.grading",
    "build_environment": "dgm.bench.environment",
    "build_instance": "dgm.bench.build",
    "validate": "dgm.bench.validation",
    "drop_test_changes": "dgm.bench.patches",
    "Prediction": "dgm.bench.predictions",
    "read_predictions": "dgm.bench.predictions",
    "write_predictions": "dgm.bench.predictions",
    "grade_predictions": "dgm.bench.predictions",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
