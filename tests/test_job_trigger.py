"""JobTrigger against the sandbox: waits, survives transient errors, ends on permanent ones, resumes.

The Zendesk tests go into the details; the ``every_vendor`` ones run the same wait for every declared
vendor (the registry, with the made-up fourth vendor of tests/fourth_vendor: tests/vendor_drivers.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from conftest import CANARY_TOKEN, zendesk_connection
from vendor_drivers import Vendor, vendors_of

from airflow_jobstatus.compat import AirflowException
from airflow_jobstatus.http.transport_async import session_count
from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.triggers.job import JobTrigger, WaitEvent
from airflow_jobstatus.triggers.poller import active_pollers
from airflow_jobstatus.vendors import registered

HOOK = "airflow_jobstatus.hooks.zendesk.ZendeskJobHook"
SHOW = "/api/v2/job_statuses/"
EVERY_VENDOR = [pytest.param(vendor, id=vendor.name) for vendor in vendors_of(registered())]


def make_trigger(
    job_ids: list[str], *, conn_id: str = "zendesk_default", wait: float = 30.0, poll: float = 0.2
) -> JobTrigger:
    return JobTrigger(
        hook_path=HOOK, conn_id=conn_id, job_ids=job_ids, poll_interval=poll, deadline=time.time() + wait
    )


async def run_to_end(trigger: JobTrigger) -> WaitEvent:
    events = [event async for event in trigger.run()]
    assert len(events) == 1
    return WaitEvent.from_payload(events[0].payload)


def test_serialize_holds_plain_data_and_no_secret() -> None:
    trigger = make_trigger(["a", "b"])
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_jobstatus.triggers.job.JobTrigger"
    assert kwargs == {
        "hook_path": HOOK,
        "conn_id": "zendesk_default",
        "job_ids": ["a", "b"],
        "poll_interval": 0.2,
        "deadline": trigger.deadline,
        "resume": None,
        "hook_params": {},
        "max_poll_interval": 2.0,
    }
    assert CANARY_TOKEN not in repr(kwargs) + repr(trigger)


async def test_waits_until_jobs_complete_and_logs_progress(sandbox: SandboxServer, zendesk_conn: str) -> None:
    ids = [sandbox.state.zendesk.create_job(total=10, duration=1.0, queued_for=0.2) for _ in range(2)]
    with structlog.testing.capture_logs() as logs:
        event = await run_to_end(make_trigger(ids))
    assert event.outcome == "ended"
    assert [(job.id, job.state) for job in event.jobs] == [(ids[0], "succeeded"), (ids[1], "succeeded")]
    lines = [entry["event"] for entry in logs]
    assert f"job {ids[0]}: 10/10 (100%) [completed]" in lines
    assert any(line.startswith(f"job {ids[0]}: ") and "[working]" in line for line in lines)
    assert len(lines) == len(set(lines))  # one line per change, not per poll
    assert not any(CANARY_TOKEN in str(entry) for entry in logs)
    assert sandbox.state.count(path_prefix="/api/v2/job_statuses/show_many") >= 3
    assert active_pollers() == 0 and session_count() == 0


async def test_event_is_small_and_counts_failed_items(sandbox: SandboxServer, zendesk_conn: str) -> None:
    job_id = sandbox.state.zendesk.create_job(total=50, duration=0.0, failed_indexes=[3, 7])
    event = await run_to_end(make_trigger([job_id]))
    assert event.jobs[0].state == "partial"
    assert event.jobs[0].failed_items == 2
    assert len(repr(event.to_payload())) < 400


async def test_transient_errors_do_not_end_the_wait(sandbox: SandboxServer, zendesk_conn: str) -> None:
    job_id = sandbox.state.zendesk.create_job(total=1, duration=0.5)
    sandbox.state.add_fault(path_prefix=SHOW, status=503, count=5, retry_after="0")
    sandbox.state.add_fault(path_prefix=SHOW, reset=True, count=1)
    with structlog.testing.capture_logs() as logs:
        event = await run_to_end(make_trigger([job_id]))
    assert event.outcome == "ended" and event.jobs[0].state == "succeeded"
    assert any("still waiting" in entry["event"] for entry in logs)
    assert sandbox.state.count(path_prefix=SHOW, status=503) == 5


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("bad_token", "connection 'zendesk_default' was rejected by Zendesk (HTTP 401"),
        ("unknown_id", "Zendesk does not know job 00000000000000000000000000000000"),
    ],
)
async def test_permanent_errors_end_the_wait_at_once(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, setup: str, expected: str
) -> None:
    password = "revoked-token" if setup == "bad_token" else CANARY_TOKEN
    monkeypatch.setenv("AIRFLOW_CONN_ZENDESK_DEFAULT", zendesk_connection(sandbox.url, password=password))
    job_id = (
        "00000000000000000000000000000000" if setup == "unknown_id" else sandbox.state.zendesk.create_job()
    )
    started = time.monotonic()
    event = await run_to_end(make_trigger([job_id]))
    assert event.outcome == "error"
    assert expected in event.message
    assert CANARY_TOKEN not in event.message
    assert time.monotonic() - started < 2
    assert sandbox.state.count(path_prefix=SHOW) == 1


async def test_deadline_ends_the_wait_with_last_progress(sandbox: SandboxServer, zendesk_conn: str) -> None:
    job_id = sandbox.state.zendesk.create_job(total=100, duration=60, queued_for=0)
    event = await run_to_end(make_trigger([job_id], wait=0.6))
    assert event.outcome == "timeout"
    assert f"job {job_id}: " in event.message and "[working]" in event.message
    assert event.jobs[0].state == "running"


async def test_rebuilt_from_serialize_resumes_the_same_wait(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    job_id = sandbox.state.zendesk.create_job(total=5, duration=1.5, queued_for=0)
    first = make_trigger([job_id], wait=20)
    first.resume = {"ledger": {"jobs": [{"id": job_id, "items": [[0, 5]]}]}, "deadline": first.deadline}

    async def consume(trigger: JobTrigger) -> list[Any]:
        return [event async for event in trigger.run()]

    task = asyncio.create_task(consume(first))
    await asyncio.sleep(0.5)  # mid-wait: a triggerer dies
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert active_pollers() == 0 and session_count() == 0
    reads_before = sandbox.state.count(path_prefix=SHOW)
    assert reads_before >= 1

    classpath, kwargs = first.serialize()
    assert classpath.endswith("JobTrigger")
    rebuilt = JobTrigger(**kwargs)
    assert rebuilt.deadline == first.deadline  # the deadline stays absolute
    event = await run_to_end(rebuilt)
    assert event.outcome == "ended" and event.jobs[0].state == "succeeded"
    assert event.resume == first.resume  # an operator resumes from the event alone
    assert sandbox.state.count(path_prefix=SHOW) > reads_before
    assert sandbox.state.zendesk.submits == []  # waiting never submits anything


async def test_many_triggers_share_one_session(sandbox: SandboxServer, zendesk_conn: str) -> None:
    ids = [sandbox.state.zendesk.create_job(total=1, duration=0.6) for _ in range(20)]
    seen: list[int] = []

    async def watch_sessions() -> None:
        for _ in range(5):
            seen.append(session_count())
            await asyncio.sleep(0.1)

    results = await asyncio.gather(*(run_to_end(make_trigger([job_id])) for job_id in ids), watch_sessions())
    events = results[:-1]
    assert all(isinstance(e, WaitEvent) and e.outcome == "ended" for e in events)
    assert max(seen) == 1
    assert session_count() == 0


async def test_unknown_status_keeps_the_wait_going(
    sandbox: SandboxServer, zendesk_conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = sandbox.state.zendesk.create_job(
        total=4, duration=1.2, queued_for=0, unknown_status="rebalancing-42"
    )
    event = await run_to_end(make_trigger([job_id]))
    assert event.outcome == "ended" and event.jobs[0].state == "succeeded"
    warnings = [r for r in caplog.records if "'rebalancing-42'" in r.getMessage()]
    assert len(warnings) == 1  # one warning per new value, not per poll
    assert sandbox.state.count(path_prefix=SHOW) >= 3


@pytest.mark.parametrize(
    "payload", [{"outcome": "finished"}, {"outcome": None}, {}], ids=["unknown", "none", "missing"]
)
def test_an_event_with_an_unknown_outcome_is_refused(payload: dict[str, Any]) -> None:
    """An event this release cannot read is never taken for jobs that ended (the task would judge jobs it
    never saw end)."""
    with pytest.raises(AirflowException, match="no outcome this release knows"):
        WaitEvent.from_payload(payload)
    assert WaitEvent.from_payload({"outcome": "decided", "message": "m"}).outcome == "decided"


# ----- the same waits for every declared vendor -----
def vendor_trigger(vendor: Vendor, job_ids: list[str], *, wait: float = 30.0) -> JobTrigger:
    """A trigger on the vendor's default connection, as its sensor would build it."""
    conn_id = vendor.declaration.default_conn_id
    return JobTrigger.for_hook(
        vendor.hook, conn_id, job_ids, 0.2, time.time() + wait, hook_params=vendor.driver.hook_params
    )


