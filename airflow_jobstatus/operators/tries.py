"""Retry or clear: whether a try of an operator carries on with the jobs its ledger lists or runs anew.

Airflow raises a task instance's ``max_tries`` (to ``try_number + retries``) on every clear and never on
a retry; the ledger keeps the ``max_tries`` it was written under (:attr:`Ledger.max_tries`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_jobstatus.core.ledger import Ledger

__all__ = ["attempt", "started_anew"]


def attempt(context: Context) -> tuple[int, int | None]:
    """This try's number and the task instance's ``max_tries`` (None where the task instance has none)."""
    ti = context["ti"]
    try_number = int(getattr(ti, "try_number", 1) or 1)
    max_tries = getattr(ti, "max_tries", None)
    return try_number, max_tries if type(max_tries) is int else None


def started_anew(ledger: Ledger, try_number: int, max_tries: int | None) -> str | None:
    """Why this try is a new run of the task rather than a retry (None: a retry, carry on).

    Airflow raises ``max_tries`` on every clear (to ``try_number + retries``) and never on a retry; and
    a try whose number is not above the ledger's ran the same try again from the start (``airflow tasks
    test`` on an existing run). A ledger of an earlier release has no ``max_tries``: only the second
    rule applies to it. A task cleared while it runs on a worker is stopped and retried by Airflow
    without raising ``max_tries``: that is a retry here too.
    """
    earlier = ledger.try_number
    if ledger.max_tries is not None and max_tries is not None and max_tries != ledger.max_tries:
        return f"the task was cleared after try {earlier} (max_tries {ledger.max_tries} -> {max_tries})"
    if try_number <= earlier:
        return f"try {try_number} started again from the beginning (the ledger is try {earlier}'s)"
    return None
