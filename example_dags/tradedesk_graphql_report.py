"""Run a Trade Desk GraphQL bulk query, land its result in object storage, then read it downstream.

The query runs as a GraphQL bulk query job; the task waits for it in the triggerer, then streams the
result to ``output_base`` (a local folder by default; an ``s3://`` or ``gs://`` URL works the same with
the matching provider installed) and returns its path, size and sha256. ``read_report`` checks the
sha256 and summarises the document. ``make demo`` runs it against the local sandbox.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, ObjectStoragePath, Param, task

from airflow_jobstatus.operators.tradedesk import TradeDeskGraphQLBulkQueryOperator

QUERY = """
query AdvertiserReport {
  advertisers(partnerId: "{{ params.partner_id }}") {
    nodes { id name currencyCode }
  }
}
"""

with DAG(
    dag_id="tradedesk_graphql_report",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={
        "partner_id": Param("partner1", type="string", description="the partner whose advertisers to list"),
        "output_base": Param(
            "file:///tmp/airflow_jobstatus/reports",
            type="string",
            description="object storage folder for results (file://, s3://, gs://...)",
        ),
    },
    tags=["jobstatus", "tradedesk"],
):
    run_report = TradeDeskGraphQLBulkQueryOperator(
        task_id="run_report",
        query=QUERY,
        # run_after, not ts_nodash: a run triggered without a logical date (Airflow 3 API/UI) has no ts_nodash
        output_path="{{ params.output_base }}/advertisers-{{ dag_run.run_after | ts_nodash }}.json",
        tradedesk_conn_id="tradedesk_default",
        poll_interval=2,
    )

    @task
    def read_report(stored: dict[str, Any]) -> dict[str, Any]:
        """Verify the file against the sha256 the operator computed, then summarise it."""
        path = ObjectStoragePath(stored["path"])
        digest = hashlib.sha256()
        with path.open("rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != stored["sha256"]:
            raise ValueError(f"{path} does not match the sha256 the operator recorded")
        with path.open("rb") as source:
            document = json.load(source)
        data = document.get("data") or {}
        sizes = {key: len(value) if isinstance(value, list) else 1 for key, value in data.items()}
        print(f"{path}: {stored['size']} bytes, sha256 ok; data: {sizes}")
        return {"bytes": stored["size"], "data": sizes}

    read_report(run_report.output)
