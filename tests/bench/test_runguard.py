"""The plugin probe's shell, as testrun uses it: redirected to a file, then read back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from dgm.bench.runguard import probe_command


def test_the_probe_writes_its_list_where_it_is_redirected(tmp_path: Path) -> None:
    out = tmp_path / "plugins.json"
    shell = f"{probe_command()} > {out}; cat {out}"
    result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert isinstance(json.loads(result.stdout.strip().splitlines()[-1]), list)
    assert isinstance(json.loads(out.read_text()), list)
