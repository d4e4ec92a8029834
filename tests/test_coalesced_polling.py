"""Coalesced polling over real HTTP: many triggers of one connection share batch reads (Zendesk show_many),
a rate budget per connection, and a 429 that slows every waiter; a wait paced by its job's progress."""

from __future__ import annotations

import asyncio
import itertools
import time
from urllib.parse import parse_qs

import pytest
from conftest import wistia_connection, zendesk_connection

from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.triggers.job import JobTrigger, WaitEvent
from airflow_jobstatus.triggers.poller import active_pollers

ZENDESK = "airflow_jobstatus.hooks.zendesk.ZendeskJobHook"
WISTIA = "airflow_jobstatus.hooks.wistia.WistiaHook"
SHOW = "/api/v2/job_statuses"
WISTIA_STATUS = "/wistia/background_job_status/"


def trigger(
    hook: str,
    job_ids: list[str],
    *,
    conn_id: str,
    poll: float,
    wait: float = 60.0,
    ceiling: float | None = None,
) -> JobTrigger:
    return JobTrigger(
        hook_path=hook,
        conn_id=conn_id,
        job_ids=job_ids,
        poll_interval=poll,
        deadline=time.time() + 60,
        max_poll_interval=ceiling,
    )


async def run_to_end(job_trigger: JobTrigger) -> WaitEvent:
    events = [event async for event in job_trigger.run()]
    assert len(events) == 1
    return WaitEvent.from_payload(events[0].payload)


def status_reads(sandbox: SandboxServer, prefix: str) -> list[tuple[float, str, str]]:
    with sandbox.state.lock:
        return [(r.at, r.path, r.query) for r in sandbox.state.requests if r.path.startswith(prefix)]


