"""A user's DAG whose bulk updates get their items as text, for tests/test_messages.py:
``items_dag(**dag_arguments())``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task
from airflow_harness import dag_arguments

from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator


def items_dag(*, planned: list[Any], comma_text: str) -> DAG:
    """DAG ``items_from_xcom`` (one retry): ``plan`` returns ``planned``; then ``rendered`` gets them as the
    text a Jinja template renders them to, and ``comma`` gets ``comma_text``."""
    with DAG(
        dag_id="items_from_xcom",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        default_args={"retries": 1},
    ) as dag:

        @task
        def plan() -> list[Any]:
            return planned

        common: dict[str, Any] = {
            "resource": "tickets",
            "action": "update_many",
            "change": {"status": "solved"},
            "poll_interval": 0.3,
        }
        rendered = ZendeskBulkOperator(task_id="rendered", items="{{ ti.xcom_pull('plan') }}", **common)
        comma = ZendeskBulkOperator(task_id="comma", items=comma_text, **common)
        plan() >> [rendered, comma]
    return dag


if arguments := dag_arguments():
    dag = items_dag(**arguments)
