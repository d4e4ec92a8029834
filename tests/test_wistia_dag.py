"""Wistia operators and sensor in real DAG runs (``dag.test()``, triggers inline) against the sandbox.

The DAGs are ``operator_dag`` and ``sensor_dag`` of tests/dags/wistia_ops.py, given their arguments by
``run_op`` and ``run_sensor``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow_harness import DagRunResult, run_dag_module
from conftest import CANARY_TOKEN, wistia_connection

from airflow_jobstatus.sandbox import SandboxServer

MODES = [pytest.param(True, id="deferrable"), pytest.param(False, id="worker")]


def media(count: int, **marks: str) -> list[str]:
    """``count`` hashed ids; ``marks`` replace some (``i130="jobfail130"``) to steer the sandbox."""
    ids = [f"media{i:04d}" for i in range(count)]
    for index, hashed_id in marks.items():
        ids[int(index.lstrip("i"))] = hashed_id
    return ids


def run_op(
    sandbox: SandboxServer,
    operator: str,
    *,
    deferrable: bool = True,
    retries: int = 0,
    timeout: float = 120,
    **kwargs: Any,
) -> DagRunResult:
    args = {"operator": operator, "retries": retries, "timeout": timeout, "deferrable": deferrable, **kwargs}
    env = {"AIRFLOW_CONN_WISTIA_DEFAULT": wistia_connection(sandbox.url)}
    result = run_dag_module("wistia_ops", "wistia_ops", args=args, env=env)
    assert CANARY_TOKEN not in result.output
    assert CANARY_TOKEN not in json.dumps(result.xcom("op"))
    return result


def submitted(sandbox: SandboxServer) -> list[int]:
    """How many media each accepted submit carried, in order."""
    return [submit.count for submit in sandbox.state.wistia.submits]


@pytest.fixture(scope="module", autouse=True)
def warm_airflow(sandbox_server: SandboxServer) -> None:
    """The first dag.test() of a process pays several seconds of set-up: pay it before timing jobs."""
    sandbox_server.reset()
    warm = run_op(
        sandbox_server, "WistiaMediaBulkOperator", action="archive", hashed_ids=["warm1"], deferrable=False
    )
    assert warm.task_states == {"op": "success"}, warm.output[-3000:]


@pytest.mark.parametrize("deferrable", MODES)
def test_tag_250_media_three_jobs_one_row_per_job(sandbox: SandboxServer, deferrable: bool) -> None:
    ids = media(250)
    result = run_op(sandbox, "WistiaBulkTagOperator", hashed_ids=ids, tag_names=["q4"], deferrable=deferrable)
    assert result.task_states == {"op": "success"}
    assert submitted(sandbox) == [100, 100, 50]
    job_ids = [str(submit.job_id) for submit in sandbox.state.wistia.submits]
    rows = result.xcom("op")
    assert [row["job_id"] for row in rows] == job_ids
    assert [row["hashed_ids"] for row in rows] == [ids[:100], ids[100:200], ids[200:]]
    assert all(row["status"] == "finished" and row["success"] and row["state"] == "succeeded" for row in rows)
    assert rows[0]["message"] == "Tagging 100 media with 1 tags"
    assert all(row["partial_errors"] == [] for row in rows)
    assert result.xcom("op", key="job_ids") == job_ids
    log = result.logs["op"]
    assert "3 jobs ended: 3 succeeded; 250 media" in log
    assert all(f"job {job_id}: finished" in log for job_id in job_ids)  # progress lines
    assert ("Pausing task as DEFERRED" in log) is deferrable
    if deferrable:
        assert log.count("Pausing task as DEFERRED") == 1


@pytest.mark.parametrize("deferrable", MODES)
def test_a_failed_trim_job_fails_the_task_naming_the_media(sandbox: SandboxServer, deferrable: bool) -> None:
    result = run_op(
        sandbox,
        "WistiaTrimMediaOperator",
        hashed_id="intro7jobfail",
        trims=["00:00:00.000-00:00:05.000"],
        deferrable=deferrable,
    )
    assert result.task_states == {"op": "failed"}
    (submit,) = sandbox.state.wistia.submits
    assert submit.body == {"trims": ["00:00:00.000-00:00:05.000"]}
    assert (
        f"job {submit.job_id} ended failed (no reason given); it covered media intro7jobfail"
        in result.logs["op"]
    )
    (row,) = result.xcom("op")  # the rows are still pushed for downstream all_done tasks
    assert (row["status"], row["success"], row["hashed_ids"]) == ("failed", False, ["intro7jobfail"])


def test_a_refused_trim_range_fails_before_waiting_with_wistias_field_errors(sandbox: SandboxServer) -> None:
    trims = ["00:09:00.000-00:12:00.000"]
    result = run_op(sandbox, "WistiaTrimMediaOperator", hashed_id="abc", trims=trims, retries=1)
    assert result.task_states == {"op": "failed"}
    assert result.try_numbers["op"] == 1  # the same trims would be refused again: no retry
    log = result.logs["op"]
    assert log.count("the submit of item 0 was refused: Wistia refused to trim media abc") == 1
    assert "(not retried: fix the input)" in log
    assert "HTTP 422): trims: 00:09:00.000-00:12:00.000 ends after the media" in log
    assert "Pausing task as DEFERRED" not in log
    assert sandbox.state.wistia.submits == []


def test_bad_arguments_fail_before_any_request(sandbox: SandboxServer) -> None:
    result = run_op(
        sandbox, "WistiaMediaBulkOperator", action="move", hashed_ids=["a1", "a1"], folder_id="f1"
    )
    assert result.task_states == {"op": "failed"}
    assert "hashed_ids[1]: 'a1' appears twice" in result.logs["op"]
    result = run_op(sandbox, "WistiaMediaBulkOperator", action="restore", hashed_ids=["a1"])
    assert "folder_id is required to restore media" in result.logs["op"]
    assert sandbox.state.requests == []


@pytest.mark.parametrize(("on_partial", "state"), [("fail", "failed"), ("warn", "success")])
def test_a_207_move_reports_its_partial_errors(sandbox: SandboxServer, on_partial: str, state: str) -> None:
    ids = media(150, i3="missing3", i120="missing120")
    result = run_op(
        sandbox,
        "WistiaMediaBulkOperator",
        action="move",
        hashed_ids=ids,
        folder_id="dest1",
        on_partial=on_partial,
    )
    assert result.task_states == {"op": state}
    first, second = result.xcom("op")
    assert first["partial_errors"] == [{"media_id": "missing3", "error": "Media not found"}]
    assert second["partial_errors"] == [{"media_id": "missing120", "error": "Media not found"}]
    assert not first["success"] and first["status"] == "finished"
    assert first["message"].startswith("Moving 99 media")
    assert f"job {first['job_id']} refused id missing3: Media not found" in result.logs["op"]
    assert submitted(sandbox) == [100, 50]


@pytest.mark.parametrize(("on_partial", "state"), [("fail", "failed"), ("warn", "success")])
def test_some_jobs_failed_follows_on_partial(sandbox: SandboxServer, on_partial: str, state: str) -> None:
    ids = media(250, i130="m130jobfail")
    result = run_op(
        sandbox, "WistiaMediaBulkOperator", action="archive", hashed_ids=ids, on_partial=on_partial
    )
    assert result.task_states == {"op": state}
    rows = result.xcom("op")
    assert [row["success"] for row in rows] == [True, False, True]
    assert (
        f"job {rows[1]['job_id']} ended failed (no reason given); it covered media media0100"
        in result.logs["op"]
    )
    assert "3 jobs ended: 2 succeeded, 1 failed; 250 media" in result.logs["op"]


def test_every_job_failed_fails_even_with_warn(sandbox: SandboxServer) -> None:
    result = run_op(
        sandbox, "WistiaBulkTagOperator", hashed_ids=["a1", "b2"], tag_names=["jobfail"], on_partial="warn"
    )
    assert result.task_states == {"op": "failed"}
    assert "1 job ended: 1 failed" in result.logs["op"]


@pytest.mark.parametrize("deferrable", MODES)
def test_a_retry_after_a_post_submit_failure_reattaches(sandbox: SandboxServer, deferrable: bool) -> None:
    sandbox.state.add_fault("/wistia/background_job_status/", method="GET", status=404, count=1)
    ids = media(250)
    result = run_op(
        sandbox, "WistiaBulkTagOperator", hashed_ids=ids, tag_names=["q4"], deferrable=deferrable, retries=1
    )
    assert result.task_states == {"op": "success"}
    assert result.try_numbers["op"] == 2
    assert submitted(sandbox) == [100, 100, 50]  # ONE submit per request over both tries
    first, second = (result.ti_logs[("op", -1, n)] for n in (1, 2))
    assert "Wistia does not know job" in first
    assert "reattaching to 3 jobs submitted by earlier tries" in second
    assert [row["hashed_ids"] for row in result.xcom("op")] == [ids[:100], ids[100:200], ids[200:]]


def test_a_lost_trim_answer_is_not_resent(sandbox: SandboxServer) -> None:
    sandbox.state.add_fault("/wistia/medias/abc/trims", status=None, drop_response=True, count=1)
    result = run_op(
        sandbox, "WistiaTrimMediaOperator", hashed_id="abc", trims=["00:00:01.000-00:00:02.000"], retries=1
    )
    assert result.task_states == {"op": "failed"}
    assert len(sandbox.state.wistia.submits) == 1
    assert "resubmit_unconfirmed=True" in result.ti_logs[("op", -1, 2)]


def test_the_move_limit_is_waited_for_not_failed(sandbox: SandboxServer) -> None:
    config = sandbox.state.wistia.config
    config.move_limit, config.move_period = 2, 2.0
    ids = media(250)
    result = run_op(sandbox, "WistiaMediaBulkOperator", action="move", hashed_ids=ids, folder_id="dest1")
    assert result.task_states == {"op": "success"}
    assert submitted(sandbox) == [100, 100, 50]  # each request accepted once
    assert sandbox.state.count(method="PUT", path_prefix="/wistia/medias/move", status=429) >= 1
    assert [row["hashed_ids"] for row in result.xcom("op")] == [ids[:100], ids[100:200], ids[200:]]


def run_sensor(sandbox: SandboxServer, job_id: Any, deferrable: bool) -> DagRunResult:
    env = {"AIRFLOW_CONN_WISTIA_DEFAULT": wistia_connection(sandbox.url)}
    args = {"job_id": job_id, "deferrable": deferrable}
    result = run_dag_module("wistia_ops", "wistia_sensor", args=args, env=env)
    assert CANARY_TOKEN not in result.output
    assert ("Pausing task as DEFERRED" in result.logs["wait"]) is deferrable
    return result


@pytest.mark.parametrize("deferrable", MODES)
def test_sensor_waits_for_one_job_and_returns_it(sandbox: SandboxServer, deferrable: bool) -> None:
    job_id = sandbox.state.wistia.create_job(duration=1.5)
    result = run_sensor(sandbox, job_id, deferrable)
    assert result.task_states == {"wait": "success"}
    job = result.xcom("wait")
    assert (job["id"], job["state"], job["vendor_status"]) == (str(job_id), "succeeded", "finished")


@pytest.mark.parametrize("deferrable", MODES)
def test_sensor_fails_when_a_job_of_a_list_failed(sandbox: SandboxServer, deferrable: bool) -> None:
    wistia = sandbox.state.wistia
    ids = [wistia.create_job(duration=1.0), wistia.create_job(outcome="failed", duration=1.2)]
    result = run_sensor(sandbox, ids, deferrable)
    assert result.task_states == {"wait": "failed"}
    assert f"job {ids[1]} ended failed" in result.logs["wait"]


def test_sensor_fails_naming_an_unknown_job(sandbox: SandboxServer) -> None:
    result = run_sensor(sandbox, "4242", deferrable=False)
    assert result.task_states == {"wait": "failed"}
    assert "Wistia does not know job 4242" in result.logs["wait"]