async def test_100_waits_on_one_connection_read_their_jobs_in_one_call_per_round(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    ids = [sandbox.state.zendesk.create_job(total=2, duration=2.5, queued_for=0) for _ in range(100)]
    started = time.monotonic()
    events = await asyncio.gather(
        *(run_to_end(trigger(ZENDESK, [job_id], conn_id=zendesk_conn, poll=0.25)) for job_id in ids)
    )
    elapsed = time.monotonic() - started
    assert [e.outcome for e in events] == ["ended"] * 100
    assert all(e.jobs[0].state == "succeeded" for e in events)
    reads = status_reads(sandbox, SHOW)
    rounds = elapsed / 0.25
    # One-poll-per-job would make 100 calls a round; coalesced, the 100 ids take one show_many call a
    # round (some more while the triggers start, more on a loaded machine).
    assert len(reads) <= rounds + 15, f"{len(reads)} status calls in {elapsed:.1f} s"
    batch_sizes = [len(parse_qs(query)["ids"][0].split(",")) for _, _, query in reads if "ids=" in query]
    assert max(batch_sizes) == 100
    assert active_pollers() == 0


async def test_a_job_unknown_to_the_vendor_fails_only_its_own_wait(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    good = [sandbox.state.zendesk.create_job(total=1, duration=1.0, queued_for=0) for _ in range(3)]
    waits = [trigger(ZENDESK, [job_id], conn_id=zendesk_conn, poll=0.2) for job_id in good]
    waits.append(trigger(ZENDESK, ["9999999999"], conn_id=zendesk_conn, poll=0.2))
    events = await asyncio.gather(*(run_to_end(w) for w in waits))
    assert [e.outcome for e in events] == ["ended", "ended", "ended", "error"]
    assert "9999999999" in events[-1].message and "does not know" in events[-1].message
    assert all(good_id not in events[-1].message for good_id in good)


async def test_a_wait_holds_only_the_failed_items_of_a_finished_job(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    from airflow_jobstatus.hooks.zendesk import ZendeskJobHook
    from airflow_jobstatus.triggers.poller import JobPoller

    partial = sandbox.state.zendesk.create_job(total=100, failed_indexes=[7, 42], duration=0.0, queued_for=0)
    clean = sandbox.state.zendesk.create_job(total=100, duration=0.0, queued_for=0)
    async with JobPoller.watch(ZendeskJobHook, zendesk_conn, {}) as poller:
        held = await poller.read([partial, clean])
    assert [job.state.value for job in held] == ["partial", "succeeded"]
    assert [item.index for item in held[0].results] == [7, 42]  # 98 succeeded items never built
    assert held[1].results == []
    assert ZendeskJobHook(zendesk_conn).get_jobs([partial])[0].results[99].success  # the task reads all
    event = await run_to_end(trigger(ZENDESK, [partial], conn_id=zendesk_conn, poll=0.2))
    assert (event.jobs[0].state, event.jobs[0].failed_items) == ("partial", 2)


async def test_a_cancelled_wait_leaves_the_batch(sandbox: SandboxServer, zendesk_conn: str) -> None:
    staying = sandbox.state.zendesk.create_job(total=1, duration=2.5, queued_for=0)
    leaving = sandbox.state.zendesk.create_job(total=1, duration=30, queued_for=0)
    stay = asyncio.create_task(run_to_end(trigger(ZENDESK, [staying], conn_id=zendesk_conn, poll=0.2)))
    leave = asyncio.create_task(run_to_end(trigger(ZENDESK, [leaving], conn_id=zendesk_conn, poll=0.2)))
    await asyncio.sleep(0.8)
    leave.cancel()
    cancelled_at = time.monotonic()
    event = await stay
    assert event.outcome == "ended"
    with pytest.raises(asyncio.CancelledError):
        await leave
    later = [query for at, _, query in status_reads(sandbox, SHOW) if at > cancelled_at + 0.05]
    assert later and all(leaving not in query for query in later)
    assert any(leaving in query for at, _, query in status_reads(sandbox, SHOW) if at < cancelled_at)


async def test_the_budget_caps_requests_per_minute_for_every_wait_of_a_connection(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 120 a minute = 2 a second, 12 at once. Wistia reads one job a call, so 20 waits polling every
    # 0.1 s would send 200 requests a second without the budget.
    monkeypatch.setenv(
        "AIRFLOW_CONN_WISTIA_BUDGET", wistia_connection(sandbox.url, extra={"requests_per_minute": 120})
    )
    ids = [str(sandbox.state.wistia.create_job(duration=2.0)) for _ in range(20)]
    started = time.monotonic()
    events = await asyncio.gather(
        *(run_to_end(trigger(WISTIA, [job_id], conn_id="wistia_budget", poll=0.1)) for job_id in ids)
    )
    elapsed = time.monotonic() - started
    assert [e.outcome for e in events] == ["ended"] * 20
    reads = len(status_reads(sandbox, WISTIA_STATUS))
    assert reads <= 12 + 2 * elapsed + 1, f"{reads} reads in {elapsed:.1f} s"
    assert reads >= 20  # every job was read at least once


async def test_a_429_slows_every_wait_of_the_connection(sandbox: SandboxServer, wistia_conn: str) -> None:
    ids = [str(sandbox.state.wistia.create_job(duration=4.0)) for _ in range(5)]
    waits = asyncio.gather(
        *(run_to_end(trigger(WISTIA, [job_id], conn_id=wistia_conn, poll=0.2)) for job_id in ids)
    )
    await asyncio.sleep(1.0)
    sandbox.state.add_fault(WISTIA_STATUS, method="GET", status=429, retry_after="2", count=1)
    events = await waits
    assert [e.outcome for e in events] == ["ended"] * 5
    reads = [(at, path) for at, path, _ in status_reads(sandbox, WISTIA_STATUS)]
    with sandbox.state.lock:
        refused_at = next(r.at for r in sandbox.state.requests if r.status == 429)
    since = [at - refused_at for at, _ in reads if at > refused_at]
    # Reads sent with the refused one (the same batch, in flight) arrive within milliseconds; then no
    # read of any job for the Retry-After, though five waits poll every 0.2 s.
    assert [gap for gap in since if 0.1 < gap < 1.9] == []
    assert max(since) >= 1.9


async def test_a_wait_polls_rarely_while_far_from_done_and_often_near_the_end(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    job_id = sandbox.state.zendesk.create_job(total=200, duration=8.0, queued_for=0)
    event = await run_to_end(trigger(ZENDESK, [job_id], conn_id=zendesk_conn, poll=0.1, ceiling=3.0))
    assert event.outcome == "ended" and event.jobs[0].state == "succeeded"
    reads = [at for at, _, _ in status_reads(sandbox, SHOW)]
    gaps = [b - a for a, b in itertools.pairwise(reads)]
    # A fixed 0.1 s interval would read about 80 times; paced by progress, far fewer.
    assert len(reads) < 30, f"{len(reads)} reads"
    assert max(gaps) > 1.0  # far from done: long gaps
    assert min(gaps[-3:]) < 0.5  # close to the end: short ones


def test_zendesk_connection_default_budget_is_half_the_smallest_plan() -> None:
    from airflow_jobstatus.hooks.wistia import WistiaHook
    from airflow_jobstatus.hooks.zendesk import ZendeskJobHook

    assert ZendeskJobHook.default_requests_per_minute == 100
    assert WistiaHook.default_requests_per_minute == 300
    assert zendesk_connection("http://127.0.0.1:1")  # the helper sets a test budget, not the default
