"""One ZendeskJobSensor task, for tests/test_zendesk_sensor_dag.py: ``sensor_dag(**dag_arguments())``."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG
from airflow_harness import dag_arguments

from airflow_jobstatus.sensors.zendesk import ZendeskJobSensor


def sensor_dag(
    dag_id: str, *, job_id: str | list[str], timeout: float = 60, on_partial: str = "fail", deferrable: bool
) -> DAG:
    """A DAG of one task, ``wait``, polling every 0.3 s."""
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        ZendeskJobSensor(
            task_id="wait",
            job_id=job_id,
            zendesk_conn_id="zendesk_default",
            poll_interval=0.3,
            timeout=timeout,
            on_partial=on_partial,
            deferrable=deferrable,
        )
    return dag


if (arguments := dag_arguments()) is not None:
    dag = sensor_dag(**arguments)
