"""Bulk-update tickets in Zendesk, then report what happened to each one.

Solves ``count`` tickets starting at ``first_ticket_id`` (250 by default: three Zendesk jobs of at most
100), waits for the jobs in the triggerer, and hands one result per ticket, in input order, to a
downstream task. ``make demo`` runs it against the local sandbox, with no Zendesk account.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator

with DAG(
    dag_id="zendesk_bulk_update",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={
        "first_ticket_id": Param(1001, type="integer", description="id of the first ticket to update"),
        "count": Param(250, type="integer", minimum=1, description="how many consecutive tickets"),
        "status": Param("solved", type="string", description="the status to set"),
    },
    tags=["jobstatus", "zendesk"],
):

    @task
    def plan_updates(params: dict[str, Any]) -> list[dict[str, Any]]:
        """One update object per ticket: any per-ticket change fits here."""
        first = params["first_ticket_id"]
        return [
            {"id": ticket_id, "status": params["status"], "additional_tags": ["airflow_bulk"]}
            for ticket_id in range(first, first + params["count"])
        ]

    update_tickets = ZendeskBulkOperator(
        task_id="update_tickets",
        resource="tickets",
        action="update_many",
        items=plan_updates(),
        zendesk_conn_id="zendesk_default",
        poll_interval=2,
        on_partial="warn",  # report failed tickets downstream instead of failing the task
    )

    @task
    def report(results: list[dict[str, Any]]) -> dict[str, int]:
        """Count updated and failed tickets from the per-item results, printing each failure."""
        failed = [row for row in results if not row["success"]]
        for row in failed:
            print(f"ticket {row['id']} (item {row['index']}) failed: {row['error']}: {row['details']}")
        return {"tickets": len(results), "updated": len(results) - len(failed), "failed": len(failed)}

    report(update_tickets.output)
