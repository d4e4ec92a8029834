"""Test DAG of the worker-kill test (tests/cluster/test_restarts.py): one bulk update with a retry.

Not deferrable on purpose (as tests/e2e/dags/e2e_worker_kill.py): the task reads its jobs' status on the
Celery worker right after submitting them; the test holds that read in the sandbox and SIGKILLs the whole
worker (the Celery processes, the task's supervisor and the task) meanwhile. The retry, on the other
worker, must reattach to the two jobs (no second submit).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator

#: The tickets this DAG updates (two Zendesk jobs of at most 100).
TICKETS = list(range(9001, 9151))

with DAG(
    dag_id="cluster_worker_kill",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["jobstatus", "cluster"],
):
    ZendeskBulkOperator(
        task_id="update_tickets",
        resource="tickets",
        action="update_many",
        items=TICKETS,
        change={"status": "solved"},
        poll_interval=1,
        deferrable=False,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
