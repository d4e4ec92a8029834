"""One Trade Desk GraphQL query task, ``query``, with the operator's defaults (deferrable, its timeout), for
tests/test_messages.py: ``query_dag(**dag_arguments())``."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG
from airflow_harness import dag_arguments

from airflow_jobstatus.operators.tradedesk import TradeDeskGraphQLBulkQueryOperator


def query_dag(*, query: str) -> DAG:
    """DAG ``query_wording``: task ``query`` submits ``query`` and polls every 0.3 s."""
    with DAG(dag_id="query_wording", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        TradeDeskGraphQLBulkQueryOperator(task_id="query", query=query, poll_interval=0.3)
    return dag


if arguments := dag_arguments():
    dag = query_dag(**arguments)
