"""RateBudget: how fast a process may call one vendor account, shared by its triggers and its workers.

Three limits steer every request to a vendor's API host, in this order:

1. **The connection's own rate** (extra ``requests_per_minute``): a token bucket per connection in each
   process, so a thousand waits never send more than it allows, however they are spread over pollers,
   event loops and threads.
2. **What the account says** (:mod:`airflow_jobstatus.http.rate_headers`, one :class:`AccountState` per
   vendor account in the process): where the vendor reports its account's limit and what is left of it
   (Zendesk, on every answer), the process stops while what is left is at most the **reserve** for the
   account's other integrations (extra ``rate_limit_reserve_percent``, default 20 % of the limit) plus a
   margin (:func:`peer_margin`: 2 % of the limit, at least :data:`PEER_MARGIN` requests), room for what
   other processes (a second triggerer, a worker) send at the same moment. It then counts the requests
   the window frees since the answer (the first at its ``ratelimit-reset``, the others it counted
   spread until the window's end) and, once that count is above the line, sends one request to learn
   the account's new count. A process that has not heard from the account yet also sends one request
   first, so that new processes (each task try is one) do not all go blind. Above the line, it spends
   what is left at most :data:`SPEND_SPEED` times faster than the window renews (a pause of
   ``window / (SPEND_SPEED * left)`` between requests), so processes sharing the account slow down
   together as it fills, and none burns the minute's budget in its first seconds. A 429 holds the whole
   account for its ``Retry-After``: every user of the account in the process slows down, not only the
   one refused.
3. **A store every process shares** (optional, ``[jobstatus] rate_limit_storage = redis://...``,
   :mod:`airflow_jobstatus.http.shared_budget`): an exact count across processes.

Requests are counted by :meth:`RateBudget.spend` / :meth:`RateBudget.spend_blocking`, around the request:
the answer's headers go to :meth:`Spend.saw`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_jobstatus.core.checks import sane_delay, short_repr
from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.http.rate_headers import AccountLimit, account_limit

if TYPE_CHECKING:
    from airflow_jobstatus.http.shared_budget import SharedBudget

log = logging.getLogger(__name__)

#: The connection extra that sets the connection's own rate.
BUDGET_EXTRA = "requests_per_minute"
#: The connection extra that sets the share of the account's limit left to its other integrations.
RESERVE_EXTRA = "rate_limit_reserve_percent"
#: The default reserve: a fifth of the account's limit.
DEFAULT_RESERVE_PERCENT = 20.0
#: Seconds a 429 without Retry-After holds the account.
DEFAULT_HOLD = 10.0
#: Requests kept beyond the reserve for those other processes have in flight when the headroom ends.
PEER_MARGIN = 3
#: ... and this share of the account's limit, when larger.
PEER_MARGIN_SHARE = 0.02
#: How many times faster than its window a process spends what the account has left above the line.
SPEND_SPEED = 4.0
#: The shortest pause before asking the account again (a vendor may say "resets in 0 s").
MIN_RESET = 1.0
#: How often a request waiting for another's answer (the one that asks the account) looks again.
PROBE_POLL = 0.05
#: The account's state is logged at most this often per account, however often it stops us.
LOG_EVERY = 60.0


@dataclass
class BudgetStats:
    """What a budget did: tokens granted, seconds callers waited in all, holds (429s), and how often the
    account's headroom stopped a request."""

    granted: int = 0
    waited: float = 0.0
    holds: int = 0
    account_stops: int = 0


def peer_margin(limit: int) -> int:
    """Requests kept above the reserve for what other processes send at the same moment as this one."""
    return max(PEER_MARGIN, math.ceil(limit * PEER_MARGIN_SHARE))


