"""Restarts and retries never submit twice, for every declared vendor (tests/reliability/vendors.py): a
triggerer killed mid-wait resumes the same wait; a task retried after its timeout reattaches to the job
its first try submitted."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from airflow_harness import DagRunResult, run_dag_module
from conftest import CANARY_TOKEN
from vendors import ALL_VENDORS, Vendor
from vendors import vendor as vendor_named

from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.triggers.job import JobTrigger, WaitEvent
from airflow_jobstatus.triggers.poller import active_pollers

VENDOR_PARAMS = [pytest.param(vendor, id=vendor.name) for vendor in ALL_VENDORS]


@pytest.mark.parametrize("vendor", VENDOR_PARAMS)
async def test_a_restarted_triggerer_resumes_the_same_wait(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, vendor: Vendor
) -> None:
    for name, value in vendor.env(sandbox).items():
        monkeypatch.setenv(name, value)
    job_id = vendor.create(sandbox, 2.0, None)
    conn_id = vendor.declaration.default_conn_id
    first = JobTrigger.for_hook(vendor.hook, conn_id, [job_id], 0.3, time.time() + 30)

    async def consume(trigger: JobTrigger) -> list[Any]:
        return [event async for event in trigger.run()]

    task = asyncio.create_task(consume(first))
    await asyncio.sleep(0.8)  # mid-wait, the triggerer dies
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert active_pollers() == 0
    reads_before = sandbox.state.count(path_prefix=vendor.status_path)
    assert reads_before >= 1

    _, kwargs = first.serialize()
    assert CANARY_TOKEN not in repr(kwargs)
    rebuilt = JobTrigger(**kwargs)
    assert rebuilt.deadline == first.deadline  # absolute: a restart does not extend the wait
    (payload,) = await consume(rebuilt)
    event = WaitEvent.from_payload(payload.payload)
    assert event.outcome == "ended" and event.jobs[0].state == "succeeded"
    assert sandbox.state.count(path_prefix=vendor.status_path) > reads_before
    assert vendor.submits(sandbox) == 0  # waiting never submits


def run_op(vendor: Vendor, sandbox: SandboxServer, operator: str, kwargs: dict[str, Any]) -> DagRunResult:
    """Run ``operator`` (an import path) in ``operator_dag`` of tests/dags/operator_task.py: task ``op``,
    timeout 3 s, one retry."""
    args = {"dag_id": "reattach", "operator": operator, "kwargs": kwargs, "retries": 1, "timeout": 3}
    return run_dag_module("operator_task", "reattach", args=args, env=vendor.env(sandbox))


@pytest.mark.parametrize("vendor", VENDOR_PARAMS)
def test_a_retry_after_the_timeout_reattaches(sandbox: SandboxServer, vendor: Vendor) -> None:
    vendor.store(sandbox).config.job_seconds = 5.0
    operator, kwargs = vendor.driver.operator
    result = run_op(vendor, sandbox, operator, kwargs)
    assert result.task_states == {"op": "success"}
    assert result.try_numbers["op"] == 2
    first, second = (result.ti_logs[("op", -1, n)] for n in (1, 2))
    assert "timed out after 3 s" in first and "a retry reattaches" in first
    assert "reattaching to 1 job submitted by earlier tries" in second
    assert vendor.submits(sandbox) == 1  # ONE submit over both tries
    assert CANARY_TOKEN not in result.output


def test_a_lost_answer_to_a_trade_desk_create_is_never_resent(sandbox: SandboxServer) -> None:
    tradedesk = vendor_named("tradedesk")
    sandbox.state.add_fault("/tradedesk/standardjob/campaign/bulk", status=None, drop_response=True)
    result = run_op(
        tradedesk,
        sandbox,
        "airflow_jobstatus.operators.tradedesk.TradeDeskStandardJobOperator",
        {"kind": "campaign_create", "payload": {"input": [{"name": "Q4"}]}},
    )
    assert result.task_states == {"op": "failed"}
    assert tradedesk.submits(sandbox) == 1  # the campaign exists once
    assert "the answer to the submit of item 0 was lost" in result.ti_logs[("op", -1, 1)]
    assert "resubmit_unconfirmed=True" in result.ti_logs[("op", -1, 2)]
