"""What a retry may do (issue 16, items 2 and 3): an error no retry can change fails the task at once, and a
submit that never left the worker is never taken for one whose answer was lost."""

from __future__ import annotations

from typing import Any

import pytest
from airflow_harness import DagRunResult, run_dag_module
from conftest import zendesk_connection
from test_submit_ledger import MemoryStore, MemoryTi

from airflow_jobstatus.compat import AirflowException, AirflowFailException
from airflow_jobstatus.core.ledger import LEDGER_KEY
from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator
from airflow_jobstatus.sandbox import SandboxServer

UPDATE = "/api/v2/tickets/update_many"


def run_with(connection: str, **args: Any) -> DagRunResult:
    """Run ``retries_dag`` of tests/dags/retry_semantics.py (a user's DAG: a bulk update and a sensor, both
    with two retries) on ``connection``."""
    return run_dag_module(
        "retry_semantics",
        "retry_semantics",
        args={"with_bulk": True, **args},
        env={"AIRFLOW_CONN_ZENDESK_DEFAULT": connection},
    )


def test_a_connection_without_a_token_fails_once_and_sends_nothing(sandbox: SandboxServer) -> None:
    result = run_with(zendesk_connection(sandbox.url, password=None))
    assert result.task_states == {"bulk": "failed", "wait": "failed"}
    assert result.try_numbers == {"bulk": 1, "wait": 1}  # two retries allowed, none used
    assert "has no credentials" in result.logs["bulk"] and "has no credentials" in result.logs["wait"]
    assert sandbox.state.count(path_prefix="/api/") == 0


def test_a_rejected_token_fails_once_on_submit_and_in_the_trigger(sandbox: SandboxServer) -> None:
    sandbox.state.add_fault(path_prefix="/api/", status=401, count=None)
    result = run_with(zendesk_connection(sandbox.url))
    assert result.task_states == {"bulk": "failed", "wait": "failed"}
    assert result.try_numbers == {"bulk": 1, "wait": 1}
    assert sandbox.state.count(method="PUT", path_prefix=UPDATE) == 1
    assert "was rejected by Zendesk (HTTP 401" in result.logs["bulk"]


def test_a_token_revoked_while_deferred_fails_without_retry(sandbox: SandboxServer) -> None:
    job_id = sandbox.state.zendesk.create_job(total=1, duration=30)
    # The sensor's first read (on the worker) passes; the trigger's reads are refused: a revoked token.
    sandbox.state.add_fault(path_prefix="/api/v2/job_statuses/", status=None, count=1)
    sandbox.state.add_fault(path_prefix="/api/v2/job_statuses/", status=401, count=None)
    result = run_with(zendesk_connection(sandbox.url), with_bulk=False, wait_job_id=job_id)
    assert result.task_states == {"wait": "failed"}
    assert result.try_numbers == {"wait": 1}
    assert "not retried: fix the connection" in result.logs["wait"]


def operator() -> ZendeskBulkOperator:
    return ZendeskBulkOperator(
        task_id="bulk",
        resource="users",
        action="create_many",
        items=[{"name": "A", "email": "a@example.com"}],
    )


@pytest.mark.parametrize(
    ("broken", "raised", "said"),
    [
        ({"password": None}, AirflowFailException, "has no credentials"),
        ({"host": "http://127.0.0.1:9"}, AirflowException, "was not sent"),  # nothing listens on port 9
    ],
    ids=["no-token", "connection-refused"],
)
def test_a_submit_that_never_left_is_sent_by_the_next_try(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, broken: dict[str, Any], raised: type, said: str
) -> None:
    store = MemoryStore()
    monkeypatch.setenv("AIRFLOW_CONN_ZENDESK_DEFAULT", zendesk_connection(sandbox.url, **broken))
    with pytest.raises(raised, match=said):
        operator().execute({"ti": MemoryTi(1), "task_state_store": store})
    saved = store.get(LEDGER_KEY)
    assert saved is None or saved.get("unconfirmed") == []  # never sent: not "sent, answer lost"
    # The connection is fixed; the next try (create_many: resubmit_unconfirmed is off) sends the user once.
    monkeypatch.setenv("AIRFLOW_CONN_ZENDESK_DEFAULT", zendesk_connection(sandbox.url))
    sandbox.state.zendesk.job_seconds = 0.1
    ready = operator()
    ready.deferrable = False
    ready.poll_interval = 0.1
    rows = ready.execute({"ti": MemoryTi(2), "task_state_store": store})
    assert [row["success"] for row in rows] == [True]
    assert len(sandbox.state.zendesk.submits) == 1
