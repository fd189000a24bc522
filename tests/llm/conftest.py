"""Fixtures for the model gateway tests: short socket directories and settings for a scripted server."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from dgm.llm import ModelSettings, ScriptedModelServer


@pytest.fixture
def short_dir() -> Path:
    """A directory with a short path: unix socket paths must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="dgm-llm-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _settings(server: ScriptedModelServer, **overrides) -> ModelSettings:
    values = dict(model="openai/scripted", api_base=server.url, price_in_per_mtok=1.0, price_out_per_mtok=2.0,
                  timeout=5.0, max_retries=3, retry_base_seconds=0.01, retry_max_seconds=0.5)
    values.update(overrides)
    return ModelSettings(**values)


@pytest.fixture
def settings_for():
    """settings_for(server, **overrides): $1 / $2 per million tokens, fast retries, a short timeout."""
    return _settings
