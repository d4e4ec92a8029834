"""The DAG a user would write with mapped tasks, for tests/test_mapped_tasks.py:
``mapped_dag(**dag_arguments())``: three vendors, each operator mapped (``expand`` over an upstream XComArg
and over a literal list, ``expand_kwargs``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, task
from airflow_harness import dag_arguments

from airflow_jobstatus.operators.tradedesk import TradeDeskGraphQLBulkQueryOperator
from airflow_jobstatus.operators.wistia import WistiaBulkTagOperator
from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator


def mapped_dag(*, deferrable: bool, retries: int = 0) -> DAG:
    """DAG ``mapped_jobs``: ``ticket_batches`` feeding the mapped ``zendesk``, and the mapped ``wistia`` and
    ``tradedesk``; every operator polls every 0.3 s for at most two minutes."""
    common = {"poll_interval": 0.3, "timeout": 120, "deferrable": deferrable}
    with DAG(
        dag_id="mapped_jobs",
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        default_args={"retries": retries, "retry_delay": timedelta(0)},
    ) as dag:

        @task
        def ticket_batches() -> list[list[int]]:
            return [[101, 102, 103], [104, 105], [106]]

        ZendeskBulkOperator.partial(
            task_id="zendesk", resource="tickets", action="destroy_many", **common
        ).expand(items=ticket_batches())
        WistiaBulkTagOperator.partial(task_id="wistia", tag_names=["q4"], **common).expand(
            hashed_ids=[["media0001", "media0002"], ["media0003"]]
        )
        TradeDeskGraphQLBulkQueryOperator.partial(task_id="tradedesk", **common).expand_kwargs(
            [
                {"query": "query { advertisers { nodes { id } } }"},
                {"query": "query { campaigns { nodes { id } } }"},
            ]
        )
    return dag


if arguments := dag_arguments():
    dag = mapped_dag(**arguments)
