"""Every example DAG, triggered through the REST API of a real Airflow, succeeds and waits in the triggerer.

The four runs go at once (as a user would trigger them: ``example_runs`` in conftest.py); each test then
checks one of them: the run succeeded, its waiting tasks deferred (the triggerer did the waiting, not a
worker: see ``assert_deferred``), and their XCom results, read back through the API, are what the
sandbox did.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .api import assert_deferred
from .conftest import FAILING_TICKET, Deployment, ExampleRuns


def test_zendesk_wait_for_job(deployment: Deployment, example_runs: ExampleRuns) -> None:
    api, dag_id = deployment.api, "zendesk_wait_for_job"
    run_id = example_runs.run_id(api, dag_id)
    assert_deferred(api, dag_id, run_id, "wait_for_jobs")

    jobs = api.xcom(dag_id, run_id, "wait_for_jobs")
    assert [job["id"] for job in jobs] == example_runs.zendesk_jobs
    assert [job["state"] for job in jobs] == ["succeeded", "partial", "succeeded"]
    assert [len(job["results"]) for job in jobs] == [200, 150, 20]
    failed = [item["index"] for item in jobs[1]["results"] if not item["success"]]
    assert failed == [3, 42]
    assert api.xcom(dag_id, run_id, "summarize") == {"jobs": 3, "items": 370, "failed_items": 2}


def test_zendesk_bulk_update(deployment: Deployment, example_runs: ExampleRuns) -> None:
    api, dag_id = deployment.api, "zendesk_bulk_update"
    run_id = example_runs.run_id(api, dag_id)
    assert_deferred(api, dag_id, run_id, "update_tickets")

    results = api.xcom(dag_id, run_id, "update_tickets")
    assert [row["id"] for row in results] == list(range(1001, 1251))
    assert [row["id"] for row in results if not row["success"]] == [FAILING_TICKET]
    submits = example_runs.submits["zendesk"]
    assert [submit.count for submit in submits] == [100, 100, 50]
    assert {row["job_id"] for row in results} == {submit.job_id for submit in submits}
    assert api.xcom(dag_id, run_id, "report") == {"tickets": 250, "updated": 249, "failed": 1}


def test_wistia_tag_and_trim(deployment: Deployment, example_runs: ExampleRuns) -> None:
    api, dag_id = deployment.api, "wistia_tag_and_trim"
    run_id = example_runs.run_id(api, dag_id)
    for task_id in ("tag_media", "trim_intro"):
        assert_deferred(api, dag_id, run_id, task_id)

    tagged = api.xcom(dag_id, run_id, "tag_media")
    assert [len(row["hashed_ids"]) for row in tagged] == [100, 100, 50]
    assert all(row["success"] for row in tagged)
    trimmed = api.xcom(dag_id, run_id, "trim_intro")
    assert [row["hashed_ids"] for row in trimmed] == [["intro0001"]]
    submitted = {str(submit.job_id) for submit in example_runs.submits["wistia"]}
    assert {row["job_id"] for row in tagged + trimmed} == submitted
    assert len(example_runs.submits["wistia"]) == 4
    assert api.xcom(dag_id, run_id, "report") == {"jobs": 4, "media_done": 251, "media_failed": 0}


def test_tradedesk_graphql_report(deployment: Deployment, example_runs: ExampleRuns) -> None:
    api, dag_id = deployment.api, "tradedesk_graphql_report"
    run_id = example_runs.run_id(api, dag_id)
    assert_deferred(api, dag_id, run_id, "run_report")

    stored = api.xcom(dag_id, run_id, "run_report")
    path = Path(stored["path"].removeprefix("file://"))
    assert path.parent == example_runs.reports
    assert hashlib.sha256(path.read_bytes()).hexdigest() == stored["sha256"]
    assert len(example_runs.submits["tradedesk"]) == 1
    summary = api.xcom(dag_id, run_id, "read_report")
    assert summary["bytes"] == stored["size"] == path.stat().st_size
