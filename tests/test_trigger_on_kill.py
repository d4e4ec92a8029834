"""JobTrigger.on_kill (Airflow 3.3+): a user marked the deferred task failed or success, or cleared it.

No vendor of the package can cancel a job, so on_kill logs one warning in the task's log (the trigger's
logger): the vendor, the jobs left running and their ids, and that they cannot be cancelled from Airflow.
It sends nothing to the vendor, never fails, never holds a secret, and leaves the serialized trigger as it
was. Each test runs a real wait against the sandbox first, cancelled as Airflow's triggerer cancels it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from conftest import CANARY_TOKEN
from vendor_drivers import Vendor, vendors_of

from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.triggers.job import KILL_MESSAGE_IDS, JobTrigger
from airflow_jobstatus.vendors import get

#: The message Airflow's triggerer cancels a trigger with when a user acted on its task.
USER_ACTION = "__airflow_user_action__"
SHIPPED = [
    pytest.param(vendor, id=vendor.name)
    for vendor in vendors_of([get(name) for name in ("zendesk", "wistia", "tradedesk")])
]
#: What each vendor calls its jobs, as the message says they cannot be cancelled.
NOUNS = {
    "zendesk": "Zendesk job statuses",
    "wistia": "Wistia background jobs",
    "tradedesk": "The Trade Desk jobs",
}


def trigger_for(vendor: Vendor, job_ids: list[str]) -> JobTrigger:
    """A trigger on the vendor's default connection, as its sensor would build it."""
    return JobTrigger.for_hook(
        vendor.hook,
        vendor.declaration.default_conn_id,
        job_ids,
        0.2,
        time.time() + 60,
        hook_params=vendor.driver.hook_params,
    )


async def run_until_read(trigger: JobTrigger, sandbox: SandboxServer, status_path: str) -> asyncio.Task[Any]:
    """Start the trigger as the triggerer does; return its task once it read its jobs twice."""

    async def consume() -> None:
        async for _ in trigger.run():
            raise AssertionError("a wait on jobs of ten minutes ended")

    task = asyncio.create_task(consume())
    deadline = time.monotonic() + 30
    while sandbox.state.count(path_prefix=status_path) < 2 * len(trigger.job_ids):
        assert time.monotonic() < deadline, "the trigger did not read its jobs within 30 s"
        assert not task.done(), task
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the answers reach the wait
    return task


async def cancel_as_a_user(task: asyncio.Task[Any]) -> None:
    task.cancel(USER_ACTION)
    with pytest.raises(asyncio.CancelledError):
        await task


async def kill_logs(trigger: JobTrigger) -> list[dict[str, Any]]:
    with structlog.testing.capture_logs() as logs:
        await trigger.on_kill()
    return logs


@pytest.mark.parametrize("vendor", SHIPPED)
async def test_on_kill_warns_once_naming_the_vendor_and_the_jobs_left_running(
    sandbox: SandboxServer, vendor_conn: Callable[..., str], vendor: Vendor
) -> None:
    vendor_conn(vendor.name)
    running = [vendor.create(sandbox, 600.0, None) for _ in range(2)]
    ended = vendor.create(sandbox, 0.0, None)
    trigger = trigger_for(vendor, [*running, ended])
    before = trigger.serialize()
    task = await run_until_read(trigger, sandbox, vendor.driver.status_path)
    await cancel_as_a_user(task)
    requests_before = len(sandbox.state.requests)

    logs = await kill_logs(trigger)

    assert [entry["log_level"] for entry in logs] == ["warning"], logs
    message = logs[0]["event"]
    assert all(job_id in message for job_id in running), message
    assert ended not in message, "a job read as ended is not left running"
    assert f"2 {vendor.display} jobs of 3 keep running at {vendor.display}" in message
    assert f"{NOUNS[vendor.name]} cannot be cancelled from Airflow" in message
    assert f"connection '{vendor.declaration.default_conn_id}'" in message
    assert CANARY_TOKEN not in repr(logs)
    assert len(sandbox.state.requests) == requests_before, "on_kill must send nothing to the vendor"
    assert trigger.serialize() == before, "the serialized trigger must not change"


async def test_on_kill_before_any_read_names_every_job(sandbox: SandboxServer, zendesk_conn: str) -> None:
    zendesk = vendors_of([get("zendesk")])[0]
    ids = [zendesk.create(sandbox, 600.0, None) for _ in range(3)]
    trigger = trigger_for(zendesk, ids)  # never ran: a kill may come before the first answer
    logs = await kill_logs(trigger)
    assert len(logs) == 1 and logs[0]["log_level"] == "warning"
    assert all(job_id in logs[0]["event"] for job_id in ids)
    assert "3 Zendesk jobs keep running at Zendesk" in logs[0]["event"]


async def test_on_kill_after_every_job_ended_says_so_without_a_warning(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    zendesk = vendors_of([get("zendesk")])[0]
    ids = [zendesk.create(sandbox, 0.0, None) for _ in range(2)]
    trigger = trigger_for(zendesk, ids)
    events = [event async for event in trigger.run()]  # the wait ended: its event came first
    assert events[0].payload["outcome"] == "ended"
    logs = await kill_logs(trigger)
    assert [entry["log_level"] for entry in logs] == ["info"]
    assert "its 2 Zendesk jobs had all ended" in logs[0]["event"]
    assert "keep running" not in logs[0]["event"]


async def test_on_kill_with_many_jobs_names_the_first_and_counts_the_rest() -> None:
    ids = [f"{index:032x}" for index in range(KILL_MESSAGE_IDS + 7)]
    trigger = JobTrigger("airflow_jobstatus.hooks.zendesk.ZendeskJobHook", "zendesk_default", ids, 1.0, 1e10)
    logs = await kill_logs(trigger)
    message = logs[0]["event"]
    assert ids[KILL_MESSAGE_IDS - 1] in message and ids[KILL_MESSAGE_IDS] not in message
    assert "and 7 more" in message


async def test_on_kill_never_fails_even_when_the_hook_cannot_be_loaded() -> None:
    trigger = JobTrigger("no_such_module.NoHook", "some_conn", ["17", "18"], 1.0, 1e10)
    logs = await kill_logs(trigger)  # no exception: Airflow would only log a traceback
    assert len(logs) == 1 and logs[0]["log_level"] == "warning"
    assert "17, 18" in logs[0]["event"] and "cannot be cancelled from Airflow" in logs[0]["event"]


def test_on_kill_is_what_airflow_calls() -> None:
    """Airflow 3.3's triggerer awaits ``trigger.on_kill()`` with no arguments; Airflow 3.1 and 3.2 have no
    such hook and never call it (the method is then an unused coroutine function)."""
    import inspect

    assert inspect.iscoroutinefunction(JobTrigger.on_kill)
    assert list(inspect.signature(JobTrigger.on_kill).parameters) == ["self"]
    # cleanup() runs on every exit, a hand-over to another triggerer included: never report there.
    assert "cleanup" not in vars(JobTrigger)
