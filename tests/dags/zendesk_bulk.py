"""One ZendeskBulkOperator task, for tests/test_zendesk_bulk_dag.py: ``bulk_dag(**dag_arguments())``.

The harness (``run_dag_module("zendesk_bulk", ..., args=...)``) gives the arguments; ``extra`` goes to
the operator as it is (e.g. ``max_jobs_in_flight``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG
from airflow_harness import dag_arguments

from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator


def bulk_dag(
    dag_id: str,
    *,
    items: Any,
    resource: str = "tickets",
    action: str = "update_many",
    change: dict[str, Any] | None = None,
    timeout: float = 120,
    on_partial: str = "fail",
    deferrable: bool = True,
    retries: int = 0,
    **extra: Any,
) -> DAG:
    """A DAG of one task, ``bulk``, polling every 0.3 s."""
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        default_args={"retries": retries, "retry_delay": timedelta(0)},
    ) as dag:
        ZendeskBulkOperator(
            task_id="bulk",
            resource=resource,
            action=action,
            items=items,
            change=change,
            poll_interval=0.3,
            timeout=timeout,
            on_partial=on_partial,
            deferrable=deferrable,
            **extra,
        )
    return dag


if (arguments := dag_arguments()) is not None:
    dag = bulk_dag(**arguments)
