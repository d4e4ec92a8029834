"""ZendeskBulkOperator in real DAG runs (``dag.test()`` on SQLite, triggers inline) against the sandbox.

The DAGs are modules under tests/dags/: ``zendesk_bulk.py`` (``bulk_dag``, given its arguments by
``run_bulk``) and ``zendesk_bulk_old_airflow.py``.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from airflow_harness import DagRunResult, run_dag_module
from conftest import CANARY_TOKEN, zendesk_connection

from airflow_jobstatus.sandbox import SandboxServer

MODES = [pytest.param(True, id="deferrable"), pytest.param(False, id="worker")]
SUBMIT_PATHS = ("/api/v2/tickets/", "/api/v2/users/")


def tickets(count: int, **marks: str) -> list[dict[str, Any]]:
    """``count`` ticket updates (ids 1000...); ``marks`` put a sandbox marker in some items' subject."""
    rows = [{"id": 1000 + i, "status": "solved"} for i in range(count)]
    for index, marker in marks.items():
        rows[int(index.lstrip("i"))]["subject"] = marker
    return rows


def run_bulk(
    sandbox: SandboxServer,
    items: Any,
    *,
    deferrable: bool = True,
    resource: str = "tickets",
    action: str = "update_many",
    change: dict[str, Any] | None = None,
    on_partial: str = "fail",
    timeout: float = 120,
    retries: int = 0,
    **extra: Any,
) -> DagRunResult:
    args = {
        "dag_id": "zendesk_bulk",
        "items": items,
        "resource": resource,
        "action": action,
        "change": change,
        "timeout": timeout,
        "on_partial": on_partial,
        "deferrable": deferrable,
        "retries": retries,
        **extra,
    }
    env = {"AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url)}
    result = run_dag_module("zendesk_bulk", "zendesk_bulk", args=args, env=env)
    assert CANARY_TOKEN not in result.output
    assert CANARY_TOKEN not in json.dumps(result.xcom("bulk"))
    return result


def submits(sandbox: SandboxServer) -> list[int]:
    """The item count of every submit the sandbox accepted, in order."""
    return [submit.count for submit in sandbox.state.zendesk.submits]


@pytest.fixture(scope="module", autouse=True)
def warm_airflow(sandbox_server: SandboxServer) -> None:
    """The first dag.test() of a process pays several seconds of set-up: pay it before timing jobs."""
    sandbox_server.reset()
    warm = run_bulk(sandbox_server, [1], action="destroy_many", deferrable=False)
    assert warm.task_states == {"bulk": "success"}, warm.output[-3000:]


@pytest.mark.parametrize("deferrable", MODES)
def test_250_items_three_jobs_results_in_input_order(sandbox: SandboxServer, deferrable: bool) -> None:
    sandbox.state.zendesk.job_seconds = 1.5
    items = tickets(250)
    result = run_bulk(sandbox, items, deferrable=deferrable)
    assert result.task_states == {"bulk": "success"}
    assert submits(sandbox) == [100, 100, 50]
    rows = result.xcom("bulk")
    assert [row["index"] for row in rows] == list(range(250))
    assert [row["id"] for row in rows] == [item["id"] for item in items]
    assert all(row["success"] and row["status"] == "Updated" for row in rows)
    job_ids = [submit.job_id for submit in sandbox.state.zendesk.submits]
    assert result.xcom("bulk", key="job_ids") == job_ids
    assert [row["job_id"] for row in rows] == [job_ids[0]] * 100 + [job_ids[1]] * 100 + [job_ids[2]] * 50
    log = result.logs["bulk"]
    assert f"job {job_ids[1]} covers items 100-199" in log
    assert "3 jobs ended: 3 succeeded; 250 of 250 items succeeded" in log
    assert ("Pausing task as DEFERRED" in log) is deferrable
    if deferrable:  # one trigger for the wave: show_many, never one status call per job
        assert log.count("Pausing task as DEFERRED") == 1
        assert sandbox.state.count(method="GET", path_prefix="/api/v2/job_statuses/show_many") >= 2


@pytest.mark.parametrize("deferrable", MODES)
def test_job_limit_sends_waves_without_losing_or_repeating_items(
    sandbox: SandboxServer, deferrable: bool
) -> None:
    sandbox.state.zendesk.max_active_jobs = 2
    sandbox.state.zendesk.job_limit_retry_after = 0.2
    users = [{"name": f"User {i}", "email": f"user{i}@example.com"} for i in range(450)]
    result = run_bulk(sandbox, users, resource="users", action="create_many", deferrable=deferrable)
    assert result.task_states == {"bulk": "success"}
    assert submits(sandbox) == [100, 100, 100, 100, 50]  # every chunk accepted once
    assert sandbox.state.count(method="POST", path_prefix="/api/v2/users/create_many", status=429) >= 2
    rows = result.xcom("bulk")
    assert [row["index"] for row in rows] == list(range(450))
    assert all(row["success"] for row in rows) and len({row["id"] for row in rows}) == 450
    log = result.logs["bulk"]
    assert "waiting for this task's running jobs before sending more" in log
    if deferrable:
        assert log.count("Pausing task as DEFERRED") == 3


def test_max_jobs_in_flight_sends_waves_on_its_own(sandbox: SandboxServer) -> None:
    result = run_bulk(sandbox, [2000 + i for i in range(350)], action="destroy_many", max_jobs_in_flight=2)
    assert result.task_states == {"bulk": "success"}
    assert submits(sandbox) == [100, 100, 100, 50]
    assert sandbox.state.count(status=429) == 0  # never pushed Zendesk to its limit
    assert result.logs["bulk"].count("Pausing task as DEFERRED") == 2
    rows = result.xcom("bulk")
    assert [row["id"] for row in rows] == [2000 + i for i in range(350)]
    assert {row["status"] for row in rows} == {"Deleted"}


@pytest.mark.parametrize("deferrable", MODES)
def test_partial_failure_fails_by_default_listing_input_indexes(
    sandbox: SandboxServer, deferrable: bool
) -> None:
    items = tickets(150, i7="[sandbox:fail]", i120="[sandbox:fail]")
    result = run_bulk(sandbox, items, deferrable=deferrable)
    assert result.task_states == {"bulk": "failed"}
    log = result.logs["bulk"]
    assert "148 of 150 items succeeded" in log
    jobs = [submit.job_id for submit in sandbox.state.zendesk.submits]
    assert f"job {jobs[0]} index 7, id 1007: RecordInvalid" in log
    assert f"job {jobs[1]} index 120, id 1120: RecordInvalid" in log
    rows = result.xcom("bulk")  # pushed even though the task failed: a downstream all_done task can read it
    assert [row["index"] for row in rows if not row["success"]] == [7, 120]


def test_partial_failure_with_warn_succeeds_and_keeps_failed_items(sandbox: SandboxServer) -> None:
    items = tickets(150, i7="[sandbox:fail]", i120="[sandbox:fail]")
    result = run_bulk(sandbox, items, on_partial="warn")
    assert result.task_states == {"bulk": "success"}
    rows = result.xcom("bulk")
    assert len(rows) == 150
    failed = [row for row in rows if not row["success"]]
    assert [(row["index"], row["id"], row["error"]) for row in failed] == [
        (7, 1007, "RecordInvalid"),
        (120, 1120, "RecordInvalid"),
    ]
    assert "index 120, id 1120: RecordInvalid" in result.logs["bulk"]


@pytest.mark.parametrize("deferrable", MODES)
def test_failed_job_fails_the_task_naming_its_items(sandbox: SandboxServer, deferrable: bool) -> None:
    items = tickets(250, i130="[sandbox:job-failed]")
    result = run_bulk(sandbox, items, deferrable=deferrable)
    assert result.task_states == {"bulk": "failed"}
    failed_job = sandbox.state.zendesk.submits[1].job_id
    assert (
        f"job {failed_job} ended failed (Job failed: sandbox injected failure); it covered items 100-199"
        in (result.logs["bulk"])
    )
    rows = result.xcom("bulk")
    assert len(rows) == 250 and all(row["success"] for row in rows[:100] + rows[200:])
    assert all(not row["success"] for row in rows[150:200])  # never reported by the failed job


@pytest.mark.parametrize("deferrable", MODES)
def test_timeout_fails_with_progress(sandbox: SandboxServer, deferrable: bool) -> None:
    sandbox.state.zendesk.job_seconds = 120
    result = run_bulk(sandbox, tickets(5), deferrable=deferrable, timeout=1.5)
    assert result.task_states == {"bulk": "failed"}
    log = result.logs["bulk"]
    assert "JobWaitTimeout" in log and "timed out after 1.5 s" in log and "a retry reattaches" in log
    assert submits(sandbox) == [5]


@pytest.mark.parametrize("deferrable", MODES)
def test_retry_after_a_failed_status_read_reattaches_without_resubmitting(
    sandbox: SandboxServer, deferrable: bool
) -> None:
    sandbox.state.zendesk.job_seconds = 1.5
    sandbox.state.add_fault("/api/v2/job_statuses/", method="GET", status=404, count=1)
    result = run_bulk(sandbox, tickets(250), deferrable=deferrable, retries=1)
    assert result.task_states == {"bulk": "success"}
    assert result.try_numbers["bulk"] == 2
    assert submits(sandbox) == [100, 100, 50]  # ONE submit per chunk over both tries
    first, second = (result.ti_logs[("bulk", -1, n)] for n in (1, 2))
    assert "Zendesk does not know" in first
    assert "reattaching to 3 jobs submitted by earlier tries" in second
    rows = result.xcom("bulk")
    assert [row["index"] for row in rows] == list(range(250)) and all(row["success"] for row in rows)


def test_retry_sends_again_only_the_items_that_failed(sandbox: SandboxServer) -> None:
    sandbox.state.zendesk.fail_ids = {1042}
    result = run_bulk(sandbox, [1000 + i for i in range(120)], change={"status": "solved"}, retries=1)
    assert result.task_states == {"bulk": "failed"}  # the item fails again on the retry
    assert submits(sandbox) == [100, 20, 1]
    second = result.ti_logs[("bulk", -1, 2)]
    assert "sending item 42 again: their earlier job reported them failed" in second
    rows = result.xcom("bulk")
    assert rows[42]["job_id"] == sandbox.state.zendesk.submits[2].job_id and not rows[42]["success"]


@pytest.mark.parametrize(
    ("action", "items", "outcome"),
    [
        ("create_many", [{"subject": f"t{i}"} for i in range(3)], "failed"),
        ("update_many", tickets(3), "success"),
    ],
)
def test_lost_submit_answer_is_never_blindly_resent_for_creates(
    sandbox: SandboxServer, action: str, items: list[dict[str, Any]], outcome: str
) -> None:
    path = f"/api/v2/tickets/{action}"
    sandbox.state.add_fault(path, status=None, drop_response=True, count=1)
    result = run_bulk(sandbox, items, action=action, retries=1)
    assert result.task_states == {"bulk": outcome}
    first, second = (result.ti_logs[("bulk", -1, n)] for n in (1, 2))
    assert "the answer to the submit of items 0-2 was lost" in first
    if action == "create_many":  # the job exists in Zendesk: sending it again would duplicate 3 tickets
        assert Counter(s.path for s in sandbox.state.zendesk.submits) == {path: 1}
        assert "resubmit_unconfirmed=True" in second
    else:  # an update is safe to repeat
        assert Counter(s.path for s in sandbox.state.zendesk.submits) == {path: 2}
        assert "sent items 0-2 without an answer: sending them again" in second


def test_retry_finding_its_jobs_expired_stops_instead_of_resubmitting(sandbox: SandboxServer) -> None:
    sandbox.state.zendesk.config.retention_seconds = 0.3  # Zendesk forgets the job while try 1 waits
    result = run_bulk(sandbox, tickets(5), retries=2)
    assert result.task_states == {"bulk": "failed"}
    assert result.try_numbers["bulk"] == 2  # no third try: retrying cannot help
    assert submits(sandbox) == [5]
    assert "Zendesk does not know job" in result.ti_logs[("bulk", -1, 1)]
    second = result.ti_logs[("bulk", -1, 2)]
    assert "earlier tries submitted jobs that Zendesk no longer knows" in second
    assert "state-store/airflow_jobstatus.ledger" in second


def test_without_a_task_state_store_it_warns_and_a_retry_submits_again(sandbox: SandboxServer) -> None:
    """What Airflow < 3.3 (no task state store) gets: a warning, and a retry that cannot reattach."""
    sandbox.state.add_fault("/api/v2/job_statuses/", method="GET", status=404, count=1)
    env = {"AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url)}
    result = run_dag_module("zendesk_bulk_old_airflow", "zendesk_bulk_old_airflow", env=env)
    assert result.task_states == {"bulk": "success"}
    assert submits(sandbox) == [3, 3]
    for try_number in (1, 2):
        log = result.ti_logs[("bulk", -1, try_number)]
        assert log.count("this Airflow has no task state store") == 1
