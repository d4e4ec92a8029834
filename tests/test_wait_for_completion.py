"""``wait_for_completion=False`` (issue 16, item 13): an operator submits its jobs, pushes their ids and
returns them at once; a vendor sensor downstream waits on that list, as with the official providers."""

from __future__ import annotations

import time
from typing import Any

import pytest
from airflow_harness import run_dag_module
from conftest import tradedesk_connection, wistia_connection, zendesk_connection
from test_submit_ledger import MemoryStore, MemoryTi

from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator
from airflow_jobstatus.sandbox import SandboxServer


def test_an_operator_that_does_not_wait_hands_its_jobs_to_a_sensor(sandbox: SandboxServer) -> None:
    for vendor in (sandbox.state.zendesk, sandbox.state.wistia, sandbox.state.tradedesk):
        vendor.job_seconds = 1.0
    env = {
        "AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url),
        "AIRFLOW_CONN_WISTIA_DEFAULT": wistia_connection(sandbox.url),
        "AIRFLOW_CONN_TRADEDESK_DEFAULT": tradedesk_connection(sandbox.url),
    }
    # tests/dags/submit_then_sense.py: each vendor's operator submits without waiting, and a sensor waits
    # on what it returned.
    result = run_dag_module("submit_then_sense", "submit_then_sense", args={"zendesk_items": 150}, env=env)
    assert result.state == "success", result.output[-3000:]
    zendesk_ids = [submit.job_id for submit in sandbox.state.zendesk.submits]
    assert result.xcom("solve") == result.xcom("solve", key="job_ids") == zendesk_ids
    assert [submit.count for submit in sandbox.state.zendesk.submits] == [100, 50]
    assert [job["id"] for job in result.xcom("solved")] == zendesk_ids
    assert all(job["state"] == "succeeded" for job in result.xcom("solved"))
    assert result.xcom("tag") == [str(submit.job_id) for submit in sandbox.state.wistia.submits]
    assert len(result.xcom("tag")) == 1 and result.xcom("tagged")[0]["state"] in ("succeeded", "partial")
    assert result.xcom("query") == [submit.job_id for submit in sandbox.state.tradedesk.submits]
    assert result.xcom("queried")[0]["state"] == "succeeded"
    assert "not waiting for them (wait_for_completion=False)" in result.logs["solve"]
    assert "submitted 2 jobs" in result.logs["solve"]
    # The operators returned before their jobs ended: they read no job status at all.
    assert "covers items 100-149" in result.logs["solve"] and "1/" not in result.logs["solve"]


def submit_only(**kwargs: Any) -> ZendeskBulkOperator:
    return ZendeskBulkOperator(
        task_id="solve",
        resource="tickets",
        action="update_many",
        items=kwargs.pop("items", [1, 2, 3]),
        change={"status": "solved"},
        **{"wait_for_completion": False, **kwargs},
    )


def test_a_retry_of_an_operator_that_did_not_wait_submits_nothing(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    store = MemoryStore()
    first = submit_only().execute({"ti": MemoryTi(1, max_tries=1), "task_state_store": store})
    again = submit_only().execute({"ti": MemoryTi(2, max_tries=1), "task_state_store": store})
    assert first == again == [sandbox.state.zendesk.submits[0].job_id]
    assert len(sandbox.state.zendesk.submits) == 1


def test_a_refused_submit_is_sent_again_after_retry_after_not_after_our_jobs(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    """Not waiting means not waiting for our own jobs to make room either: a 429 waits its Retry-After."""
    sandbox.state.zendesk.job_seconds = 2.0
    sandbox.state.zendesk.max_active_jobs = 1  # the second submit is refused while the first job runs
    started = time.monotonic()
    ids = submit_only(items=list(range(1, 151))).execute(
        {"ti": MemoryTi(1), "task_state_store": MemoryStore()}
    )
    assert len(ids) == 2 and [s.count for s in sandbox.state.zendesk.submits] == [100, 50]
    assert sandbox.state.count(method="PUT", path_prefix="/api/v2/tickets/update_many") >= 3  # one refused
    assert sandbox.state.count(method="GET", path_prefix="/api/v2/job_statuses") == 0  # never read a status
    assert time.monotonic() - started < 15


def test_an_input_beyond_the_jobs_in_flight_is_refused_before_sending(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    task = submit_only(items=list(range(1, 302)), max_jobs_in_flight=3)
    with pytest.raises(ConfigurationError, match=r"raise max_jobs_in_flight to 4") as raised:
        task.execute({"ti": MemoryTi(1), "task_state_store": MemoryStore()})
    assert "wait_for_completion=False" in str(raised.value) and "301" in str(raised.value)
    assert sandbox.state.count(path_prefix="/api/") == 0


def test_wait_for_completion_must_be_a_boolean() -> None:
    with pytest.raises(ConfigurationError, match="wait_for_completion must be True or False, not 'False'"):
        submit_only(wait_for_completion="False")
