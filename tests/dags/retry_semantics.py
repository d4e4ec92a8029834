"""A user's DAG of a bulk update and a sensor, both with two retries, for tests/test_retry_semantics.py:
``retries_dag(**dag_arguments())``."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG
from airflow_harness import dag_arguments

from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator
from airflow_jobstatus.sensors.zendesk import ZendeskJobSensor


def retries_dag(*, with_bulk: bool = True, wait_job_id: str = "0123456789abcdef0123456789abcdef") -> DAG:
    """DAG ``retry_semantics``: task ``bulk`` (unless ``with_bulk=False``) and task ``wait`` on
    ``wait_job_id``, both polling every 0.3 s for at most a minute."""
    with DAG(
        dag_id="retry_semantics",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        default_args={"retries": 2, "retry_delay": timedelta(0)},
    ) as dag:
        if with_bulk:
            ZendeskBulkOperator(
                task_id="bulk",
                resource="tickets",
                action="update_many",
                items=[1, 2],
                change={"status": "solved"},
                poll_interval=0.3,
                timeout=60,
            )
        ZendeskJobSensor(task_id="wait", job_id=wait_job_id, poll_interval=0.3, timeout=60)
    return dag


if arguments := dag_arguments():
    dag = retries_dag(**arguments)
