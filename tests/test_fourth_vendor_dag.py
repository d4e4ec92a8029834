"""The made-up fourth vendor's operator in a real DAG run (``dag.test()``, trigger inline) against the
sandbox: it submits in jobs of 50, defers once, resumes, and returns per-item results with the one
failed item reported."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow_harness import DagRunResult, run_dag_module
from conftest import CANARY_TOKEN, sandbox_connection

from airflow_jobstatus.sandbox import SandboxServer


def run_bulk(sandbox: SandboxServer, items: list[dict[str, Any]]) -> DagRunResult:
    """Run AcmeBulkOperator on ``items`` (task ``op``, deferrable, timeout 120 s) in ``operator_dag`` of
    tests/dags/operator_task.py."""
    args = {
        "dag_id": "acme_bulk",
        "operator": "fourth_vendor.operators.AcmeBulkOperator",
        "kwargs": {"items": items},
        "timeout": 120,
        "deferrable": True,
    }
    env = {"AIRFLOW_CONN_ACME_DEFAULT": sandbox_connection("acme", sandbox.url)}
    return run_dag_module("operator_task", "acme_bulk", args=args, env=env)


@pytest.fixture(scope="module", autouse=True)
def warm_airflow(sandbox_server: SandboxServer) -> None:
    """The first dag.test() of a process pays several seconds of set-up: pay it before the real run."""
    sandbox_server.reset()
    run_bulk(sandbox_server, [{"key": "warm"}])


def test_120_items_three_jobs_one_deferral_per_item_results_and_the_failed_item(
    sandbox: SandboxServer,
) -> None:
    items = [{"key": f"sku-{i:03d}", "qty": i} for i in range(120)]
    items[57]["key"] = "sku-057-itemfail"
    result = run_bulk(sandbox, items)

    acme = sandbox.state.store("acme")
    assert [submit.count for submit in acme.submits] == [50, 50, 20]
    assert [submit.body["items"] for submit in acme.submits] == [items[:50], items[50:100], items[100:]]
    job_ids = [submit.job_id for submit in acme.submits]
    assert result.xcom("op", key="job_ids") == job_ids
    assert result.task_states == {"op": "failed"}  # on_partial="fail": the failed item fails the task
    rows = result.xcom("op")  # still pushed, for downstream all_done tasks
    assert [row["index"] for row in rows] == list(range(120))
    assert [row["id"] for row in rows] == [item["key"] for item in items]
    assert [row["job_id"] for row in rows] == [job_ids[0]] * 50 + [job_ids[1]] * 50 + [job_ids[2]] * 20
    failed = [row for row in rows if not row["success"]]
    assert [(row["index"], row["error"]) for row in failed] == [(57, "rejected: the item is marked to fail")]
    log = result.logs["op"]
    assert log.count("Pausing task as DEFERRED") == 1  # one trigger waits for the three jobs
    assert all(f"job {job_id}: " in log and "[working]" in log for job_id in job_ids)  # its progress
    assert f"job {job_ids[2]}: 20/20 (100%) [done]" in log
    assert "3 jobs ended: 2 succeeded, 1 partial" in log  # the task resumed and judged them
    assert f"job {job_ids[1]} index 57, id sku-057-itemfail: rejected: the item is marked to fail" in log
    assert "1 of 120 items failed" in log
    assert CANARY_TOKEN not in result.output and CANARY_TOKEN not in json.dumps(rows)
