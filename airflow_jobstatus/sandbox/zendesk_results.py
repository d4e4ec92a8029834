"""What a finished Zendesk job reports: the per-item `results` shapes of each kind of bulk job.

The shapes differ per endpoint (see the vendor facts); failed items come both with `"success": false`
(update-like jobs) and without a `success` key (create-like jobs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FAIL_MARKER = "[sandbox:fail]"  # in a string of an item: that item fails
# In any string of a submit's items (or change): the whole job ends failed / killed.
JOB_FAILED_MARKER = "[sandbox:job-failed]"
JOB_KILLED_MARKER = "[sandbox:job-killed]"

# Result kinds: the shape of one item of `results` (see the vendor facts).
CREATE, UPSERT, UPDATE, DELETE, SPAM, MERGE, PURGE = (
    "create",
    "upsert",
    "update",
    "delete",
    "spam",
    "merge",
    "purge",
)
_ACTIONS = {
    UPDATE: ("update", "Updated"),
    DELETE: ("delete", "Deleted"),
    SPAM: ("mark_as_spam", "Updated"),
    MERGE: ("merge", "Merged"),
}


@dataclass(frozen=True)
class JobType:
    """What a kind of bulk job reports: its result `kind`, and the error a `fail_ids` item gets."""

    kind: str
    fail_error: str = "RecordInvalid"


# Zendesk does not publish its job_type values; these names are the sandbox's own.
JOB_TYPES: dict[str, JobType] = {
    "bulk_create_tickets": JobType(CREATE),
    "bulk_update_tickets": JobType(UPDATE, "TicketUpdateFailed"),
    "bulk_delete_tickets": JobType(DELETE, "RecordNotFound"),
    "bulk_mark_tickets_as_spam": JobType(SPAM, "TicketUpdateFailed"),
    "merge_tickets": JobType(MERGE, "TicketUpdateFailed"),
    "bulk_permanently_delete_tickets": JobType(PURGE, "RecordNotFound"),
    "bulk_import_tickets": JobType(CREATE),
    "bulk_create_users": JobType(CREATE),
    "bulk_create_or_update_users": JobType(UPSERT),
    "bulk_update_users": JobType(UPDATE),
    "bulk_delete_users": JobType(DELETE, "RecordNotFound"),
    "bulk_create_organizations": JobType(CREATE),
    "bulk_update_organizations": JobType(UPDATE),
    "bulk_delete_organizations": JobType(DELETE, "RecordNotFound"),
    "bulk_create_organization_memberships": JobType(CREATE),
    "bulk_delete_organization_memberships": JobType(DELETE, "RecordNotFound"),
    "bulk_create_group_memberships": JobType(CREATE),
    "bulk_delete_group_memberships": JobType(DELETE, "RecordNotFound"),
}


@dataclass(frozen=True)
class JobItem:
    """One item of a bulk job, decided at submit time: its id, and its error if it fails."""

    index: int
    id: int | None = None
    email: str | None = None
    error: str | None = None
    details: str | None = None
    created: bool = True


def item_result(kind: str, item: JobItem) -> dict[str, Any]:
    """Return the `results` entry Zendesk reports for one item of a job of this `kind`."""
    if item.error is not None:
        failed: dict[str, Any] = {"index": item.index}
        if item.id is not None:
            failed["id"] = item.id
        failed.update(error=item.error, details=item.details or "")
        if kind in _ACTIONS:  # update-like failures carry success=false; create failures do not
            failed["success"] = False
        return failed
    if kind == CREATE:
        return {"id": item.id, "index": item.index}
    if kind == UPSERT:
        return {"id": item.id, "status": "Created" if item.created else "Updated", "email": item.email}
    action, status = _ACTIONS.get(kind, ("update", "Updated"))
    return {"id": item.id, "action": action, "success": True, "status": status}


def final_results(kind: str, items: list[JobItem]) -> list[dict[str, Any]] | dict[str, Any]:
    """Return a completed job's `results`: per-item entries, or `{"success": ...}` for permanent deletion."""
    if kind == PURGE:
        return {"success": all(i.error is None for i in items)}
    return [item_result(kind, i) for i in items]
