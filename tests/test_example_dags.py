"""The shipped example DAGs run as written against the sandbox (no vendor account)."""

from __future__ import annotations

from pathlib import Path

from airflow_harness import run_dag
from conftest import CANARY_TOKEN, zendesk_connection

from airflow_jobstatus.sandbox import SandboxServer

EXAMPLES = Path(__file__).resolve().parent.parent / "example_dags"


def test_zendesk_wait_for_job_example(sandbox: SandboxServer) -> None:
    zendesk = sandbox.state.zendesk
    ids = [
        zendesk.create_job(total=40, duration=2.0),
        zendesk.create_job(total=10, duration=1.0, failed_indexes=[3]),
    ]
    result = run_dag(
        (EXAMPLES / "zendesk_wait_for_job.py").read_text(),
        "zendesk_wait_for_job",
        env={"AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url)},
        conf={"job_ids": ids},
    )
    assert result.state == "success"
    assert result.task_states == {"wait_for_jobs": "success", "summarize": "success"}
    assert [job["id"] for job in result.xcom("wait_for_jobs")] == ids
    assert result.xcom("summarize") == {"jobs": 2, "items": 50, "failed_items": 1}
    assert "failed item: index=3" in result.logs["summarize"]
    assert CANARY_TOKEN not in result.output
