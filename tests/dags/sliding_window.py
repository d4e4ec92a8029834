"""A user's DAG for the sliding window: 500 tickets solved in five jobs of 100, at most two at a time.

``SLIDING_DEFERRABLE`` (``1`` or ``0``) picks deferrable or worker polling; the test sets it.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator

with DAG(dag_id="sliding_window", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    ZendeskBulkOperator(
        task_id="solve",
        resource="tickets",
        action="update_many",
        items=list(range(1, 501)),
        change={"status": "solved"},
        max_jobs_in_flight=2,
        poll_interval=0.2,
        max_poll_interval=0.2,
        deferrable=os.environ.get("SLIDING_DEFERRABLE", "1") == "1",
    )
