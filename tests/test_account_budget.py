"""The account's budget, directly on a clock the test moves: the line (reserve + margin) the account's headers
draw, the pace above it, one request at a time asking again once the window frees, a 429's hold, and one
budget for the threads and event loops of a process."""

from __future__ import annotations

import asyncio
import threading

import pytest

from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.http.budget import (
    PEER_MARGIN,
    AccountState,
    RateBudget,
    budget_for,
    forget_budgets,
    reserve_percent,
)
from airflow_jobstatus.http.rate_headers import AccountLimit


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def zendesk_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "X-Rate-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(remaining),
        "ratelimit-limit": str(limit),
        "ratelimit-remaining": str(remaining),
        "ratelimit-reset": str(reset),
    }


def budget(clock: Clock, reserve: float = 20.0) -> RateBudget:
    account = AccountState("Zendesk (connection 'zd')", reserve, clock)
    return RateBudget(60_000, burst=1_000, account=account, clock=clock)


def send(budget: RateBudget, headers: dict[str, str] | None, status: int = 200) -> None:
    """One request that may go now, answered with ``headers``."""
    wait, probe = budget.claim()
    assert wait == 0, f"the request had to wait {wait} s"
    budget.account.answered(headers, status, probe)


def test_the_account_stops_the_process_at_its_reserve_plus_the_margin() -> None:
    clock = Clock()
    b = budget(clock)
    send(b, zendesk_headers(limit=40, remaining=14, reset=30))  # the line: 8 reserved + 3 margin = 11
    assert b.account.keep(b.account.view) == 8 + PEER_MARGIN == 11  # type: ignore[arg-type]
    # 14 left: three more may go, each after the pace of what is left above the line (3, 2, then 1).
    for pace in (60 / (4 * 3), 60 / (4 * 2)):
        assert b.claim() == (0.0, False)
        assert b.claim()[0] == pytest.approx(pace)
        clock.now += pace
    assert b.claim() == (0.0, False)
    assert b.stats.account_stops == 0
    # Then the line: nothing goes until the window frees its first request, 30 s after the answer.
    clock.now += 60 / 4
    assert b.claim()[0] == pytest.approx(30 - 5 - 7.5 - 15)
    assert b.stats.account_stops == 1


def test_above_the_line_requests_are_paced_by_what_is_left() -> None:
    clock = Clock()
    b = budget(clock)
    send(b, zendesk_headers(limit=40, remaining=31, reset=5))
    wait, probe = b.claim()  # 31 left, 11 kept: 20 to spend, at most 4 times faster than the window
    assert (wait, probe) == (0.0, False)
    wait, _ = b.claim()
    assert wait == pytest.approx(60 / (4 * 20))


def test_once_the_window_frees_one_request_asks_the_account_again() -> None:
    clock = Clock()
    b = budget(clock)
    send(b, zendesk_headers(limit=40, remaining=11, reset=3))  # at the line: 29 used, first frees in 3 s
    assert b.claim()[0] == pytest.approx(3.0, abs=0.01)
    clock.now += 3.0
    first = b.claim()
    assert first == (0.0, True)  # the one that asks again
    assert b.claim()[0] > 0  # the others wait for its answer
    b.account.answered(zendesk_headers(limit=40, remaining=20, reset=1), 200, probe=True)
    assert b.claim() == (0.0, False)  # the answer opened the account again


def test_a_success_without_rate_headers_forgets_the_account_limit() -> None:
    clock = Clock()
    b = budget(clock)
    send(b, zendesk_headers(limit=40, remaining=10, reset=50))
    assert b.claim()[0] > 0
    b.account.in_flight += 1  # a request that got no answer leaves the account's limit as it was
    b.account.answered(None, None, probe=False)
    assert b.claim()[0] > 0
    b.account.in_flight += 1
    b.account.answered({}, 200, probe=False)
    assert b.claim() == (0.0, False)


