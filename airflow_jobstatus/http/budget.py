"""RateBudget: the requests per minute one vendor connection may spend in one triggerer event loop.

Every status read a trigger makes through a connection takes a token from that connection's budget
first, so a thousand waits never send more than the budget allows, however they are spread over
pollers (a Trade Desk connection has one poller per job kind). A 429 from the vendor holds the whole
budget for its ``Retry-After``: every waiter of that connection slows down, not only the one refused.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from airflow_jobstatus.core.checks import sane_delay, short_repr
from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.http.per_loop import PerLoop

#: The connection extra that sets the budget.
BUDGET_EXTRA = "requests_per_minute"
#: Seconds a 429 without Retry-After holds the budget.
DEFAULT_HOLD = 10.0


@dataclass
class BudgetStats:
    """What a budget did: tokens granted, how long callers waited in all, how many holds (429s)."""

    granted: int = 0
    waited: float = 0.0
    holds: int = 0


class RateBudget:
    """A token bucket of ``per_minute`` requests per minute, at most ``burst`` at once.

    :meth:`acquire` waits for a token; :meth:`hold` stops granting tokens for some seconds.
    Not thread-safe: one budget serves one event loop.
    """

    def __init__(self, per_minute: float, burst: float | None = None) -> None:
        if not 0 < per_minute < float("inf"):
            raise ValueError(f"per_minute must be positive, not {per_minute}")
        self.per_minute = float(per_minute)
        self.rate = self.per_minute / 60.0
        self.burst = float(burst) if burst is not None else max(1.0, self.per_minute / 10.0)
        self.tokens = self.burst
        self.held_until = 0.0
        self.stats = BudgetStats()
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until a request may be sent, and take its token. Callers are served in arrival order."""
        started = time.monotonic()
        async with self._lock:
            while True:
                now = time.monotonic()
                self._refill(now)
                wait = max(self.held_until - now, 0.0)
                if not wait and self.tokens >= 1.0:
                    self.tokens -= 1.0
                    break
                await asyncio.sleep(wait or (1.0 - self.tokens) / self.rate)
        self.stats.granted += 1
        self.stats.waited += time.monotonic() - started

    def hold(self, seconds: float) -> None:
        """Grant no token for ``seconds`` from now (the vendor said 429), and empty the bucket."""
        until = time.monotonic() + sane_delay(seconds, fallback=DEFAULT_HOLD)
        if until > self.held_until:
            self.held_until = until
            self.stats.holds += 1
        self.tokens = 0.0
        self._updated = max(self._updated, until)  # no tokens accrue while held

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self.tokens = min(self.burst, self.tokens + (now - self._updated) * self.rate)
            self._updated = now


#: Each event loop's budgets, by connection id: kept as long as the loop lives
#: (:mod:`airflow_jobstatus.http.per_loop`), so a wait starting after another ended finds the budget spent.
_budgets: PerLoop[str, RateBudget] = PerLoop()


def budget_for(conn_id: str, per_minute: float) -> RateBudget:
    """The running event loop's budget of connection ``conn_id``, made with ``per_minute`` on first use.
    (A later call with another rate keeps the first: one connection, one budget.)"""
    return _budgets.get(conn_id, lambda: RateBudget(per_minute))


def requests_per_minute(extra: dict[str, object], conn_id: str, default: float) -> float:
    """The budget a connection sets in its extra ``requests_per_minute`` (``default`` when absent)."""
    value = extra.get(BUDGET_EXTRA)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        number = 0.0
    if not number > 0 or number == float("inf"):
        raise ConfigurationError(
            f"connection '{conn_id}': extra '{BUDGET_EXTRA}' must be a positive number of requests per "
            f"minute, not {short_repr(value)}; remove it to use the default of {default:g}"
        )
    return number
