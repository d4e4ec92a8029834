"""Zendesk's job-creating bulk endpoints: the table of them, how each reads its items, and which fail.

Reading a request (`parse_request`) is pure, so a submit refused by the job limit changes nothing;
`decide_items` then allocates ids and decides each item's outcome, and `job_outcome` the job's.

Markers in any string value of the submitted objects (or of update_many's `change`, or a merge body)
steer the result: `[sandbox:fail]` (FAIL_MARKER) fails that item (RecordInvalid), so the job completes
partial; `[sandbox:job-failed]` ends the whole job `failed` and `[sandbox:job-killed]` ends it `killed`
(failed wins if both are present); the job markers leave items alone. Id-only endpoints (destroy_many,
mark_many_as_spam, `?ids=` without a body) carry no strings, so no marker: there `fail_ids` fails
items, and `ZendeskState.create_job(outcome=...)` makes failed or killed jobs directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .webutil import BadRequest, int_list, read_json, split_csv
from .zendesk_jobs import ZendeskState
from .zendesk_results import (
    CREATE,
    FAIL_MARKER,
    JOB_FAILED_MARKER,
    JOB_KILLED_MARKER,
    JOB_TYPES,
    UPSERT,
    JobItem,
)

ITEMS, IDS, IDS_OR_ITEMS, MERGE = "items", "ids", "ids_or_items", "merge"


@dataclass(frozen=True)
class BulkEndpoint:
    """One bulk endpoint: method, path under /api/v2, job type, and where its items come from.

    `source` is ITEMS (a body list under `plural`), IDS (`?ids=`), IDS_OR_ITEMS (`?ids=` with one change
    under `singular`, or a body list under `plural` whose objects carry ids) or MERGE.
    """

    method: str
    path: str
    job_type: str
    source: str
    plural: str = ""
    singular: str = ""
    external_ids: bool = False


ENDPOINTS: tuple[BulkEndpoint, ...] = (
    BulkEndpoint("POST", "/tickets/create_many", "bulk_create_tickets", ITEMS, "tickets"),
    BulkEndpoint("PUT", "/tickets/update_many", "bulk_update_tickets", IDS_OR_ITEMS, "tickets", "ticket"),
    BulkEndpoint("DELETE", "/tickets/destroy_many", "bulk_delete_tickets", IDS),
    BulkEndpoint("PUT", "/tickets/mark_many_as_spam", "bulk_mark_tickets_as_spam", IDS),
    BulkEndpoint("POST", "/tickets/{id}/merge", "merge_tickets", MERGE),
    BulkEndpoint("DELETE", "/deleted_tickets/destroy_many", "bulk_permanently_delete_tickets", IDS),
    BulkEndpoint("POST", "/imports/tickets/create_many", "bulk_import_tickets", ITEMS, "tickets"),
    BulkEndpoint("POST", "/users/create_many", "bulk_create_users", ITEMS, "users"),
    BulkEndpoint("POST", "/users/create_or_update_many", "bulk_create_or_update_users", ITEMS, "users"),
    BulkEndpoint("PUT", "/users/update_many", "bulk_update_users", IDS_OR_ITEMS, "users", "user", True),
    BulkEndpoint("DELETE", "/users/destroy_many", "bulk_delete_users", IDS, external_ids=True),
    BulkEndpoint("POST", "/organizations/create_many", "bulk_create_organizations", ITEMS, "organizations"),
    BulkEndpoint(
        "PUT",
        "/organizations/update_many",
        "bulk_update_organizations",
        IDS_OR_ITEMS,
        "organizations",
        "organization",
        True,
    ),
    BulkEndpoint(
        "DELETE", "/organizations/destroy_many", "bulk_delete_organizations", IDS, external_ids=True
    ),
    BulkEndpoint(
        "POST",
        "/organization_memberships/create_many",
        "bulk_create_organization_memberships",
        ITEMS,
        "organization_memberships",
    ),
    BulkEndpoint(
        "DELETE", "/organization_memberships/destroy_many", "bulk_delete_organization_memberships", IDS
    ),
    BulkEndpoint(
        "POST", "/group_memberships/create_many", "bulk_create_group_memberships", ITEMS, "group_memberships"
    ),
    BulkEndpoint("DELETE", "/group_memberships/destroy_many", "bulk_delete_group_memberships", IDS),
)


@dataclass(frozen=True)
class RequestedItem:
    """One item as the request names it: its object (if any), its id or external id (if any)."""

    obj: dict[str, Any] | None = None
    id: int | None = None
    external_id: str | None = None


def has_marker(value: Any, marker: str = FAIL_MARKER) -> bool:
    """Tell whether any string inside `value` contains `marker` (by default `[sandbox:fail]`).

    The markers are whole bracketed tokens, none a substring of another, so `[sandbox:job-failed]`
    never counts as `[sandbox:fail]`.
    """
    if isinstance(value, str):
        return marker in value
    if isinstance(value, dict):
        return any(has_marker(v, marker) for v in value.values())
    if isinstance(value, list):
        return any(has_marker(v, marker) for v in value)
    return False


def job_outcome(requested: list[RequestedItem]) -> str:
    """Return how the job over `requested` ends: "failed" or "killed" if an object carries that job
    marker (failed first), else "completed"."""
    objects = [req.obj for req in requested if req.obj is not None]
    for marker, outcome in ((JOB_FAILED_MARKER, "failed"), (JOB_KILLED_MARKER, "killed")):
        if has_marker(objects, marker):
            return outcome
    return "completed"


def _object_list(body: Any, key: str) -> list[dict[str, Any]]:
    objects = body.get(key) if isinstance(body, dict) else None
    if not isinstance(objects, list) or not objects:
        raise BadRequest("InvalidValue", f"Parameter '{key}' is required and must be a non-empty list")
    if not all(isinstance(o, dict) for o in objects):
        raise BadRequest("InvalidValue", f"Every item of '{key}' must be an object")
    return objects


def _query_ids(request: web.Request, endpoint: BulkEndpoint) -> list[RequestedItem] | None:
    if "ids" in request.query:
        return [RequestedItem(id=i) for i in int_list(split_csv(request.query["ids"]), "ids")]
    if endpoint.external_ids and "external_ids" in request.query:
        return [RequestedItem(external_id=e) for e in split_csv(request.query["external_ids"])]
    return None


def _from_object(obj: dict[str, Any]) -> RequestedItem:
    raw_id = obj.get("id")
    record_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
    external = obj.get("external_id")
    return RequestedItem(obj=obj, id=record_id, external_id=None if external is None else str(external))


async def parse_request(request: web.Request, endpoint: BulkEndpoint, max_items: int) -> list[RequestedItem]:
    """Read the items a bulk request names; raise BadRequest when they are missing, bad or too many."""
    if endpoint.source == IDS:
        items = _query_ids(request, endpoint)
        if items is None:
            wanted = "ids or external_ids" if endpoint.external_ids else "ids"
            raise BadRequest("InvalidValue", f"Parameter '{wanted}' is required")
    elif endpoint.source == MERGE:
        body = await read_json(request)
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids:
            raise BadRequest("InvalidValue", "Parameter 'ids' is required and must be a non-empty list")
        target = int_list([request.match_info["id"]], "ticket id")[0]
        sources = int_list(ids, "ids")
        if target in sources:
            raise BadRequest("InvalidValue", "A ticket cannot be merged into itself")
        items = [RequestedItem(obj=body, id=i) for i in sources]
    elif endpoint.source == IDS_OR_ITEMS and (items := _query_ids(request, endpoint)) is not None:
        body = await read_json(request)
        change = body.get(endpoint.singular) if isinstance(body, dict) else None
        if not isinstance(change, dict):
            raise BadRequest("InvalidValue", f"Parameter '{endpoint.singular}' is required with ids")
        items = [RequestedItem(obj=change, id=i.id, external_id=i.external_id) for i in items]
    else:
        items = [_from_object(o) for o in _object_list(await read_json(request), endpoint.plural)]
    if not items:
        raise BadRequest("InvalidValue", "No items given")
    if len(items) > max_items:
        raise BadRequest(
            "RecordInvalid",
            f"Too many items: {len(items)} given, at most {max_items} are allowed per request",
        )
    return items


def _upsert(zendesk: ZendeskState, index: int, req: RequestedItem, email: str | None) -> JobItem:
    """Decide a create_or_update item: known id, email or external id means Updated, else Created."""
    known = req.id
    if known is None and email is not None:
        known = zendesk.emails.get(email)
    if known is None and req.external_id is not None:
        known = zendesk.external_ids.get(req.external_id)
    user_id = zendesk.new_id() if known is None else known
    if email is not None:
        zendesk.emails.setdefault(email, user_id)
    if req.external_id is not None:
        zendesk.external_ids.setdefault(req.external_id, user_id)
    return JobItem(index=index, id=user_id, email=email, created=known is None)


def decide_items(zendesk: ZendeskState, job_type: str, requested: list[RequestedItem]) -> list[JobItem]:
    """Turn requested items into job items: allocate ids, and fail marked items or `fail_ids`.

    Call it with `zendesk.lock` held, once the submit is accepted.
    """
    spec = JOB_TYPES[job_type]
    out: list[JobItem] = []
    for index, req in enumerate(requested):
        email = req.obj.get("email") if req.obj is not None else None
        email = email.lower() if isinstance(email, str) else None
        record_id = req.id
        if record_id is None and req.external_id is not None and spec.kind not in (CREATE, UPSERT):
            record_id = zendesk.id_for_external(req.external_id)
        if req.obj is not None and has_marker(req.obj):
            error_id = None if spec.kind == CREATE else record_id
            details = f"Record validation errors: a value contains {FAIL_MARKER}"
            out.append(JobItem(index=index, id=error_id, error="RecordInvalid", details=details))
        elif record_id is not None and record_id in zendesk.fail_ids:
            details = f"Record {record_id} failed (sandbox fail_ids)"
            out.append(JobItem(index=index, id=record_id, error=spec.fail_error, details=details))
        elif spec.kind == UPSERT:
            out.append(_upsert(zendesk, index, req, email))
        elif spec.kind == CREATE:
            new_id = zendesk.new_id()
            if email is not None:
                zendesk.emails.setdefault(email, new_id)
            out.append(JobItem(index=index, id=new_id))
        elif record_id is None:
            out.append(
                JobItem(index=index, error="RecordInvalid", details="Each item needs an id or external_id")
            )
        else:
            out.append(JobItem(index=index, id=record_id))
    return out
