"""Test DAG of the account-limit test (tests/cluster/test_account_limit.py): many Zendesk waits on one vendor
account, spread over both triggerers and one Celery worker.

``wait`` is mapped over the groups of job ids of the run's conf (``groups``): each mapped sensor defers one
trigger reading its group's jobs (``show_many``, 100 ids a call); ``wait_on_worker`` polls its jobs
(``worker_jobs``) on a Celery worker (``deferrable=False``). All of them read every 2 s through the
connection ``zendesk_account``, whose own budget is far above the account's limit: only the account's
limit, as its rate-limit headers report it, holds them back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_jobstatus.sensors.zendesk import ZendeskJobSensor

#: The connection (tests/cluster/conftest.py, ACCOUNT_CONN_ID).
CONN_ID = "zendesk_account"
#: Seconds between the reads of a wait, fixed (no slowing down: the jobs report no progress).
POLL = 2.0

with DAG(
    dag_id="cluster_account_limit",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 0},
    params={"groups": [], "worker_jobs": []},
    tags=["jobstatus", "cluster"],
):

    @task
    def job_groups(**context: Any) -> list[list[str]]:
        """The groups of job ids, one wait each."""
        return [list(group) for group in context["params"]["groups"]]

    ZendeskJobSensor.partial(
        task_id="wait", zendesk_conn_id=CONN_ID, poll_interval=POLL, max_poll_interval=POLL
    ).expand(job_id=job_groups())
    ZendeskJobSensor(
        task_id="wait_on_worker",
        job_id="{{ params.worker_jobs | join(',') }}",
        zendesk_conn_id=CONN_ID,
        poll_interval=POLL,
        deferrable=False,
    )
