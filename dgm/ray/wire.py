"""What crosses between the driver and a worker node, as plain data with size caps.

Trees go out as tar bytes; outcomes come back as JSON bytes plus the files an item wrote in its
output folder. The driver reads what comes back as it reads what a sandbox wrote: parsed, capped,
names checked, usage recomputed from its own ledger.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import types
import typing
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dgm.artifacts import ArtifactInvalid
from dgm.artifacts.trajectory import parse_trajectory
from dgm.evolve.items import AgentOutcome, CheckOutcome, EvalOutcome

TREE_CAP = 64 * 1024 * 1024        # an agent tree as tar bytes
OUTCOME_CAP = 32 * 1024 * 1024     # one outcome as JSON
FILE_CAP = 8 * 1024 * 1024         # one output file
FILES_CAP = 32 * 1024 * 1024       # all output files of one item
MAX_FILES = 64
# The driver's relay records the item's model calls itself; a worker never writes that file.
DRIVER_FILES = {"llm_calls.jsonl"}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}(/[A-Za-z0-9_][A-Za-z0-9._-]{0,99}){0,3}$")


class WireRefused(ValueError):
    """Data from a worker node that the driver will not use."""


def pack_tree(tree: Path) -> bytes:
    """A loop-owned checkout as tar bytes (links kept as links, as the archive holds them)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(Path(tree).rglob("*")):
            tar.add(path, arcname=str(path.relative_to(tree)), recursive=False)
    data = buf.getvalue()
    if len(data) > TREE_CAP:
        raise WireRefused(f"agent tree {tree} is {len(data)} bytes as tar, over {TREE_CAP}")
    return data


def unpack_tree(data: bytes, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(dest, filter="tar")
    return dest


def collect_files(out_dir: Path) -> dict[str, bytes]:
    """The regular files an item wrote in OUT_DIR (worker side), within the caps."""
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(out_dir.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        name = str(path.relative_to(out_dir))
        size = path.stat().st_size
        if not _NAME.match(name) or name in DRIVER_FILES or size > FILE_CAP or total + size > FILES_CAP \
                or len(files) >= MAX_FILES:
            continue
        files[name] = path.read_bytes()[:FILE_CAP]
        total += len(files[name])
    return files


def write_files(files: Any, out_dir: Path) -> int:
    """Write what a worker returned into the item's output folder on the driver; refuse odd names."""
    if not isinstance(files, dict) or len(files) > MAX_FILES:
        raise WireRefused("output files: not a table of at most {MAX_FILES} names")
    total = sum(len(v) for v in files.values() if isinstance(v, bytes))
    if total > FILES_CAP:
        raise WireRefused(f"output files: {total} bytes, over {FILES_CAP}")
    for name, data in files.items():
        if not isinstance(name, str) or not isinstance(data, bytes) or not _NAME.match(name) \
                or ".." in name.split("/") or name in DRIVER_FILES or len(data) > FILE_CAP:
            raise WireRefused(f"output file {name!r} refused")
    for name, data in files.items():
        target = out_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return len(files)


def outcome_bytes(outcome: Any) -> bytes:
    if isinstance(outcome, EvalOutcome):
        data = {"kind": "eval", **asdict(outcome)}
    elif isinstance(outcome, CheckOutcome):
        data = {"kind": "check", **asdict(outcome)}
    elif isinstance(outcome, AgentOutcome):
        data = {"kind": "agent", **asdict(outcome)}
    else:
        raise WireRefused(f"no wire form for {type(outcome).__name__}")
    return json.dumps(data, default=str).encode()


_SIMPLE = (bool, str, int, float, dict, list)


def _typed(cls: type, data: Any) -> Any:
    """CLS(**DATA) when every field has the type its annotation names (bool is not an int here)."""
    if not isinstance(data, dict):
        raise WireRefused(f"{cls.__name__}: not a table")
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        hint = hints.get(name)
        options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        options = tuple(typing.get_origin(a) or a for a in options)
        allowed = tuple(a for a in options if a in _SIMPLE or a is type(None))
        if float in allowed:
            allowed += (int,)
        if allowed and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
            raise WireRefused(f"{cls.__name__}.{name}: a {type(value).__name__}")
    return cls(**data)


def _agent(data: Any) -> AgentOutcome:
    agent = _typed(AgentOutcome, data)
    if agent.trajectory is not None:  # checked again here: the driver trusts no worker's parse
        try:
            agent.trajectory = parse_trajectory(json.dumps(agent.trajectory).encode()).to_json()
        except ArtifactInvalid as exc:
            raise WireRefused(exc.about("trajectory")) from None
    if not isinstance(agent.patch, str) or not isinstance(agent.log, str) or not isinstance(agent.status, str):
        raise WireRefused("agent outcome fields of the wrong type")
    return agent


def outcome_from(raw: Any) -> Any:
    """An outcome from a worker's bytes; WireRefused when it is not one."""
    if not isinstance(raw, bytes) or len(raw) > OUTCOME_CAP:
        raise WireRefused("outcome: not bytes, or over its cap")
    try:
        data = json.loads(raw)
        kind = data.pop("kind")
        if kind == "agent":
            return _agent(data)
        if kind == "check":
            return _typed(CheckOutcome, data)
        if kind == "eval":
            agent = _agent(data.pop("agent"))
            return _typed(EvalOutcome, {"agent": agent, **data})
    except WireRefused:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise WireRefused(f"outcome unreadable: {type(exc).__name__}") from None
    raise WireRefused(f"outcome of unknown kind {kind!r}")
