"""A user's DAG of one bulk update, optionally mapped over batches, for tests/test_xcom_footprint.py:
``footprint_dag(**dag_arguments())``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG
from airflow_harness import dag_arguments

from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator


def footprint_dag(*, tickets: list[Any], mapped: bool = False, results_path: str | None = None) -> DAG:
    """DAG ``xcom_footprint``: task ``solve`` marks ``tickets`` solved (``mapped``: one map index per batch
    of ``tickets``), polling every 0.3 s."""
    with DAG(dag_id="xcom_footprint", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        if mapped:
            ZendeskBulkOperator.partial(
                task_id="solve",
                resource="tickets",
                action="update_many",
                change={"status": "solved"},
                poll_interval=0.3,
                results_path=results_path,
            ).expand(items=tickets)
        else:
            ZendeskBulkOperator(
                task_id="solve",
                resource="tickets",
                action="update_many",
                items=tickets,
                change={"status": "solved"},
                poll_interval=0.3,
                results_path=results_path,
            )
    return dag


if arguments := dag_arguments():
    dag = footprint_dag(**arguments)
