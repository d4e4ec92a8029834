"""One Wistia operator task (``op``) or one WistiaJobSensor task (``wait``), for tests/test_wistia_dag.py.

``operator_dag(**dag_arguments())`` when the arguments name an ``operator``, else ``sensor_dag``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG
from airflow_harness import dag_arguments

from airflow_jobstatus.operators.wistia import (
    WistiaBulkTagOperator,
    WistiaMediaBulkOperator,
    WistiaTrimMediaOperator,
)
from airflow_jobstatus.sensors.wistia import WistiaJobSensor

OPERATORS = {
    operator.__name__: operator
    for operator in (WistiaBulkTagOperator, WistiaMediaBulkOperator, WistiaTrimMediaOperator)
}


def operator_dag(
    operator: str, *, retries: int = 0, timeout: float = 120, deferrable: bool = True, **kwargs: Any
) -> DAG:
    """DAG ``wistia_ops``: one task ``op`` of the operator class named ``operator``, polling every 0.3 s."""
    with DAG(
        dag_id="wistia_ops",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        default_args={"retries": retries, "retry_delay": timedelta(0)},
    ) as dag:
        OPERATORS[operator](task_id="op", poll_interval=0.3, timeout=timeout, deferrable=deferrable, **kwargs)
    return dag


def sensor_dag(job_id: str | int | list[str | int], deferrable: bool) -> DAG:
    """DAG ``wistia_sensor``: one task ``wait``, polling every 0.3 s for at most a minute."""
    with DAG(dag_id="wistia_sensor", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        WistiaJobSensor(task_id="wait", job_id=job_id, poll_interval=0.3, timeout=60, deferrable=deferrable)
    return dag


if (arguments := dag_arguments()) is not None:
    dag = operator_dag(**arguments) if "operator" in arguments else sensor_dag(**arguments)
