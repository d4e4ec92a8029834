"""A user's DAG where each vendor's operator submits without waiting (``wait_for_completion=False``) and a
sensor waits on what it returned, for tests/test_wait_for_completion.py:
``submit_then_sense_dag(**dag_arguments())``."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG
from airflow_harness import dag_arguments

from airflow_jobstatus.operators.tradedesk import TradeDeskGraphQLBulkQueryOperator
from airflow_jobstatus.operators.wistia import WistiaBulkTagOperator
from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator
from airflow_jobstatus.sensors.tradedesk import TradeDeskJobSensor
from airflow_jobstatus.sensors.wistia import WistiaJobSensor
from airflow_jobstatus.sensors.zendesk import ZendeskJobSensor


def submit_then_sense_dag(*, zendesk_items: int = 150) -> DAG:
    """DAG ``submit_then_sense``: ``solve`` >> ``solved`` (Zendesk, tickets 1..``zendesk_items``),
    ``tag`` >> ``tagged`` (Wistia), ``query`` >> ``queried`` (the Trade Desk)."""
    with DAG(
        dag_id="submit_then_sense", schedule=None, start_date=datetime(2026, 1, 1), catchup=False
    ) as dag:
        solve = ZendeskBulkOperator(
            task_id="solve",
            resource="tickets",
            action="update_many",
            items=list(range(1, zendesk_items + 1)),
            change={"status": "solved"},
            wait_for_completion=False,
        )
        solve >> ZendeskJobSensor(task_id="solved", job_id=solve.output, poll_interval=0.3)

        tag = WistiaBulkTagOperator(
            task_id="tag", hashed_ids=["media0001", "media0002"], tag_names=["q4"], wait_for_completion=False
        )
        tag >> WistiaJobSensor(task_id="tagged", job_id=tag.output, poll_interval=0.3)

        query = TradeDeskGraphQLBulkQueryOperator(
            task_id="query", query="query { advertisers { nodes { id } } }", wait_for_completion=False
        )
        query >> TradeDeskJobSensor(
            task_id="queried", job_id=query.output, job_kind="graphql", poll_interval=0.3
        )
    return dag


if arguments := dag_arguments():
    dag = submit_then_sense_dag(**arguments)
