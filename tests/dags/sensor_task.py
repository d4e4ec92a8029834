"""One job sensor task, ``wait``, of a class the test chooses, for the vendor-parametrized suites
(tests/reliability/test_fault_matrix.py): ``sensor_dag(**dag_arguments())``.

``sensor`` is the class's import path (``airflow_jobstatus.sensors.zendesk.ZendeskJobSensor``, or a
vendor's registered in tests); ``kwargs`` are its arguments besides ``job_id`` (the Trade Desk's
``job_kind``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG
from airflow_harness import dag_arguments

from airflow_jobstatus.vendors.declaration import load


def sensor_dag(
    dag_id: str,
    sensor: str,
    *,
    job_id: str | list[str],
    deferrable: bool,
    timeout: float = 60,
    kwargs: dict[str, Any] | None = None,
) -> DAG:
    """A DAG of one task, ``wait``, polling every 0.3 s."""
    with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        load(sensor)(
            task_id="wait",
            job_id=job_id,
            poll_interval=0.3,
            timeout=timeout,
            deferrable=deferrable,
            **(kwargs or {}),
        )
    return dag


if arguments := dag_arguments():
    dag = sensor_dag(**arguments)
