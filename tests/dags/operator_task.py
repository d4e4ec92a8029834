"""One submit-and-wait operator task (``op`` unless told) of a class the test chooses, for the
vendor-parametrized suites (tests/reliability/) and others: ``operator_dag(**dag_arguments())``.

``operator`` is the class's import path (``airflow_jobstatus.operators.zendesk.ZendeskBulkOperator``, or a
vendor's registered in tests such as ``fourth_vendor.operators.AcmeBulkOperator``); ``kwargs`` go to it as
they are.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG
from airflow_harness import dag_arguments

from airflow_jobstatus.vendors.declaration import load


def operator_dag(
    dag_id: str,
    operator: str,
    *,
    kwargs: dict[str, Any],
    retries: int = 0,
    timeout: float = 60,
    deferrable: bool | None = None,
    task_id: str = "op",
) -> DAG:
    """A DAG of one task (``op`` unless told), polling every 0.3 s; ``deferrable=None`` leaves the
    operator's default."""
    mode = {} if deferrable is None else {"deferrable": deferrable}
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        default_args={"retries": retries, "retry_delay": timedelta(0)},
    ) as dag:
        load(operator)(task_id=task_id, poll_interval=0.3, timeout=timeout, **mode, **kwargs)
    return dag


if arguments := dag_arguments():
    dag = operator_dag(**arguments)
