"""Restarts and retries never submit twice, for every declared vendor (tests/reliability/vendors.py): a
triggerer killed mid-wait resumes the same wait; a task retried after its timeout reattaches to the job
its first try submitted."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from airflow_harness import run_dag
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


OPERATOR_DAG = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from {module} import {name}

with DAG(
    dag_id="reattach",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={{"retries": 1, "retry_delay": timedelta(0)}},
):
    {name}(task_id="op", poll_interval=0.3, timeout=3,{kwargs})
"""


@pytest.mark.parametrize("vendor", VENDOR_PARAMS)
def test_a_retry_after_the_timeout_reattaches(sandbox: SandboxServer, vendor: Vendor) -> None:
    vendor.store(sandbox).config.job_seconds = 5.0
    path, kwargs = vendor.driver.operator
    module, _, name = path.rpartition(".")
    rendered = "".join(f"\n        {key}={value!r}," for key, value in kwargs.items())
    result = run_dag(
        OPERATOR_DAG.format(module=module, name=name, kwargs=rendered), "reattach", env=vendor.env(sandbox)
    )
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
    source = OPERATOR_DAG.format(
        module="airflow_jobstatus.operators.tradedesk",
        name="TradeDeskStandardJobOperator",
        kwargs="\n        kind='campaign_create',\n        payload={'input': [{'name': 'Q4'}]},",
    )
    result = run_dag(source, "reattach", env=tradedesk.env(sandbox))
    assert result.task_states == {"op": "failed"}
    assert tradedesk.submits(sandbox) == 1  # the campaign exists once
    assert "the answer to the submit of item 0 was lost" in result.ti_logs[("op", -1, 1)]
    assert "resubmit_unconfirmed=True" in result.ti_logs[("op", -1, 2)]
