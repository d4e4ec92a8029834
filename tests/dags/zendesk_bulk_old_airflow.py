"""A ZendeskBulkOperator that gets no task state store, as on Airflow < 3.3 (tests/test_zendesk_bulk_dag.py).

Its first status read fails (the test injects a 404), so its retry shows what such an Airflow gets.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator


class WithoutStateStore(ZendeskBulkOperator):
    """Runs with a context that lacks ``task_state_store``."""

    def execute(self, context: Any) -> Any:
        context = {key: value for key, value in context.items() if key != "task_state_store"}
        return super().execute(context)


with DAG(
    dag_id="zendesk_bulk_old_airflow",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(0)},
):
    WithoutStateStore(
        task_id="bulk",
        resource="tickets",
        action="update_many",
        items=[1, 2, 3],
        change={"status": "solved"},
        poll_interval=0.3,
        deferrable=False,
    )
