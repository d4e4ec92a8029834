"""Dynamic task mapping (issue 16, item 1): every operator mapped with ``expand`` / ``expand_kwargs``, over
a literal list and over an upstream XComArg, deferrable or not; each map index with its own jobs, ledger,
XCom and result; a retry of one map index that reattaches to its own jobs only.

The DAG is ``mapped_dag`` of tests/dags/mapped_jobs.py, the module as a user would write it; the mode and
the retries are its arguments.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow_harness import DagRunResult, run_dag_module
from conftest import tradedesk_connection, wistia_connection, zendesk_connection

from airflow_jobstatus.sandbox import SandboxServer

MODES = [pytest.param(True, id="deferrable"), pytest.param(False, id="worker")]


def run_mapped(sandbox: SandboxServer, *, deferrable: bool, retries: int = 0) -> DagRunResult:
    env = {
        "AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url),
        "AIRFLOW_CONN_WISTIA_DEFAULT": wistia_connection(sandbox.url),
        "AIRFLOW_CONN_TRADEDESK_DEFAULT": tradedesk_connection(sandbox.url),
    }
    args = {"deferrable": deferrable, "retries": retries}
    return run_dag_module("mapped_jobs", "mapped_jobs", args=args, env=env)


def rows_of(result: DagRunResult, task_id: str, map_index: int) -> Any:
    return result.xcom(task_id, map_index=map_index)


@pytest.mark.parametrize("deferrable", MODES)
def test_every_operator_works_mapped_each_map_index_with_its_own_jobs(
    sandbox: SandboxServer, deferrable: bool
) -> None:
    result = run_mapped(sandbox, deferrable=deferrable)
    assert result.ti_states == {
        ("ticket_batches", -1): "success",
        ("zendesk", 0): "success",
        ("zendesk", 1): "success",
        ("zendesk", 2): "success",
        ("wistia", 0): "success",
        ("wistia", 1): "success",
        ("tradedesk", 0): "success",
        ("tradedesk", 1): "success",
    }
    # Zendesk: one job per map index, its results for its own tickets only, in its own input order.
    zendesk = [rows_of(result, "zendesk", index) for index in range(3)]
    assert [[row["id"] for row in rows] for rows in zendesk] == [[101, 102, 103], [104, 105], [106]]
    job_ids = [result.xcom("zendesk", key="job_ids", map_index=index) for index in range(3)]
    assert all(len(ids) == 1 for ids in job_ids) and len({ids[0] for ids in job_ids}) == 3
    assert [{row["job_id"] for row in rows} for rows in zendesk] == [set(ids) for ids in job_ids]
    assert len(sandbox.state.zendesk.submits) == 3
    # Wistia: each map index tagged its own media.
    wistia = [rows_of(result, "wistia", index) for index in range(2)]
    assert [[row["hashed_ids"] for row in rows] for rows in wistia] == [
        [["media0001", "media0002"]],
        [["media0003"]],
    ]
    # The Trade Desk: each map index its own query and its own job.
    queries = sorted(submit.body["query"] for submit in sandbox.state.tradedesk.submits)
    assert queries == ["query { advertisers { nodes { id } } }", "query { campaigns { nodes { id } } }"]
    ttd_ids = [result.xcom("tradedesk", key="job_id", map_index=index) for index in range(2)]
    assert len(set(ttd_ids)) == 2
    assert ("Pausing task as DEFERRED" in result.logs["zendesk"]) is deferrable


def test_a_retry_of_one_map_index_reattaches_to_its_own_jobs_only(sandbox: SandboxServer) -> None:
    # The first wait's reads get a broken answer, four times (a read and its three retries): that try ends,
    # only that map index retries, and its retry reattaches to its own job and resubmits nothing.
    sandbox.state.zendesk.job_seconds = 0.5
    broken = {"unexpected": True}
    sandbox.state.add_fault(
        path_prefix="/api/v2/job_statuses/", method="GET", status=200, body=broken, count=4
    )
    result = run_mapped(sandbox, deferrable=True, retries=1)
    states = {key: state for key, state in result.ti_states.items() if key[0] == "zendesk"}
    assert states == {("zendesk", 0): "success", ("zendesk", 1): "success", ("zendesk", 2): "success"}
    assert len(sandbox.state.zendesk.submits) == 3  # one per map index over all tries
    retried = [index for index in range(3) if ("zendesk", index, 2) in result.ti_logs]
    assert len(retried) == 1
    assert "reattaching to 1 job submitted by earlier tries" in result.ti_logs[("zendesk", retried[0], 2)]
    rows = rows_of(result, "zendesk", retried[0])
    assert [row["id"] for row in rows] == [[101, 102, 103], [104, 105], [106]][retried[0]]
