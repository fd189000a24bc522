"""Small typed checks for walking parsed JSON: each returns a clean value or raises ArtifactInvalid
naming the JSON path at fault ("steps[3].outputs[0] is a list, not a string")."""

from __future__ import annotations

import math
import re
from typing import Any

from dgm.artifacts.bounded import ArtifactInvalid

_NAMES = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
          float: "a number", type(None): "null"}


def what(value: Any) -> str:
    return _NAMES.get(type(value), type(value).__name__)


def key(name: Any) -> str:
    """An object key as part of a path in a reason: agent text, so only word characters survive."""
    return re.sub(r"[^\w-]", "?", str(name)[:64])


def wrong(path: str, value: Any, wanted: str) -> ArtifactInvalid:
    return ArtifactInvalid(f"{path} is {what(value)}, not {wanted}")


def text(value: Any, path: str, *, cap: int | None = None, optional: bool = False) -> str | None:
    """A string (cut to CAP characters, unpaired surrogates replaced so it can be written as UTF-8)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise wrong(path, value, "a string" + (" or null" if optional else ""))
    if cap is not None and len(value) > cap:
        value = value[:cap] + f" [... {len(value) - cap} characters cut]"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


def number(value: Any, path: str, *, optional: bool = False) -> float | int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise wrong(path, value, "a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ArtifactInvalid(f"{path} is not a finite number")
    return value


def integer(value: Any, path: str) -> int:
    got = number(value, path)
    if isinstance(got, float):
        if not got.is_integer():
            raise ArtifactInvalid(f"{path} is {got}, not a whole number")
        got = int(got)
    return int(got)  # type: ignore[arg-type]


def obj(value: Any, path: str, *, optional: bool = False) -> dict:
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise wrong(path, value, "an object")
    return value


def items(value: Any, path: str, *, optional: bool = True) -> list:
    if value is None and optional:
        return []
    if not isinstance(value, list):
        raise wrong(path, value, "a list")
    return value


def numbers(value: Any, path: str) -> dict[str, float | int]:
    """An object of numbers (usage counters), keys cut short."""
    out: dict[str, float | int] = {}
    for name, v in obj(value, path, optional=True).items():
        out[text(str(name)[:64], path) or ""] = number(v, f"{path}.{key(name)}")  # type: ignore[assignment]
    return out


def plain_json(value: Any, path: str) -> Any:
    """Any JSON value, with its strings made writable (the parser already capped size and depth)."""
    if isinstance(value, str):
        return text(value, path)
    if isinstance(value, dict):
        return {text(k, path): plain_json(v, f"{path}.{key(k)}") for k, v in value.items()}
    if isinstance(value, list):
        return [plain_json(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, float):
        return number(value, path)
    return value
