"""JSON parsed under caps: bytes, number of values, nesting depth — checked while parsing, so a
hostile document stops early instead of first becoming millions of Python objects."""

from __future__ import annotations

import json
import json.decoder
import json.scanner
from dataclasses import dataclass
from typing import Any, Callable


class ArtifactInvalid(ValueError):
    """An artifact a sandbox produced is unusable; the message is one line naming what is wrong."""

    def about(self, name: str) -> str:
        """The reason with the file's name: "trajectory.json is a FIFO, ...", "result.json: status is ..."."""
        text = str(self)
        return f"{name} {text}" if text.startswith(("is ", "holds ", "cannot ")) else f"{name}: {text}"


@dataclass(frozen=True)
class JsonLimits:
    """Caps for one document: its size in bytes, its number of values, its nesting depth."""

    max_bytes: int
    max_values: int = 200_000
    max_depth: int = 32


class _Bounded(json.JSONDecoder):
    """The standard decoder with the pure-Python scanner, whose array and object parsers we can wrap.

    Strings are still parsed by the C `scanstring`, so long texts cost no Python loop."""

    def __init__(self, limits: JsonLimits) -> None:
        super().__init__(parse_constant=self._constant)
        self.limits = limits
        self.values = 0
        self.depth = 0
        self.parse_object = self._object
        self.parse_array = self._array
        self.scan_once = json.scanner.py_make_scanner(self)

    @staticmethod
    def _constant(name: str) -> Any:
        raise ArtifactInvalid(f"holds {name}, which is not JSON")

    def _counted(self, scan_once: Callable) -> Callable:
        def scan(string: str, idx: int) -> Any:
            self.values += 1
            if self.values > self.limits.max_values:
                raise ArtifactInvalid(f"holds more than {self.limits.max_values} JSON values")
            return scan_once(string, idx)
        return scan

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise ArtifactInvalid(f"is nested deeper than {self.limits.max_depth} levels")

    def _object(self, s_and_end: tuple, strict: bool, scan_once: Callable, *rest: Any) -> Any:
        self._enter()
        try:
            return json.decoder.JSONObject(s_and_end, strict, self._counted(scan_once), *rest)
        finally:
            self.depth -= 1

    def _array(self, s_and_end: tuple, scan_once: Callable) -> Any:
        self._enter()
        try:
            return json.decoder.JSONArray(s_and_end, self._counted(scan_once))
        finally:
            self.depth -= 1


def parse_bounded(data: bytes | str, limits: JsonLimits) -> Any:
    """The JSON value in DATA, or ArtifactInvalid saying which cap or rule it broke."""
    if len(data) > limits.max_bytes:
        raise ArtifactInvalid(f"is larger than {limits.max_bytes} bytes")
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ArtifactInvalid(f"is not UTF-8 (byte {exc.start}: {bytes(data)[exc.start:exc.start + 4]!r})") from None
    else:
        text = data
    if text.startswith("\ufeff"):
        text = text[1:]
    decoder = _Bounded(limits)
    try:
        return decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise ArtifactInvalid(f"is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # ArtifactInvalid included; int() past its digit limit
        if isinstance(exc, ArtifactInvalid):
            raise
        raise ArtifactInvalid(f"is not usable JSON ({type(exc).__name__}: {str(exc)[:100]})") from None
