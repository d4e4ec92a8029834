"""The rate budget and the progress-paced cadence, directly; and a bad budget extra over a real trigger."""

from __future__ import annotations

import time

import pytest
from conftest import zendesk_connection

from airflow_jobstatus.core.models import Job, JobState
from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.http.budget import RateBudget, requests_per_minute
from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.triggers.cadence import PollCadence, check_max_poll_interval, default_max_poll_interval
from airflow_jobstatus.triggers.job import JobTrigger, WaitEvent


def test_the_budget_extra_is_read_or_defaulted() -> None:
    assert requests_per_minute({}, "c", 100) == 100
    assert requests_per_minute({"requests_per_minute": ""}, "c", 100) == 100
    assert requests_per_minute({"requests_per_minute": 250}, "c", 100) == 250
    assert requests_per_minute({"requests_per_minute": "42.5"}, "c", 100) == 42.5


@pytest.mark.parametrize("bad", [0, -5, "fast", "inf", [1]])
def test_a_bad_budget_extra_names_the_field_and_the_fix(bad: object) -> None:
    with pytest.raises(ConfigurationError) as error:
        requests_per_minute({"requests_per_minute": bad}, "zendesk_default", 100)
    message = str(error.value)
    assert "connection 'zendesk_default'" in message and "'requests_per_minute'" in message
    assert "remove it to use the default of 100" in message


async def test_the_budget_spends_its_burst_then_paces() -> None:
    budget = RateBudget(per_minute=600, burst=3)  # 10 a second
    started = time.monotonic()
    for _ in range(3):
        async with budget.spend() as spend:
            spend.saw(200, {})
    assert time.monotonic() - started < 0.05  # the burst is free
    for _ in range(5):
        async with budget.spend() as spend:
            spend.saw(200, {})
    assert 0.45 <= time.monotonic() - started < 1.0  # then 10 a second
    assert budget.stats.granted == 8


async def test_a_hold_stops_every_grant_for_its_seconds() -> None:
    budget = RateBudget(per_minute=6000, burst=10)
    async with budget.spend() as spend:
        spend.saw(200, {})
    budget.hold(0.5)
    started = time.monotonic()
    async with budget.spend() as spend:
        spend.saw(200, {})
    assert time.monotonic() - started >= 0.49
    assert budget.stats.holds == 1


def job(
    job_id: str, progress: int | None, total: int | None = 100, state: JobState = JobState.RUNNING
) -> Job:
    return Job(
        vendor="Zendesk", id=job_id, state=state, vendor_status="working", progress=progress, total=total
    )


def test_cadence_reads_rarely_far_from_done_and_often_near_the_end() -> None:
    cadence = PollCadence(poll_interval=1.0, max_poll_interval=60.0)
    assert cadence.next_delay([job("a", 0)], now=0.0) == 1.0  # nothing observed yet
    assert cadence.next_delay([job("a", 10)], now=10.0) == 45.0  # 1 %/s, 90 s left: half of it
    assert cadence.next_delay([job("a", 12)], now=12.0) == 44.0
    assert cadence.next_delay([job("a", 99)], now=99.0) == 1.0  # one second left: the floor
    assert PollCadence(1.0, 10.0).next_delay([job("b", 0)], 0.0) == 1.0


def test_cadence_follows_the_closest_job_and_ignores_ended_ones() -> None:
    cadence = PollCadence(poll_interval=2.0, max_poll_interval=100.0)
    cadence.next_delay([job("slow", 0), job("fast", 0), job("x", None, None)], now=0.0)
    jobs = [job("slow", 1), job("fast", 80), job("done", 100, state=JobState.SUCCEEDED)]
    # fast: 8 %/s, 20 % left: 2.5 s away, read in 1.25 s, raised to the 2 s floor; slow alone: 99 s away
    assert cadence.next_delay(jobs, now=10.0) == 2.0
    assert cadence.next_delay([job("slow", 2)], now=20.0) == 100.0  # 1 %/10 s: the ceiling
    assert cadence.next_delay([job("x", None, None)], now=30.0) == 2.0  # no progress reported


def test_cadence_restarts_when_progress_goes_back() -> None:
    cadence = PollCadence(poll_interval=1.0, max_poll_interval=50.0)
    cadence.next_delay([job("a", 50)], now=0.0)
    assert cadence.next_delay([job("a", 10)], now=5.0) == 1.0
    assert cadence.next_delay([job("a", 20)], now=10.0) == 20.0  # 2 %/s from the restart, 80 % left


def test_the_ceiling_defaults_to_ten_intervals_capped_and_is_checked() -> None:
    assert default_max_poll_interval(30.0) == 300.0
    assert default_max_poll_interval(120.0) == 600.0
    assert default_max_poll_interval(900.0) == 900.0
    assert check_max_poll_interval(5.0, 5.0) == 5.0
    with pytest.raises(ConfigurationError, match=r"max_poll_interval \(2\) must be at least poll_interval"):
        check_max_poll_interval(5.0, 2)


async def test_a_trigger_on_a_connection_with_a_bad_budget_ends_before_any_request(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZD_BAD_BUDGET", zendesk_connection(sandbox.url, extra={"requests_per_minute": "lots"})
    )
    trigger = JobTrigger(
        hook_path="airflow_jobstatus.hooks.zendesk.ZendeskJobHook",
        conn_id="zd_bad_budget",
        job_ids=["1"],
        poll_interval=0.2,
        deadline=time.time() + 10,
    )
    (event,) = [WaitEvent.from_payload(e.payload) async for e in trigger.run()]
    assert event.outcome == "error" and "'requests_per_minute' must be a positive number" in event.message
    assert sandbox.state.requests == []
