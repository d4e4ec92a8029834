"""Test DAG of the triggerer-kill test (tests/cluster/test_restarts.py): three bulk updates waiting at once,
deferrable (the default), one Zendesk job each. No retries: the run must succeed in the first try of each
task, the triggers moving to the surviving triggerer."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator

#: The tickets of each task (one Zendesk job of at most 100 each).
TICKETS = {f"update_{index}": list(range(8000 + 100 * index, 8040 + 100 * index)) for index in (1, 2, 3)}

with DAG(
    dag_id="cluster_failover",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 0},
    tags=["jobstatus", "cluster"],
):
    for task_id, tickets in TICKETS.items():
        ZendeskBulkOperator(
            task_id=task_id,
            resource="tickets",
            action="update_many",
            items=tickets,
            change={"status": "solved"},
            poll_interval=1,
        )
