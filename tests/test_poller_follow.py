"""The poller's follow mode (issue 18, item 6), over the real sandbox: a wait's steps run in the poller as
answers arrive, in the wait's own context (Airflow routes a trigger's log lines to its task's log by the
context's ``trigger_id``); an unchanged job is handed out again as the same object; a step that fails ends
its wait with its error instead of leaving it waiting; and LastReads forgets jobs no longer read."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import structlog
from hostile_support import ZENDESK_HOOK

from airflow_jobstatus.core.models import Job
from airflow_jobstatus.core.recent import LastReads
from airflow_jobstatus.hooks.zendesk import STATUS_FIELDS, ZendeskJobHook, parse_job
from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.triggers.job import JobTrigger, WaitEvent
from airflow_jobstatus.triggers.poller import JobPoller, Reader, active_pollers


async def test_each_waits_progress_lines_carry_its_own_log_context(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    ids = [sandbox.state.zendesk.create_job(total=10, duration=1.0, queued_for=0.2) for _ in range(2)]

    async def wait(trigger_id: int, job_id: str) -> WaitEvent:
        structlog.contextvars.bind_contextvars(trigger_id=trigger_id)  # as Airflow's run_trigger does
        trigger = JobTrigger(ZENDESK_HOOK, zendesk_conn, [job_id], 0.2, time.time() + 30)
        events = [event async for event in trigger.run()]
        return WaitEvent.from_payload(events[0].payload)

    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        events = await asyncio.gather(wait(101, ids[0]), wait(202, ids[1]))
    assert [event.outcome for event in events] == ["ended", "ended"]
    for trigger_id, job_id in ((101, ids[0]), (202, ids[1])):
        lines = [entry for entry in logs if str(entry.get("event", "")).startswith(f"job {job_id}: ")]
        assert len(lines) >= 2, logs  # queued, working..., completed: logged while the poller delivered
        assert {entry.get("trigger_id") for entry in lines} == {trigger_id}
    assert active_pollers() == 0


async def test_an_unchanged_job_comes_back_as_the_same_objects(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    still = sandbox.state.zendesk.create_job(total=100, duration=600)  # queued for a long time
    moving = sandbox.state.zendesk.create_job(total=1000, duration=20, queued_for=0)
    async with JobPoller.watch(ZendeskJobHook, zendesk_conn, {}) as poller:
        reader = poller.reader([still])
        first, _ = await reader.read()
        second, _ = await reader.read(0.2)
        assert second is first and second[0] is first[0]  # nothing new for the wait (or the GC) to keep
        mover = poller.reader([moving])
        before, _ = await mover.read()
        await asyncio.sleep(0.3)
        after, _ = await mover.read()
    assert after is not before and after[0].progress != before[0].progress
    assert first[0].state.value == "queued"


async def test_a_step_that_fails_ends_its_wait_with_the_error(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    job_id = sandbox.state.zendesk.create_job(total=10, duration=600)
    async with JobPoller.watch(ZendeskJobHook, zendesk_conn, {}) as poller:
        reader = poller.reader([job_id])
        seen: list[Any] = []

        def step(reader: Reader, answer: list[Job] | BaseException) -> None:
            seen.append(answer)
            raise ValueError("a defect in a step")

        ended = reader.follow(step)
        reader.again(0.0)
        with pytest.raises(ValueError, match="a defect in a step"):
            await asyncio.wait_for(ended, 10)
        reader.leave()

        def idle(reader: Reader, answer: list[Job] | BaseException) -> None:
            pass  # neither again() nor end(): the wait must not hang

        ended_reader = poller.reader([job_id])
        ended = ended_reader.follow(idle)
        ended_reader.again(0.0)
        with pytest.raises(RuntimeError, match="armed no next read"):
            await asyncio.wait_for(ended, 10)
    assert len(seen) == 1 and isinstance(seen[0], list)


def test_last_reads_reuses_an_unchanged_status_and_forgets_what_is_no_longer_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    built: list[str] = []

    def build(raw: dict[str, Any]) -> Job:
        built.append(raw["id"])
        return parse_job(raw, succeeded_items=False)

    reads = LastReads(STATUS_FIELDS, keep=60)
    queued = {"id": "a1", "status": "queued", "total": 5, "progress": None}
    first = reads.job(dict(queued), build)
    assert reads.job(dict(queued), build) is first and built == ["a1"] and reads.hits == 1
    working = reads.job({**queued, "status": "working", "progress": 1}, build)
    assert working is not first and working.vendor_status == "working"
    done = {**queued, "status": "completed", "progress": 5, "results": [{"index": 0, "success": True}]}
    assert reads.job(done, build) is not reads.job(done, build)  # a status with results: always built
    reads.job({"id": "b2", "status": "queued"}, build)
    now[0] += 61  # one period: a2 and b2 move to the old generation...
    reads.job({"id": "c3", "status": "queued"}, build)
    assert len(reads) == 3
    now[0] += 61  # ...and a job not read for two periods is forgotten
    reads.job({"id": "c3", "status": "queued"}, build)
    assert len(reads) == 1
    built.clear()
    reads.job(dict(queued), build)
    assert built == ["a1"]
