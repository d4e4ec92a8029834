"""Each vendor waited for (deferred), a result download and a rejected token, for tests/test_canary_scan.py:
``canary_dag(**dag_arguments())``."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG
from airflow_harness import dag_arguments

from airflow_jobstatus.operators.tradedesk import TradeDeskGraphQLBulkQueryOperator
from airflow_jobstatus.sensors.wistia import WistiaJobSensor
from airflow_jobstatus.sensors.zendesk import ZendeskJobSensor


def canary_dag(*, zendesk_job: str, wistia_job: str, output_path: str) -> DAG:
    """DAG ``canary_scan``: sensors ``zendesk`` and ``wistia`` on those jobs, ``tradedesk`` a query whose
    3 MB result goes to ``output_path``, and ``rejected``: a sensor on the connection ``zendesk_wrong``."""
    with DAG(dag_id="canary_scan", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
        ZendeskJobSensor(task_id="zendesk", job_id=zendesk_job, poll_interval=0.3)
        WistiaJobSensor(task_id="wistia", job_id=wistia_job, poll_interval=0.3)
        TradeDeskGraphQLBulkQueryOperator(
            task_id="tradedesk",
            query="query { a } # sandbox:bytes=3000000",
            output_path=output_path,
            poll_interval=0.3,
        )
        ZendeskJobSensor(task_id="rejected", job_id=zendesk_job, zendesk_conn_id="zendesk_wrong")
    return dag


if arguments := dag_arguments():
    dag = canary_dag(**arguments)
