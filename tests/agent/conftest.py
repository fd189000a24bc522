"""Fixtures for the agent runner: the agent image, and a relay in front of a scripted model."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def agent_image(base_image) -> str:
    from dgm.agent import ensure_agent_image

    return ensure_agent_image()


@pytest.fixture
def scripted_relay():
    """scripted_relay(replies) -> (relay, server): the real Relay and Gateway over litellm to a loopback script."""
    from dgm.llm import Gateway, ModelSettings, Relay, ScriptedModelServer

    started = []
    dirs = []

    def make(replies: list[dict]):
        server = ScriptedModelServer({"sequence": replies}).start()
        settings = ModelSettings(model="openai/scripted", api_base=server.url, price_in_per_mtok=1.0,
                                 price_out_per_mtok=2.0, timeout=30.0, max_retries=0)
        gateway = Gateway({"task": settings})
        short = Path(tempfile.mkdtemp(prefix="dgm-ag-", dir="/tmp"))  # socket paths must stay short
        dirs.append(short)
        relay = Relay(gateway, short / "relay").start()
        started.append((relay, server))
        return relay, server

    yield make
    for relay, server in started:
        relay.stop()
        server.stop()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def tool(name: str, **arguments) -> dict:
    """A scripted model reply making one tool call."""
    return {"content": None, "tool_calls": [{"name": name, "arguments": arguments}]}