def test_broken_rate_headers_are_ignored() -> None:
    clock = Clock()
    b = budget(clock)
    for headers in (
        {"X-Rate-Limit": "nan", "X-Rate-Limit-Remaining": "0"},
        {"X-Rate-Limit": "40", "X-Rate-Limit-Remaining": "41"},  # more left than the limit
        {"X-Rate-Limit": "40", "X-Rate-Limit-Remaining": "-1"},
        {"X-Rate-Limit": "9" * 400, "X-Rate-Limit-Remaining": "0"},
    ):
        send(b, headers)
        assert b.account.view is None


def test_a_429_holds_every_user_of_the_account() -> None:
    clock = Clock()
    b = budget(clock)
    other = RateBudget(600, account=b.account, clock=clock)  # another connection to the same account
    b.hold(7.0)
    assert b.claim()[0] == pytest.approx(7.0)
    assert other.claim()[0] == pytest.approx(7.0)
    clock.now += 7.0
    assert other.claim() == (0.0, True)  # nothing heard yet: the first request asks the account


def test_a_new_process_sends_one_request_first_and_the_others_wait_for_its_answer() -> None:
    clock = Clock()
    b = budget(clock)
    assert b.claim() == (0.0, True)  # the first contact
    assert b.claim()[0] > 0  # the others wait for what the account says
    b.account.answered(None, None, probe=True)  # no answer (a connection error): ask again
    assert b.claim() == (0.0, True)
    b.account.answered(zendesk_headers(limit=40, remaining=30, reset=5), 200, probe=True)
    assert b.claim() == (0.0, False)  # heard: the line now steers


def test_a_zero_reserve_still_keeps_the_margin_and_a_tiny_limit_lets_one_request_go() -> None:
    clock = Clock()
    assert AccountState("a", 0.0, clock).keep(_limit(40)) == PEER_MARGIN
    assert AccountState("a", 20.0, clock).keep(_limit(700)) == 140 + 14  # the margin grows with the limit
    assert AccountState("a", 90.0, clock).keep(_limit(2)) == 1  # 2 a minute: one may still go


def _limit(limit: int) -> AccountLimit:
    return AccountLimit(limit=limit, remaining=limit)


def test_the_reserve_extra_is_read_checked_and_defaulted() -> None:
    assert reserve_percent({}, "zd") == 20.0
    assert reserve_percent({"rate_limit_reserve_percent": "35"}, "zd") == 35.0
    assert reserve_percent({"rate_limit_reserve_percent": 0}, "zd") == 0.0
    for bad in (-1, 95, "lots", float("nan"), [20]):
        with pytest.raises(ConfigurationError) as error:
            reserve_percent({"rate_limit_reserve_percent": bad}, "zd")
        message = str(error.value)
        assert "connection 'zd'" in message and "'rate_limit_reserve_percent'" in message
        assert "from 0 to 90" in message and "default of 20" in message


async def test_one_budget_serves_the_threads_and_the_event_loops_of_a_process() -> None:
    forget_budgets()
    shared = budget_for("zd", 6000, account="zendesk:http://127.0.0.1:1")
    assert budget_for("zd", 6000, account="zendesk:http://127.0.0.1:1") is shared
    # Another connection to the account has its own rate, and the account's state.
    other = budget_for("zd_other", 100, account="zendesk:http://127.0.0.1:1")
    assert other is not shared and other.account is shared.account

    def worker() -> None:
        for _ in range(20):
            with shared.spend_blocking() as spend:
                spend.saw(200, {})

    async def trigger() -> None:
        for _ in range(20):
            async with shared.spend() as spend:
                spend.saw(200, {})

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    await asyncio.gather(trigger(), asyncio.to_thread(asyncio.run, trigger()))
    for thread in threads:
        thread.join()
    assert shared.stats.granted == 3 * 20 + 2 * 20
    assert shared.account.in_flight == 0
    forget_budgets()