class AccountState:
    """One vendor account as this process knows it: what its last answer said of the rate limit, the
    requests of this process in flight, and a hold after a 429. Thread-safe: every event loop and thread of
    the process that calls the account shares it."""

    def __init__(
        self, name: str, reserve_percent: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.reserve_percent = reserve_percent
        self.clock = clock
        self.held_until = float("-inf")
        self.in_flight = 0
        self.stats = BudgetStats()
        self.view: AccountLimit | None = None
        self._left = 0.0
        self._seen_at = float("-inf")
        self._reset = MIN_RESET
        self._used = 0
        self._next_at = float("-inf")
        self._probing = False
        self._heard = False
        self._logged_at = float("-inf")
        self.lock = threading.Lock()

    def reserve(self, view: AccountLimit) -> int:
        """Requests of the account's window left to its other integrations."""
        return math.ceil(view.limit * self.reserve_percent / 100.0)

    def keep(self, view: AccountLimit) -> int:
        """Requests left in the window below which this process sends nothing (reserve + margin)."""
        return max(0, min(self.reserve(view) + peer_margin(view.limit), view.limit - 1))

    def wait(self, now: float, *, looking: bool = False) -> tuple[float, bool]:
        """Seconds until the account lets a request go (0: now), and whether that request is the one that
        asks the account again (its view ran out). ``looking``: only to know, not to send (nothing is
        counted or logged). Call with :attr:`lock` held."""
        held = self.held_until - now
        if held > 0:
            return held, False
        view = self.view
        if view is None:
            if self._heard:
                return 0.0, False
            # Nothing heard from the account yet (a new process): one request goes first and learns what
            # the account has left; the others wait for its answer instead of all going blind.
            return (PROBE_POLL, False) if self._probing else (0.0, True)
        keep = self.keep(view)
        freed = self._freed(now - self._seen_at, view)
        if min(self._left + freed, view.limit) - 1 >= keep:
            if not freed:
                return max(self._next_at - now, 0.0), False
            # What the account said is out of date: one request at a time asks it again.
            return (PROBE_POLL, False) if self._probing else (0.0, True)
        until = self._seen_at + self._time_to_free(keep + 1 - self._left, view)
        if looking:
            return max(until - now, PROBE_POLL), False
        self.stats.account_stops += 1
        if now - self._logged_at >= LOG_EVERY:
            self._logged_at = now
            log.info(
                "%s: %d of the account's %d requests a minute are left, %d kept for its other "
                "integrations: waiting %.1f s for the window to free",
                self.name,
                max(int(self._left), 0),
                view.limit,
                keep,
                until - now,
            )
        return max(until - now, PROBE_POLL), False

    def _freed(self, elapsed: float, view: AccountLimit) -> int:
        """Requests the window has freed ``elapsed`` seconds after the answer, as estimated from it: the
        first at its reset, the others of the ``used`` it counted spread evenly until the window's end."""
        if elapsed < self._reset or self._used < 1:
            return 0
        rest = view.window - self._reset
        if rest <= 0:
            return self._used
        return 1 + math.floor((self._used - 1) * min(1.0, (elapsed - self._reset) / rest))

    def _time_to_free(self, needed: float, view: AccountLimit) -> float:
        """Seconds after the answer until :meth:`_freed` reaches ``needed`` (a window when it never does)."""
        if needed <= 1:
            return self._reset
        if self._used <= 1 or needed > self._used:
            return max(view.window, self._reset)
        rest = max(view.window - self._reset, 0.0)
        return self._reset + rest * (math.ceil(needed) - 1) / (self._used - 1)

    def took(self, now: float, probe: bool) -> None:
        """A request goes now (call with :attr:`lock` held)."""
        self.in_flight += 1
        if self.view is not None:
            left = self._left - self.keep(self.view)
            if left > 0:
                self._next_at = now + self.view.window / (SPEND_SPEED * left)
        self._left -= 1
        if probe:
            self._probing = True

    def gave_back(self, probe: bool) -> None:
        """A request taken by :meth:`took` is not sent after all (call with :attr:`lock` held)."""
        self.in_flight -= 1
        self._left += 1
        if probe:
            self._probing = False

    def answered(self, headers: Mapping[str, str] | None, status: int | None, probe: bool) -> None:
        """A request ended; ``headers`` and ``status`` are its answer's (None: it got none)."""
        limit = account_limit(headers) if headers is not None else None
        with self.lock:
            self.in_flight -= 1
            if probe:
                self._probing = False
            if status is not None:
                self._heard = True
            if limit is not None:
                now = self.clock()
                self.view = limit
                self._left = limit.remaining - max(self.in_flight, 0)
                reset = limit.reset if limit.reset is not None else limit.window
                self._seen_at, self._reset = now, max(reset, MIN_RESET)
                self._used = limit.limit - limit.remaining
            elif status is not None and 200 <= status < 300:
                self.view = None  # the account says nothing of its limit (any more)

    def hold(self, seconds: float) -> None:
        """Let no request go for ``seconds`` from now (the vendor said 429)."""
        with self.lock:
            until = self.clock() + sane_delay(seconds, fallback=DEFAULT_HOLD)
            if until > self.held_until:
                self.held_until = until
                self.stats.holds += 1


class Spend:
    """One request counted against a budget: tell it the answer with :meth:`saw`."""

    def __init__(self) -> None:
        self.headers: Mapping[str, str] | None = None
        self.status: int | None = None

    def saw(self, status: int, headers: Mapping[str, str]) -> None:
        """The request's answer: its status and headers (the account's rate limit may be in them)."""
        self.status, self.headers = status, headers


class RateBudget:
    """A token bucket of ``per_minute`` requests per minute (at most ``burst`` at once) for one
    connection, in front of its :class:`AccountState` and, when configured, a :class:`SharedBudget`.

    Thread-safe, and not bound to an event loop: one budget serves the triggers and the workers of a process.
    """

    def __init__(
        self,
        per_minute: float,
        burst: float | None = None,
        *,
        account: AccountState | None = None,
        shared: SharedBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < per_minute < float("inf"):
            raise ValueError(f"per_minute must be positive, not {per_minute}")
        self.per_minute = float(per_minute)
        self.rate = self.per_minute / 60.0
        self.burst = float(burst) if burst is not None else max(1.0, self.per_minute / 10.0)
        self.account = account or AccountState("vendor account", DEFAULT_RESERVE_PERCENT, clock)
        self.shared = shared
        self.clock = clock
        self.tokens = self.burst
        self._updated = clock()

    @property
    def stats(self) -> BudgetStats:
        """What the budget's account did (grants, waits, holds, stops)."""
        return self.account.stats

    @property
    def held_until(self) -> float:
        """When the last 429's hold ends (clock time)."""
        return self.account.held_until

    def claim(self) -> tuple[float, bool]:
        """Take a request's turn if it may go now: ``(0, probe)``; else ``(seconds to wait, False)``."""
        account = self.account
        with account.lock:
            now = self.clock()
            wait, probe = account.wait(now)
            if wait > 0:
                return wait, False
            if now > self._updated:
                self.tokens = min(self.burst, self.tokens + (now - self._updated) * self.rate)
                self._updated = now
            if self.tokens < 1.0:
                return (1.0 - self.tokens) / self.rate, False
            self.tokens -= 1.0
            account.took(now, probe)
            return 0.0, probe

    def ready_in(self) -> float:
        """Seconds until a request could go (0: now), without taking its turn: a caller that gathers work
        for one request (a batch read) waits this long first, so that the request carries all it can."""
        with self.account.lock:
            now = self.clock()
            wait, _ = self.account.wait(now, looking=True)
            tokens = min(self.burst, self.tokens + max(now - self._updated, 0.0) * self.rate)
            return max(wait, (1.0 - tokens) / self.rate if tokens < 1.0 else 0.0)

    def _give_back(self, probe: bool) -> None:
        with self.account.lock:
            self.tokens = min(self.burst, self.tokens + 1.0)
            self.account.gave_back(probe)

    def _shared_rates(self) -> tuple[int, int | None]:
        """The connection's rate, and what the account allows Airflow (its limit minus the reserve) when
        this process knows it: the shared store allows all processes together the smaller."""
        view = self.account.view
        if view is None:
            return max(1, int(self.per_minute)), None
        return max(1, int(self.per_minute)), max(1, int(view.per_minute - self.account.reserve(view)))

    async def acquire(self) -> bool:
        """Wait until a request may go and take its turn; True when it is the one asking the account again.
        The caller ends it with :meth:`AccountState.answered` (:meth:`spend` does both)."""
        started = self.clock()
        while True:
            wait, probe = self.claim()
            if not wait and self.shared is not None:
                wait = await self.shared.ahit(*self._shared_rates())
                if wait:
                    self._give_back(probe)
            if not wait:
                break
            await asyncio.sleep(wait)
        self._granted(started)
        return probe

    def acquire_blocking(self) -> bool:
        """:meth:`acquire` for a worker thread (sleeps instead of awaiting)."""
        started = self.clock()
        while True:
            wait, probe = self.claim()
            if not wait and self.shared is not None:
                wait = self.shared.hit(*self._shared_rates())
                if wait:
                    self._give_back(probe)
            if not wait:
                break
            time.sleep(wait)
        self._granted(started)
        return probe

    def _granted(self, started: float) -> None:
        with self.account.lock:
            self.stats.granted += 1
            self.stats.waited += self.clock() - started

    @asynccontextmanager
    async def spend(self) -> AsyncIterator[Spend]:
        """Wait for a request's turn; the block sends it and tells the answer to the :class:`Spend`."""
        probe = await self.acquire()
        spend = Spend()
        try:
            yield spend
        finally:
            self.account.answered(spend.headers, spend.status, probe)

    @contextmanager
    def spend_blocking(self) -> Iterator[Spend]:
        """:meth:`spend` for a worker thread."""
        probe = self.acquire_blocking()
        spend = Spend()
        try:
            yield spend
        finally:
            self.account.answered(spend.headers, spend.status, probe)

    def hold(self, seconds: float) -> None:
        """Grant no request of the account for ``seconds`` from now (the vendor said 429)."""
        self.account.hold(seconds)
        with self.account.lock:
            self.tokens = 0.0


_lock = threading.Lock()
_accounts: dict[str, AccountState] = {}
_budgets: dict[tuple[str, str, float], RateBudget] = {}


def budget_for(
    conn_id: str,
    per_minute: float,
    *,
    account: str | None = None,
    name: str | None = None,
    reserve_percent: float = DEFAULT_RESERVE_PERCENT,
) -> RateBudget:
    """The process's budget of connection ``conn_id`` at ``per_minute``, on the state of vendor ``account``
    (a key naming the account, never a secret; default: the connection), made on first use and kept for
    the process's life: a wait that starts just after another ended finds the budget spent. The account's
    reserve is the first one given for it."""
    from airflow_jobstatus.http.shared_budget import shared_budget

    account_key = account or f"connection:{conn_id}"
    with _lock:
        state = _accounts.get(account_key)
        if state is None:
            label = name or f"connection '{conn_id}'"
            state = _accounts[account_key] = AccountState(label, reserve_percent)
        key = (account_key, conn_id, float(per_minute))
        budget = _budgets.get(key)
        if budget is None:
            budget = _budgets[key] = RateBudget(per_minute, account=state, shared=shared_budget(account_key))
        return budget


def forget_budgets() -> None:
    """Forget every budget and account state of the process (tests: each starts with a fresh account)."""
    with _lock:
        _accounts.clear()
        _budgets.clear()


def _positive_extra(
    extra: Mapping[str, object],
    name: str,
    conn_id: str,
    default: float,
    *,
    most: float,
    what: str,
    zero: bool,
) -> float:
    """The number a connection sets in extra ``name`` (``default`` when absent), checked to lie in
    ``[0, most]`` (``zero``: 0 included)."""
    value = extra.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        number = float("nan")
    if not 0 <= number <= most or (number == 0 and not zero):
        raise ConfigurationError(
            f"connection '{conn_id}': extra '{name}' must be {what}, not {short_repr(value)}; remove it to "
            f"use the default of {default:g}"
        )
    return number


def requests_per_minute(extra: Mapping[str, object], conn_id: str, default: float) -> float:
    """The budget a connection sets in its extra ``requests_per_minute`` (``default`` when absent)."""
    return _positive_extra(
        extra,
        BUDGET_EXTRA,
        conn_id,
        default,
        most=1e12,
        what="a positive number of requests per minute",
        zero=False,
    )


def reserve_percent(extra: Mapping[str, object], conn_id: str) -> float:
    """The share of the account's limit a connection leaves to the account's other integrations, in percent
    (extra ``rate_limit_reserve_percent``, 0 to 90; default 20)."""
    return _positive_extra(
        extra,
        RESERVE_EXTRA,
        conn_id,
        DEFAULT_RESERVE_PERCENT,
        most=90.0,
        what="a percentage of the account's rate limit from 0 to 90",
        zero=True,
    )
