"""Test DAG of the on_kill test (tests/e2e/test_on_kill.py): one deferrable bulk update of two Zendesk jobs,
without retries (a task marked failed stays failed)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator

#: The tickets the task updates: two Zendesk jobs (100 items at most each).
TICKETS = list(range(7401, 7551))

with DAG(
    dag_id="e2e_on_kill",
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
        poll_interval=1,
    )
