"""Thread-safe accounting of model calls per account ("run", "sandbox:<id>", "node:<id>", ...)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from dgm.errors import BudgetExceeded
from dgm.llm.recording import iter_lines

RUN = "run"


@dataclass
class Usage:
    """What one account has spent so far."""

    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


class Ledger:
    """Totals per account and dollar caps; every call is charged to "run" as well."""

    def __init__(self, *, budget_usd: float | None = None) -> None:
        self._lock = threading.Lock()
        self._usage: dict[str, Usage] = {}
        self._caps: dict[str, float] = {}
        if budget_usd is not None:
            self._caps[RUN] = float(budget_usd)

    def set_cap(self, account: str, usd: float | None) -> None:
        """Cap an account's dollars (None removes the cap)."""
        with self._lock:
            if usd is None:
                self._caps.pop(account, None)
            else:
                self._caps[account] = float(usd)

    def cap(self, account: str) -> float | None:
        with self._lock:
            return self._caps.get(account)

    def check(self, accounts: Iterable[str]) -> None:
        """Raise BudgetExceeded if any of the accounts (or the run) has reached its cap."""
        with self._lock:
            for account in _with_run(accounts):
                cap = self._caps.get(account)
                spent = self._usage.get(account, Usage()).usd
                if cap is not None and spent >= cap:
                    what = "run budget" if account == RUN else f"budget of {account}"
                    raise BudgetExceeded(f"{what} reached: spent ${spent:.4f} of ${cap:.4f}",
                                         hint="raise the budget to continue; finished work is kept")

    def charge(self, accounts: Iterable[str], *, prompt_tokens: int = 0, completion_tokens: int = 0,
               usd: float = 0.0, seconds: float = 0.0, error: bool = False) -> None:
        """Add one call (or one failed call) to every account and to the run."""
        with self._lock:
            for account in _with_run(accounts):
                usage = self._usage.setdefault(account, Usage())
                usage.calls += 1
                usage.errors += int(error)
                usage.prompt_tokens += prompt_tokens
                usage.completion_tokens += completion_tokens
                usage.usd += usd
                usage.seconds += seconds

    def usage(self, account: str = RUN) -> Usage:
        with self._lock:
            return Usage(**asdict(self._usage.get(account, Usage())))

    def remaining(self, account: str = RUN) -> float | None:
        """Dollars left before the account's cap (or the run's, whichever is smaller); None if uncapped."""
        with self._lock:
            left = [cap - self._usage.get(a, Usage()).usd for a in _with_run([account])
                    if (cap := self._caps.get(a)) is not None]
        return max(0.0, min(left)) if left else None

    def snapshot(self) -> dict[str, dict]:
        """{account: {calls, errors, prompt_tokens, completion_tokens, usd, seconds}}."""
        with self._lock:
            return {account: usage.to_dict() for account, usage in sorted(self._usage.items())}

    def load_recording(self, path: Path) -> int:
        """Add the totals recorded in an llm_calls.jsonl (a resumed run); returns the calls read."""
        if not Path(path).exists():
            return 0
        count = 0
        for entry in iter_lines(path):
            usage = entry.get("usage") or {}
            self.charge(entry.get("accounts") or [entry.get("account") or RUN],
                        prompt_tokens=int(usage.get("prompt_tokens") or 0),
                        completion_tokens=int(usage.get("completion_tokens") or 0),
                        usd=float(entry.get("cost_usd") or 0.0), seconds=float(entry.get("latency_s") or 0.0),
                        error=bool(entry.get("error")))
            count += 1
        return count


def _with_run(accounts: Iterable[str]) -> list[str]:
    out = [RUN]
    out.extend(a for a in accounts if a and a not in out)
    return out
