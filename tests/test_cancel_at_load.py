"""Cancelled waits end within seconds at any load (issue 15 row 17): a trigger that outlives its cancel
blocks the triggerer's shutdown and the hand-over of its triggers to another triggerer."""

from __future__ import annotations

import asyncio
import time

from hostile_support import ZENDESK_HOOK

from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.triggers.job import JobTrigger
from airflow_jobstatus.triggers.poller import active_pollers
from airflow_jobstatus.triggers.waiting import within


async def test_within_never_loses_a_cancel_that_comes_with_the_answer() -> None:
    answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    waiter = asyncio.create_task(within(answer, 10.0))
    await asyncio.sleep(0)
    answer.set_result(1)  # the answer and the cancel arrive in the same loop iteration
    waiter.cancel()
    try:
        await waiter
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("within() returned the answer and lost the cancel")
    assert waiter.cancelled()


async def test_within_times_out_and_cancels_what_it_awaited() -> None:
    started = time.monotonic()
    slow = asyncio.ensure_future(asyncio.sleep(30))
    try:
        await within(slow, 0.05)
    except asyncio.TimeoutError:
        pass
    else:
        raise AssertionError("no timeout")
    assert slow.cancelled() and time.monotonic() - started < 1


async def test_three_thousand_waits_cancelled_at_once_all_end_within_seconds(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    ids = [sandbox.state.zendesk.create_job(total=10, duration=600) for _ in range(3000)]
    deadline = time.time() + 600

    async def wait(job_id: str) -> None:
        trigger = JobTrigger(ZENDESK_HOOK, zendesk_conn, [job_id], 1.0, deadline)
        async for _ in trigger.run():
            raise AssertionError("a wait on a job of ten minutes ended")

    waits = [asyncio.create_task(wait(job_id)) for job_id in ids]
    started = time.monotonic()
    while sandbox.state.count(path_prefix="/api/v2/job_statuses/") < 90 and time.monotonic() - started < 30:
        await asyncio.sleep(0.2)  # three rounds of reads: 3,000 answers are handed out all the time
    for task in waits:
        task.cancel()
    cancelled_at = time.monotonic()
    while any(not task.done() for task in waits) and time.monotonic() - cancelled_at < 10:
        await asyncio.sleep(0.05)
    still_running = sum(not task.done() for task in waits)
    assert still_running == 0, f"{still_running} of 3000 waits still ran 10 s after their cancel"
    assert time.monotonic() - cancelled_at < 5
    assert all(task.cancelled() for task in waits)
    await asyncio.sleep(0.1)
    assert active_pollers() == 0
