"""Test DAG of the queue-routing test (tests/cluster/test_queues.py): the Zendesk waits pinned to one
triggerer with ``queue="zendesk_pinned"``, a Wistia wait left on the shared ``default`` queue.

With ``[triggerer] queues_enabled`` a deferred task's trigger carries the task's ``queue``; the same
``queue`` routes the task itself to the Celery workers listening on it (``worker-1`` in the cluster).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_jobstatus.operators.wistia import WistiaBulkTagOperator
from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator

#: The queue of the pinned waits (scripts/cluster.py, PINNED_QUEUE).
PINNED_QUEUE = "zendesk_pinned"
#: The tickets of each pinned task (one Zendesk job each).
TICKETS = {"pinned_1": list(range(9501, 9531)), "pinned_2": list(range(9601, 9621))}

with DAG(
    dag_id="cluster_pinned",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 0},
    tags=["jobstatus", "cluster"],
):
    for task_id, tickets in TICKETS.items():
        ZendeskBulkOperator(
            task_id=task_id,
            resource="tickets",
            action="update_many",
            items=tickets,
            change={"status": "solved"},
            poll_interval=1,
            queue=PINNED_QUEUE,
        )
    WistiaBulkTagOperator(
        task_id="unpinned",
        hashed_ids=[f"pin{number:04d}" for number in range(20)],
        tag_names=["cluster"],
        poll_interval=1,
    )
