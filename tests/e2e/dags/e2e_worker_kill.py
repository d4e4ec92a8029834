"""Test DAG of the worker-kill test (tests/e2e/test_restarts.py): one bulk update with a retry.

Not deferrable on purpose: a deferrable operator hands the wait to the triggerer milliseconds after its
last submit, which leaves no window to kill the worker between the submit and the deferral. This one
reads the jobs' status on the worker right after submitting; the test delays that read in the sandbox
and kills the task's process while it waits. The retry must reattach to the jobs (no second submit).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator

#: The tickets this DAG updates (two Zendesk jobs of at most 100).
TICKETS = list(range(7001, 7151))

with DAG(
    dag_id="e2e_worker_kill",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["jobstatus", "e2e"],
):
    ZendeskBulkOperator(
        task_id="update_tickets",
        resource="tickets",
        action="update_many",
        items=TICKETS,
        change={"status": "solved"},
        zendesk_conn_id="zendesk_default",
        poll_interval=1,
        deferrable=False,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
