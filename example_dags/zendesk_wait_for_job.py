"""Wait for Zendesk bulk jobs to finish, then summarize their per-item results.

Trigger it with the job ids to wait for, e.g. ``{"job_ids": ["8b726e606741012ffc2d782bcb7848fe"]}``
(the ids Zendesk returned from ``tickets/update_many`` and friends). ``make demo`` runs it against
the local sandbox, with no Zendesk account.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_jobstatus.sensors.zendesk import ZendeskJobSensor

with DAG(
    dag_id="zendesk_wait_for_job",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    render_template_as_native_obj=True,
    params={
        "job_ids": Param(["replace-with-a-job-id"], type="array", description="Zendesk job ids to wait for"),
    },
    tags=["jobstatus", "zendesk"],
):
    wait_for_jobs = ZendeskJobSensor(
        task_id="wait_for_jobs",
        job_id="{{ params.job_ids }}",
        zendesk_conn_id="zendesk_default",
        poll_interval=2,
        timeout=600,
        on_partial="warn",
    )

    @task
    def summarize(jobs: list[dict[str, Any]]) -> dict[str, int]:
        """Count the items of every job, and print each failed one."""
        items = [item for job in jobs for item in job["results"]]
        failed = [item for item in items if not item["success"]]
        for item in failed:
            print(f"failed item: index={item['index']} id={item['id']} {item['error']}: {item['details']}")
        return {"jobs": len(jobs), "items": len(items), "failed_items": len(failed)}

    summarize(wait_for_jobs.output)
