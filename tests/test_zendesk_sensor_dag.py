"""ZendeskJobSensor in real DAG runs (``dag.test()`` on SQLite, triggers inline) against the sandbox.

The DAG is ``sensor_dag`` of tests/dags/zendesk_sensor.py, given its arguments by ``run_sensor``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from airflow_harness import DagRunResult, run_dag_module
from conftest import CANARY_TOKEN, zendesk_connection

from airflow_jobstatus.sandbox import SandboxServer

MODES = [pytest.param(True, id="deferrable"), pytest.param(False, id="worker")]


@pytest.fixture(scope="module", autouse=True)
def warm_airflow(sandbox_server: SandboxServer) -> None:
    """The first dag.test() of a process pays several seconds of set-up: pay it before timing jobs.

    From a reset sandbox, and asserted: a fault another module's test left pending would otherwise keep
    this sensor polling until its timeout (a minute), unnoticed."""
    sandbox_server.reset()
    warm = run_sensor(sandbox_server, sandbox_server.state.zendesk.create_job(duration=0), deferrable=False)
    assert warm.task_states == {"wait": "success"}, warm.output[-3000:]


def run_sensor(
    sandbox: SandboxServer,
    job_id: str | list[str],
    *,
    deferrable: bool,
    on_partial: str = "fail",
    timeout: float = 60,
) -> DagRunResult:
    args = {"job_id": job_id, "timeout": timeout, "on_partial": on_partial, "deferrable": deferrable}
    env = {"AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url)}
    result = run_dag_module(
        "zendesk_sensor", "zendesk_sensor", args={"dag_id": "zendesk_sensor", **args}, env=env
    )
    assert CANARY_TOKEN not in result.output
    assert CANARY_TOKEN not in json.dumps(result.xcom("wait"))
    return result


def progress_lines(log: str, job_id: str) -> list[str]:
    """The progress lines of one job in a task log, in order (``job <id>: 3/10 (30%) [working]``)."""
    return re.findall(rf"job {job_id}: [^\n]*?\[\w+\]", log)


def assert_deferred(result: DagRunResult, deferrable: bool) -> None:
    assert ("Pausing task as DEFERRED" in result.logs["wait"]) is deferrable


@pytest.mark.parametrize("deferrable", MODES)
def test_one_job_completes(sandbox: SandboxServer, deferrable: bool) -> None:
    # Working from the start (never queued), and long enough for the first read to find it unfinished
    # even on a slow machine: every line before the last shows it working.
    job_id = sandbox.state.zendesk.create_job(total=10, duration=3.5, queued_for=0)
    result = run_sensor(sandbox, job_id, deferrable=deferrable)
    assert result.state == "success"
    assert result.task_states == {"wait": "success"}
    value: dict[str, Any] = result.xcom("wait")
    assert value["id"] == job_id and value["state"] == "succeeded" and value["vendor_status"] == "completed"
    assert (value["progress"], value["total"]) == (10, 10)
    assert len(value["results"]) == 10
    log = result.logs["wait"]
    *working, last = progress_lines(log, job_id)
    assert last == f"job {job_id}: 10/10 (100%) [completed]"
    assert working, f"no progress line before the job completed: {log}"
    # Each read's progress, as the sandbox reports it: never going back.
    done = [int(count) for count in re.findall(rf"job {job_id}: (\d+)/10 ", "\n".join(working))]
    assert working == [f"job {job_id}: {count}/10 ({count * 10}%) [working]" for count in done]
    assert done == sorted(done) and done[-1] < 10
    assert "1 job ended: 1 succeeded" in log
    assert_deferred(result, deferrable)


@pytest.mark.parametrize("deferrable", MODES)
def test_list_of_jobs_returns_a_list_in_order(sandbox: SandboxServer, deferrable: bool) -> None:
    ids = [sandbox.state.zendesk.create_job(total=2, duration=d) for d in (3.5, 0.5, 1.0)]
    result = run_sensor(sandbox, ids, deferrable=deferrable)
    assert result.task_states == {"wait": "success"}
    assert [job["id"] for job in result.xcom("wait")] == ids
    assert "3 jobs ended: 3 succeeded" in result.logs["wait"]
    assert_deferred(result, deferrable)
    if deferrable:  # one show_many per poll for the three jobs, never one call per job
        assert sandbox.state.count(path_prefix="/api/v2/job_statuses/show_many") >= 2
        assert sandbox.state.count(method="GET", path_prefix="/api/v2/job_statuses/") == sandbox.state.count(
            path_prefix="/api/v2/job_statuses/show_many"
        )


@pytest.mark.parametrize("deferrable", MODES)
def test_partial_fails_by_default_listing_every_failed_item(sandbox: SandboxServer, deferrable: bool) -> None:
    job_id = sandbox.state.zendesk.create_job(total=30, duration=1.0, failed_indexes=[2, 17, 29])
    result = run_sensor(sandbox, job_id, deferrable=deferrable)
    assert result.state == "failed"
    assert result.task_states == {"wait": "failed"}
    log = result.logs["wait"]
    assert "1 job ended: 1 partial" in log
    for index in (2, 17, 29):
        assert f"job {job_id} item index {index}, id " in log
    assert "TicketUpdateFailed" in log


@pytest.mark.parametrize("deferrable", MODES)
def test_partial_with_warn_succeeds_and_keeps_failed_items(sandbox: SandboxServer, deferrable: bool) -> None:
    job_id = sandbox.state.zendesk.create_job(total=5, duration=1.0, failed_indexes=[4])
    result = run_sensor(sandbox, job_id, deferrable=deferrable, on_partial="warn")
    assert result.task_states == {"wait": "success"}
    value = result.xcom("wait")
    assert value["state"] == "partial"
    failed = [item for item in value["results"] if not item["success"]]
    assert [item["index"] for item in failed] == [4]
    assert f"job {job_id} item index 4" in result.logs["wait"]


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize(
    ("outcome", "words"), [("failed", "ended failed"), ("killed", "ended killed: Killed by system")]
)
def test_failed_and_killed_jobs_fail_the_task(
    sandbox: SandboxServer, deferrable: bool, outcome: str, words: str
) -> None:
    job_id = sandbox.state.zendesk.create_job(total=8, duration=1.0, outcome=outcome)
    result = run_sensor(sandbox, job_id, deferrable=deferrable)
    assert result.task_states == {"wait": "failed"}
    assert f"job {job_id} {words}" in result.logs["wait"]
    assert result.xcom("wait") is None


@pytest.mark.parametrize("deferrable", MODES)
def test_unknown_job_id_fails_naming_it(sandbox: SandboxServer, deferrable: bool) -> None:
    result = run_sensor(sandbox, "feedfacefeedfacefeedfacefeedface", deferrable=deferrable)
    assert result.task_states == {"wait": "failed"}
    assert "Zendesk does not know job feedfacefeedfacefeedfacefeedface" in result.logs["wait"]
    assert "expired" in result.logs["wait"]


@pytest.mark.parametrize("deferrable", MODES)
def test_timeout_fails_with_last_progress(sandbox: SandboxServer, deferrable: bool) -> None:
    job_id = sandbox.state.zendesk.create_job(total=100, duration=120, queued_for=0)
    result = run_sensor(sandbox, job_id, deferrable=deferrable, timeout=1.5)
    assert result.task_states == {"wait": "failed"}
    log = result.logs["wait"]
    assert "AirflowSensorTimeout" in log
    assert f"job {job_id}: " in log and "[working]" in log


def test_job_expiring_while_deferred_fails_as_not_found(sandbox: SandboxServer) -> None:
    job_id = sandbox.state.zendesk.create_job(total=3, duration=30, queued_for=0, expires_after=3.5)
    result = run_sensor(sandbox, job_id, deferrable=True)
    assert result.task_states == {"wait": "failed"}
    assert_deferred(result, True)
    assert f"Zendesk does not know job {job_id}" in result.logs["wait"]


def test_bad_token_fails_before_deferring(sandbox: SandboxServer) -> None:
    job_id = sandbox.state.zendesk.create_job(total=3, duration=30)
    args = {"dag_id": "zendesk_bad_token", "job_id": job_id, "deferrable": True}
    env = {"AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url, password="revoked-token")}
    result = run_dag_module("zendesk_sensor", "zendesk_bad_token", args=args, env=env)
    assert result.task_states == {"wait": "failed"}
    assert "connection 'zendesk_default' was rejected by Zendesk (HTTP 401" in result.logs["wait"]
    assert_deferred(result, False)


def test_bad_arguments_fail_before_any_request(sandbox: SandboxServer) -> None:
    args = {"dag_id": "zendesk_bad_args", "job_id": "  ", "deferrable": True}
    env = {"AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url)}
    result = run_dag_module("zendesk_sensor", "zendesk_bad_args", args=args, env=env)
    assert result.task_states == {"wait": "failed"}
    assert "job_id must be a job id or a non-empty list of job ids" in result.logs["wait"]
    assert sandbox.state.count(path_prefix="/api/v2/") == 0
