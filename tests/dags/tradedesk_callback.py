"""A GraphQL bulk query with a callback whose header holds a secret, then a task that prints that secret:
tests/test_tradedesk_dag.py checks both logs show it masked."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_jobstatus.operators.tradedesk import TradeDeskGraphQLBulkQueryOperator

with DAG(dag_id="tradedesk_callback", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    query = TradeDeskGraphQLBulkQueryOperator(
        task_id="op",
        query="query { advertisers { nodes { id } } }",
        callback_url="https://cb.example.com/done",
        callback_headers={"Authorization": "Bearer cb-secret-4417"},
        poll_interval=0.3,
    )

    @task
    def echo() -> None:
        print("the callback header was Bearer cb-secret-4417")

    query >> echo()
