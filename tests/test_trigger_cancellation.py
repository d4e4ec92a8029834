"""A cancelled wait ends within seconds, at any count, and leaves nothing behind (issue 18, item 6).

A triggerer cancels every trigger task at shutdown, when its triggers are handed to another triggerer,
and when a user clears a deferred task or marks it failed or succeeded. A wait that swallows or outlives
its cancel blocks all of that. Each test starts N waits (JobTrigger.run(), as the triggerer consumes it)
on jobs of ten minutes in one event loop, against the real sandbox over HTTP, cancels all of them at a
chosen moment, and checks that every one ended, cancelled, within BOUND seconds; that the poller and the
shared session were released; that the poller's own tasks are gone and that no read goes out any more.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

import pytest
from hostile_support import ZENDESK_HOOK

from airflow_jobstatus.http import transport_async
from airflow_jobstatus.http.transport_async import session_count
from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.triggers.job import JobTrigger
from airflow_jobstatus.triggers.poller import active_pollers

#: A correctness bound, not a timing target: generous for a loaded 2-core machine.
BOUND = 5.0
STATUS_PATH = "/api/v2/job_statuses/"
#: The message Airflow's triggerer cancels a trigger with when a user acted on its task.
USER_ACTION = "__airflow_user_action__"


def status_reads(sandbox: SandboxServer) -> int:
    """Status read requests the sandbox answered so far."""
    return sandbox.state.count(path_prefix=STATUS_PATH)


async def until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` every 20 ms until true or ``timeout`` seconds passed."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        await asyncio.sleep(0.02)
    return True


async def wait_on(conn_id: str, job_id: str, deadline: float) -> None:
    """One wait as the triggerer runs it: iterate the trigger's run()."""
    trigger = JobTrigger(ZENDESK_HOOK, conn_id, [job_id], 1.0, deadline, max_poll_interval=1.0)
    async for _ in trigger.run():
        raise AssertionError("a wait on a job of ten minutes ended")


async def at_start(sandbox: SandboxServer, count: int) -> None:
    """Cancel while the waits start: loading the hook, opening the poller, joining the first batch."""
    await asyncio.sleep(0)


async def after_first_reads(sandbox: SandboxServer, count: int) -> None:
    """Cancel once the first batch reached the sandbox: first answers on their way."""
    assert await until(lambda: status_reads(sandbox) >= 1, 60), "no read within 60 s"


async def in_steady_state(sandbox: SandboxServer, count: int) -> None:
    """Cancel after two full rounds of reads: answers are handed out all the time."""
    rounds = 2 * math.ceil(count / 100)  # show_many reads 100 jobs a call
    assert await until(lambda: status_reads(sandbox) >= rounds, 120), "two rounds took over 120 s"


MOMENTS: dict[str, Callable[[SandboxServer, int], Awaitable[None]]] = {
    "at_start": at_start,
    "after_first_reads": after_first_reads,
    "in_steady_state": in_steady_state,
}


async def cancel_all_and_check(
    sandbox: SandboxServer,
    conn_id: str,
    count: int,
    moment: str,
    message: str | None = None,
    one_by_one: bool = False,
    twice: bool = False,
) -> None:
    """Start ``count`` waits, cancel them all at ``moment`` (``one_by_one``: a loop iteration after each
    cancel; ``twice``: once more a loop iteration later, as a triggerer shutting down while it handles a
    user's action does), check they all end promptly and cleanly."""
    ids = [sandbox.state.zendesk.create_job(total=10, duration=600) for _ in range(count)]
    deadline = time.time() + 900
    before = set(asyncio.all_tasks())
    waits = [asyncio.create_task(wait_on(conn_id, job_id, deadline)) for job_id in ids]
    await MOMENTS[moment](sandbox, count)
    assert not any(task.done() for task in waits), "a wait ended before its cancel"
    sessions = list(transport_async._sessions.values())  # closed at the end, not only forgotten
    for task in waits:
        task.cancel(message)
        if one_by_one:  # as Airflow's TriggerRunner.cancel_triggers: a loop iteration after each
            await asyncio.sleep(0)
    cancelled_at = time.monotonic()
    if twice:
        await asyncio.sleep(0)
        for task in waits:
            if not task.done():
                task.cancel()
    await until(lambda: all(task.done() for task in waits), BOUND)
    took = time.monotonic() - cancelled_at
    running = sum(not task.done() for task in waits)
    assert running == 0, f"{running} of {count} waits still ran {took:.1f} s after their cancel"
    assert all(task.cancelled() for task in waits), "a wait returned or failed instead of being cancelled"
    assert active_pollers() == 0, "the poller outlived every wait"
    assert session_count() == 0, "the shared HTTP session outlived every wait"
    await until(lambda: all(session.closed for session in sessions), 1.0)
    assert all(session.closed for session in sessions), "the shared HTTP session was left open"

    def leftovers() -> list[asyncio.Task[object]]:
        return [task for task in asyncio.all_tasks() - before if task is not asyncio.current_task()]

    await until(lambda: not leftovers(), 1.0)  # a cancelled HTTP call may take a loop iteration or two
    assert not leftovers(), f"tasks left behind: {[task.get_name() for task in leftovers()][:5]}"
    reads = status_reads(sandbox)
    await asyncio.sleep(1.5)  # more than a poll interval: a poller still running would read again
    assert status_reads(sandbox) == reads, "reads went on after every wait was cancelled"
    print(f"{count} waits cancelled {moment}: all ended within {took:.2f} s")


@pytest.mark.parametrize("moment", list(MOMENTS))
@pytest.mark.parametrize("count", [1, 200])
async def test_cancelled_waits_end_at_once_and_release_everything(
    sandbox: SandboxServer, zendesk_conn: str, count: int, moment: str
) -> None:
    await cancel_all_and_check(sandbox, zendesk_conn, count, moment)


@pytest.mark.slow
@pytest.mark.parametrize("moment", list(MOMENTS))
@pytest.mark.parametrize("count", [2_000, 10_000])
async def test_thousands_of_cancelled_waits_end_within_seconds(
    sandbox: SandboxServer, zendesk_conn: str, count: int, moment: str
) -> None:
    await cancel_all_and_check(sandbox, zendesk_conn, count, moment)


@pytest.mark.parametrize("count", [1, 200, 2_000])
async def test_waits_cancelled_twice_still_release_everything(
    sandbox: SandboxServer, zendesk_conn: str, count: int
) -> None:
    await cancel_all_and_check(sandbox, zendesk_conn, count, "in_steady_state", twice=True)


@pytest.mark.parametrize("count", [200, 2_000])
async def test_waits_cancelled_one_by_one_as_the_triggerer_does_end_promptly(
    sandbox: SandboxServer, zendesk_conn: str, count: int
) -> None:
    await cancel_all_and_check(sandbox, zendesk_conn, count, "in_steady_state", USER_ACTION, one_by_one=True)


async def test_a_user_action_cancel_keeps_its_message(sandbox: SandboxServer, zendesk_conn: str) -> None:
    """Airflow's triggerer calls on_kill() only when the CancelledError out of run() still carries the
    message it cancelled with: no layer of the wait may replace it."""
    job_id = sandbox.state.zendesk.create_job(total=10, duration=600)
    wait = asyncio.create_task(wait_on(zendesk_conn, job_id, time.time() + 900))
    assert await until(lambda: status_reads(sandbox) >= 2, 30), "no second read within 30 s"
    wait.cancel(USER_ACTION)
    with pytest.raises(asyncio.CancelledError) as raised:
        await wait
    assert raised.value.args == (USER_ACTION,)
