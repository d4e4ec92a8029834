"""One Trade Desk operator task (``op``) or one TradeDeskJobSensor task (``wait``), for
tests/test_tradedesk_dag.py and tests/test_tradedesk_return_shape.py.

``operator_dag(**dag_arguments())`` when the arguments name an ``operator``, else ``sensor_dag``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG
from airflow_harness import dag_arguments

from airflow_jobstatus.operators.tradedesk import (
    TradeDeskGraphQLBulkQueryOperator,
    TradeDeskStandardJobOperator,
)
from airflow_jobstatus.sensors.tradedesk import TradeDeskJobSensor

OPERATORS = {
    operator.__name__: operator
    for operator in (TradeDeskGraphQLBulkQueryOperator, TradeDeskStandardJobOperator)
}


def operator_dag(operator: str, *, retries: int = 0, deferrable: bool = True, **kwargs: Any) -> DAG:
    """DAG ``tradedesk_ops``: one task ``op`` of the operator class named ``operator`` (polls every 0.3 s)."""
    with DAG(
        dag_id="tradedesk_ops",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        default_args={"retries": retries, "retry_delay": timedelta(0)},
    ) as dag:
        OPERATORS[operator](task_id="op", poll_interval=0.3, timeout=120, deferrable=deferrable, **kwargs)
    return dag


def sensor_dag(job_id: str, job_kind: str) -> DAG:
    """DAG ``tradedesk_sensor``: one task ``wait``, polling every 0.3 s for at most a minute."""
    with DAG(dag_id="tradedesk_sensor", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        TradeDeskJobSensor(task_id="wait", job_id=job_id, job_kind=job_kind, poll_interval=0.3, timeout=60)
    return dag


if (arguments := dag_arguments()) is not None:
    dag = operator_dag(**arguments) if "operator" in arguments else sensor_dag(**arguments)
