"""RequestWindow: "N requests per T seconds" by waiting, on a fake clock."""

from __future__ import annotations

import pytest

from airflow_jobstatus.http.pacing import RequestWindow


class FakeClock:
    """A clock that only moves when the window sleeps or the test says so."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def window(clock: FakeClock, limit: int = 2, period: float = 10.0) -> RequestWindow:
    return RequestWindow(limit, period, clock=clock, sleep=clock.sleep)


def test_requests_under_the_limit_go_at_once() -> None:
    clock = FakeClock()
    pacer = window(clock)
    for _ in range(2):
        with pacer.turn() as waited:
            assert waited == 0.0
    assert clock.sleeps == []
    assert pacer.delay() == pytest.approx(10.0)


def test_the_next_request_waits_until_the_oldest_answer_leaves_the_window() -> None:
    clock = FakeClock()
    pacer = window(clock)
    with pacer.turn():
        clock.now += 1.5  # the answer comes back 1.5 s later: the window counts from there
    with pacer.turn():
        pass
    with pacer.turn() as waited:
        assert waited == pytest.approx(10.0)
        assert clock.now == pytest.approx(111.5)  # 10 s after the first answer, 11.5 s after it was sent


def test_a_request_in_flight_holds_its_slot() -> None:
    clock = FakeClock()
    pacer = window(clock, limit=1)
    with pacer.turn():
        assert pacer.delay() == pytest.approx(10.0)


def test_a_failed_request_still_counts() -> None:
    clock = FakeClock()
    pacer = window(clock, limit=1)
    with pytest.raises(RuntimeError), pacer.turn():
        raise RuntimeError("the vendor refused it")
    assert pacer.delay() == pytest.approx(10.0)


@pytest.mark.parametrize(("limit", "period"), [(0, 1.0), (1, 0.0)])
def test_a_window_needs_a_limit_and_a_period(limit: int, period: float) -> None:
    with pytest.raises(ValueError, match="limit >= 1 and period > 0"):
        RequestWindow(limit, period)