@pytest.mark.parametrize("vendor", EVERY_VENDOR)
async def test_every_vendor_waits_through_transient_errors_to_the_end(
    sandbox: SandboxServer, vendor_conn: Callable[..., str], vendor: Vendor
) -> None:
    vendor_conn(vendor.name)
    job_id = vendor.create(sandbox, 1.0, None)
    sandbox.state.add_fault(vendor.status_path, method="GET", status=503, count=2, retry_after="0")
    sandbox.state.add_fault(vendor.status_path, method="GET", reset=True, count=1)
    trigger = vendor_trigger(vendor, [job_id])
    _, kwargs = trigger.serialize()
    assert kwargs["hook_path"] == vendor.declaration.hook_class  # what the provider info lists, too
    event = await run_to_end(trigger)
    assert event.outcome == "ended" and [(job.id, job.state) for job in event.jobs] == [(job_id, "succeeded")]
    assert sandbox.state.count(path_prefix=vendor.status_path, status=503) == 2
    assert sandbox.state.count(path_prefix=vendor.status_path, status=200) >= 1
    assert vendor.submits(sandbox) == 0 and active_pollers() == 0 and session_count() == 0


@pytest.mark.parametrize("vendor", EVERY_VENDOR)
@pytest.mark.parametrize("setup", ["bad_token", "unknown_id"])
async def test_every_vendor_ends_the_wait_at_once_on_a_permanent_error(
    sandbox: SandboxServer, vendor_conn: Callable[..., str], vendor: Vendor, setup: str
) -> None:
    conn_id = vendor_conn(vendor.name, password="revoked-token" if setup == "bad_token" else CANARY_TOKEN)
    job_id = vendor.driver.unknown_id if setup == "unknown_id" else vendor.create(sandbox, 30.0, None)
    started = time.monotonic()
    event = await run_to_end(vendor_trigger(vendor, [job_id]))
    assert event.outcome == "error" and time.monotonic() - started < 2
    if setup == "bad_token":
        rejected = f"connection '{conn_id}' was rejected by {vendor.display} (HTTP "
        assert any(rejected + status in event.message for status in ("401", "403"))  # TTD says 403
    else:
        assert f"{vendor.display} does not know job {job_id}" in event.message
    assert CANARY_TOKEN not in event.message
    assert sandbox.state.count(path_prefix=vendor.status_path) == 1


@pytest.mark.parametrize("vendor", EVERY_VENDOR)
async def test_every_vendor_times_out_running_and_resumes_after_serialize(
    sandbox: SandboxServer, vendor_conn: Callable[..., str], vendor: Vendor
) -> None:
    vendor_conn(vendor.name)
    job_id = vendor.create(sandbox, 1.5, None)
    event = await run_to_end(vendor_trigger(vendor, [job_id], wait=0.5))
    assert event.outcome == "timeout" and event.jobs[0].state == "running"
    _, kwargs = vendor_trigger(vendor, [job_id]).serialize()
    assert CANARY_TOKEN not in repr(kwargs)
    event = await run_to_end(JobTrigger(**kwargs))  # as a restarted triggerer rebuilds it
    assert event.outcome == "ended" and event.jobs[0].state == "succeeded"
