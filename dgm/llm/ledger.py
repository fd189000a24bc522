"""Thread-safe accounting of model calls per account ("run", "sandbox:<id>", "node:<id>", ...).

A call reserves its worst-case cost on every charged account before it is forwarded and settles to
its real cost after: concurrent calls can never spend past a cap, however many are in flight.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from dgm.errors import BudgetExceeded
from dgm.llm.recording import iter_lines, journal_path

RUN = "run"
HOLD_WAIT_SECONDS = 300.0  # a call that would fit once the calls in flight settle waits this long at most


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


@dataclass
class Reservation:
    """The worst-case cost one call holds on its accounts until it settles."""

    id: str
    accounts: list[str]
    usd: float
    prompt_tokens: int
    completion_tokens: int
    settled: bool = field(default=False, compare=False)


_ids = itertools.count(1)


class Ledger:
    """Totals per account and dollar caps; every call is charged to "run" as well."""

    def __init__(self, *, budget_usd: float | None = None, hold_wait_seconds: float = HOLD_WAIT_SECONDS) -> None:
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._usage: dict[str, Usage] = {}
        self._caps: dict[str, float] = {}
        self._held: dict[str, float] = {}
        self._exhausted: set[str] = set()  # accounts a call was refused on: no further call fits
        self._cut: set[str] = set()  # accounts whose call the run's own budget refused
        self.hold_wait_seconds = hold_wait_seconds
        if budget_usd is not None:
            self._caps[RUN] = float(budget_usd)

    def set_cap(self, account: str, usd: float | None) -> None:
        """Cap an account's dollars (None removes the cap)."""
        with self._lock:
            self._exhausted.discard(account)
            if usd is None:
                self._caps.pop(account, None)
            else:
                self._caps[account] = float(usd)
            self._settled.notify_all()

    def cap(self, account: str) -> float | None:
        with self._lock:
            return self._caps.get(account)

    def check(self, accounts: Iterable[str]) -> None:
        """Raise BudgetExceeded if any of the accounts (or the run) has reached its cap."""
        with self._lock:
            for account in _with_run(accounts):
                cap = self._caps.get(account)
                if cap is not None and (account in self._exhausted or self._spent(account) >= cap):
                    raise self._refusal(account, cap, 0.0)

    def reserve(self, accounts: Iterable[str], *, usd: float, prompt_tokens: int = 0,
                completion_tokens: int = 0, floor_usd: float | None = None) -> Reservation:
        """Hold `usd` on every account; BudgetExceeded if it cannot fit under a cap even once others settle.

        `floor_usd` is the worst case of the smallest call the caller could make instead: only when even
        that does not fit is the account spent for good, so one oversized request cannot end a shared budget.
        """
        accounts = _with_run(accounts)
        usd = max(0.0, float(usd))
        floor = usd if floor_usd is None else min(usd, max(0.0, float(floor_usd)))
        deadline = time.monotonic() + self.hold_wait_seconds
        with self._lock:
            while True:
                blocked = None
                for account in accounts:
                    cap = self._caps.get(account)
                    if cap is None:
                        continue
                    if account in self._exhausted or self._spent(account) + usd > cap:
                        if self._spent(account) + floor > cap:
                            self._exhausted.add(account)  # not even the smallest call fits: the account is done
                        self._note_cut(account, accounts)
                        raise self._refusal(account, cap, usd)
                    if self._spent(account) + self._held.get(account, 0.0) + usd > cap:
                        blocked = (account, cap)
                if blocked is None:
                    break
                left = deadline - time.monotonic()
                if left <= 0:  # calls in flight still hold the rest; not an exhausted budget
                    self._note_cut(blocked[0], accounts)
                    raise self._refusal(*blocked, usd, held=True)
                self._settled.wait(left)  # it would fit once calls in flight settle below their worst case
            for account in accounts:
                self._held[account] = self._held.get(account, 0.0) + usd
        return Reservation(f"{time.time_ns():x}-{next(_ids)}", accounts, usd, prompt_tokens, completion_tokens)

    def settle(self, reservation: Reservation, *, prompt_tokens: int = 0, completion_tokens: int = 0,
               usd: float = 0.0, seconds: float = 0.0, error: bool = False) -> None:
        """Release the hold and charge the call's real cost (once; later calls are no-ops)."""
        with self._lock:
            if reservation.settled:
                return
            reservation.settled = True
            for account in reservation.accounts:
                left = self._held.get(account, 0.0) - reservation.usd
                if left > 1e-12:
                    self._held[account] = left
                else:
                    self._held.pop(account, None)
            self._charge(reservation.accounts, prompt_tokens, completion_tokens, usd, seconds, error)
            self._settled.notify_all()

    def charge(self, accounts: Iterable[str], *, prompt_tokens: int = 0, completion_tokens: int = 0,
               usd: float = 0.0, seconds: float = 0.0, error: bool = False) -> None:
        """Add one call (or one failed call) to every account and to the run."""
        with self._lock:
            self._charge(_with_run(accounts), prompt_tokens, completion_tokens, usd, seconds, error)
            self._settled.notify_all()

    def held(self, account: str = RUN) -> float:
        """Dollars reserved by calls in flight on this account."""
        with self._lock:
            return self._held.get(account, 0.0)

    def _note_cut(self, account: str, accounts: list[str]) -> None:
        if account == RUN:  # the run's budget, not the caller's own cap, stopped this call
            self._cut.update(a for a in accounts if a != RUN)

    def cut_by_run_budget(self, account: str) -> bool:
        """Whether a call of ACCOUNT was refused by the run's budget (its work was cut short, not judged)."""
        with self._lock:
            return account in self._cut

    def usage(self, account: str = RUN) -> Usage:
        with self._lock:
            return Usage(**asdict(self._usage.get(account, Usage())))

    def remaining(self, account: str = RUN) -> float | None:
        """Dollars left before the account's cap (or the run's, whichever is smaller); None if uncapped.

        0 once a call was refused on the account: the budget is spent for every practical purpose.
        """
        with self._lock:
            left = [0.0 if a in self._exhausted else cap - self._spent(a) - self._held.get(a, 0.0)
                    for a in _with_run([account]) if (cap := self._caps.get(a)) is not None]
        return max(0.0, min(left)) if left else None

    def snapshot(self) -> dict[str, dict]:
        """{account: {calls, errors, prompt_tokens, completion_tokens, usd, seconds}}."""
        with self._lock:
            return {account: usage.to_dict() for account, usage in sorted(self._usage.items())}

    def load_recording(self, path: Path) -> int:
        """Add the totals recorded in an llm_calls.jsonl (a resumed run); returns the calls read.

        Calls whose reservation is in the journal but whose exchange never reached the recording
        (the process died while they were in flight) count at their reservation: the provider may
        have billed them.
        """
        path = Path(path)
        count = 0
        seen: set[str] = set()
        if path.exists():
            for entry in iter_lines(path):
                usage = entry.get("usage") or {}
                self.charge(entry.get("accounts") or [entry.get("account") or RUN],
                            prompt_tokens=_int(usage.get("prompt_tokens")),
                            completion_tokens=_int(usage.get("completion_tokens")),
                            usd=_float(entry.get("cost_usd")), seconds=_float(entry.get("latency_s")),
                            error=bool(entry.get("error")))
                if isinstance(entry.get("call_id"), str):
                    seen.add(entry["call_id"])
                count += 1
        journal = journal_path(path)
        if journal.exists():
            for entry in iter_lines(journal):
                call_id = entry.get("call_id")
                if not isinstance(call_id, str) or call_id in seen:
                    continue
                seen.add(call_id)
                self.charge(entry.get("accounts") or [RUN], prompt_tokens=_int(entry.get("prompt_tokens")),
                            completion_tokens=_int(entry.get("completion_tokens")),
                            usd=_float(entry.get("reserved_usd")), error=True)
                count += 1
        return count

    def _spent(self, account: str) -> float:
        usage = self._usage.get(account)
        return usage.usd if usage is not None else 0.0

    def _charge(self, accounts: list[str], prompt_tokens: int, completion_tokens: int, usd: float,
                seconds: float, error: bool) -> None:
        for account in accounts:
            usage = self._usage.setdefault(account, Usage())
            usage.calls += 1
            usage.errors += int(error)
            usage.prompt_tokens += prompt_tokens
            usage.completion_tokens += completion_tokens
            usage.usd += usd
            usage.seconds += seconds

    def _refusal(self, account: str, cap: float, usd: float, *, held: bool = False) -> BudgetExceeded:
        what = "run budget" if account == RUN else f"budget of {account}"
        spent = self._spent(account)
        if held:
            return BudgetExceeded(
                f"{what} held by calls in flight: spent ${spent:.4f}, held ${self._held.get(account, 0.0):.4f} "
                f"of ${cap:.4f}; this call needs up to ${usd:.4f}", hint="retry when the calls in flight finish")
        if usd > 0 and spent < cap:
            return BudgetExceeded(f"{what} reached: spent ${spent:.4f} of ${cap:.4f}, and this call may cost "
                                  f"up to ${usd:.4f}", hint="raise the budget, or ask for fewer tokens (max_tokens)")
        return BudgetExceeded(f"{what} reached: spent ${spent:.4f} of ${cap:.4f}",
                              hint="raise the budget to continue; finished work is kept")


def _with_run(accounts: Iterable[str]) -> list[str]:
    out = [RUN]
    out.extend(a for a in accounts if a and a not in out)
    return out


def _int(value: object) -> int:
    try:
        return max(0, int(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def _float(value: object) -> float:
    try:
        return max(0.0, float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
