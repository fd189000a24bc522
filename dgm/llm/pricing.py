"""The price table, frozen at run start so that a resumed run prices every token the same."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping

from dgm.llm.backend import load_litellm
from dgm.llm.settings import ModelSettings, ModelSettingsError

PRICES_FILE = "prices.json"


@dataclass(frozen=True)
class Price:
    """Dollars per token in and out; `source` is "litellm", "override" or "tokens_only"."""

    input_per_token: float
    output_per_token: float
    source: str

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens * self.input_per_token + completion_tokens * self.output_per_token


def price_for(settings: ModelSettings) -> Price:
    """The settings' override, else litellm's table, else 0 if tokens_only, else a ModelSettingsError."""
    if settings.price_in_per_mtok is not None and settings.price_out_per_mtok is not None:
        return Price(settings.price_in_per_mtok / 1e6, settings.price_out_per_mtok / 1e6, "override")
    entry = _litellm_entry(settings.model)
    if entry is not None:
        return Price(float(entry["input_cost_per_token"]), float(entry["output_cost_per_token"]), "litellm")
    if settings.tokens_only:
        return Price(0.0, 0.0, "tokens_only")
    raise ModelSettingsError(f"model {settings.model} has no known price",
                             hint="give price_in_per_mtok and price_out_per_mtok, or set tokens_only = true")


def _litellm_entry(model: str) -> dict | None:
    litellm = load_litellm()  # only when a price must be looked up
    table = litellm.model_cost
    candidates = [model]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    for name in candidates:
        entry = table.get(name)
        if _priced(entry):
            return entry
    try:  # litellm's own resolution knows provider-specific aliases
        entry = dict(litellm.get_model_info(model))
    except Exception:  # ModelNotMappedError and friends: no price known
        return None
    return entry if _priced(entry) else None


def _priced(entry: dict | None) -> bool:
    return bool(entry) and entry.get("input_cost_per_token") is not None \
        and entry.get("output_cost_per_token") is not None


def freeze_prices(settings: Iterable[ModelSettings], run_dir: Path | None) -> dict[str, Price]:
    """Prices per model string: read RUN/prices.json if present, add missing models, write it back."""
    path = Path(run_dir) / PRICES_FILE if run_dir is not None else None
    frozen: dict[str, Price] = load_prices(path) if path is not None and path.exists() else {}
    added = False
    for s in settings:
        if s.model not in frozen:
            frozen[s.model] = price_for(s)
            added = True
    if path is not None and added:
        write_prices(path, frozen)
    return frozen


def load_prices(path: Path) -> dict[str, Price]:
    try:
        data = json.loads(Path(path).read_text())
        return {model: Price(**row) for model, row in data["models"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelSettingsError(f"cannot read the frozen price table {path}: {exc}",
                                 hint="restore it from a backup or delete it to re-freeze current prices") from exc


def write_prices(path: Path, prices: Mapping[str, Price]) -> None:
    """Write atomically: a crash never leaves a half-written price table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"frozen_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "litellm_version": _litellm_version(),
            "models": {model: asdict(price) for model, price in sorted(prices.items())}}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".prices.")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def _litellm_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("litellm")
    except PackageNotFoundError:
        return None
