"""Test DAG of the clear tests (tests/e2e/test_clears.py): two bulk updates, one of them reattaching on a
clear. Deferrable (the default) with a retry each, as users write them."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator

#: The tickets each task updates (one Zendesk job each).
RUN_AGAIN_TICKETS = [7201, 7202, 7203]
CARRY_ON_TICKETS = [7301, 7302]

with DAG(
    dag_id="e2e_clear",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
    tags=["jobstatus", "e2e"],
):
    ZendeskBulkOperator(
        task_id="run_again",
        resource="tickets",
        action="update_many",
        items=RUN_AGAIN_TICKETS,
        change={"status": "solved"},
        poll_interval=1,
    )
    ZendeskBulkOperator(
        task_id="carry_on",
        resource="tickets",
        action="update_many",
        items=CARRY_ON_TICKETS,
        change={"status": "solved"},
        poll_interval=1,
        reattach_on_clear=True,
    )
