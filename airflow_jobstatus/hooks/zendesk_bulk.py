"""Zendesk's job-creating bulk endpoints, and how user input becomes one request to one of them.

Pure: no I/O. :func:`check_items` validates everything a user can get wrong before any request is sent;
:func:`build_request` turns at most :data:`MAX_ITEMS_PER_JOB` checked items into one
:class:`BulkRequest`; :func:`item_key` names the record an input item stands for, to match job results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_jobstatus.core.checks import short_repr
from airflow_jobstatus.errors import ConfigurationError

#: Zendesk takes at most this many items in one bulk request (one job).
MAX_ITEMS_PER_JOB = 100
#: Zendesk record ids are 64-bit integers: a larger number is no id (and one of 4300+ digits cannot be sent).
MAX_RECORD_ID = 2**63 - 1

API_PREFIX = "/api/v2"


@dataclass(frozen=True)
class BulkAction:
    """One Zendesk bulk endpoint that creates a job.

    ``path`` is under ``/api/v2`` without ``.json`` (merge: ``/tickets/{target_id}/merge``).
    ``items_are_ids``: the items are record ids (destroy_many, mark_many_as_spam, merge).
    ``body_key``: the plural key of an object list; ``change_key`` (update_many only): the singular key
    of the one change applied to every id. ``external_ids``: ``?external_ids=`` is accepted instead of
    ``?ids=``. ``creates_records``: sending the same request twice would create duplicates.
    """

    resource: str
    action: str
    method: str
    path: str
    items_are_ids: bool
    body_key: str = ""
    change_key: str = ""
    external_ids: bool = False
    creates_records: bool = False


def _create(resource: str, path: str, body_key: str) -> BulkAction:
    return BulkAction(resource, "create_many", "POST", path, False, body_key, creates_records=True)


def _update(resource: str, singular: str, external_ids: bool = False) -> BulkAction:
    path = f"/{resource}/update_many"
    return BulkAction(resource, "update_many", "PUT", path, False, resource, singular, external_ids)


def _ids(resource: str, action: str, method: str, external_ids: bool = False) -> BulkAction:
    return BulkAction(resource, action, method, f"/{resource}/{action}", True, external_ids=external_ids)


_ACTIONS = (
    _create("tickets", "/tickets/create_many", "tickets"),
    _update("tickets", "ticket"),
    _ids("tickets", "destroy_many", "DELETE"),
    _ids("tickets", "mark_many_as_spam", "PUT"),
    BulkAction("tickets", "merge", "POST", "/tickets/{target_id}/merge", True),
    _ids("deleted_tickets", "destroy_many", "DELETE"),
    _create("ticket_imports", "/imports/tickets/create_many", "tickets"),
    _create("users", "/users/create_many", "users"),
    BulkAction("users", "create_or_update_many", "POST", "/users/create_or_update_many", False, "users"),
    _update("users", "user", external_ids=True),
    _ids("users", "destroy_many", "DELETE", external_ids=True),
    _create("organizations", "/organizations/create_many", "organizations"),
    _update("organizations", "organization", external_ids=True),
    _ids("organizations", "destroy_many", "DELETE", external_ids=True),
    _create("organization_memberships", "/organization_memberships/create_many", "organization_memberships"),
    _ids("organization_memberships", "destroy_many", "DELETE"),
    _create("group_memberships", "/group_memberships/create_many", "group_memberships"),
    _ids("group_memberships", "destroy_many", "DELETE"),
)

#: Every job-creating bulk endpoint, by ``(resource, action)``.
BULK_ACTIONS: dict[tuple[str, str], BulkAction] = {(a.resource, a.action): a for a in _ACTIONS}


def bulk_action(resource: str, action: str) -> BulkAction:
    """The endpoint for ``resource`` and ``action``; ConfigurationError listing the valid choices."""
    resources = sorted({r for r, _ in BULK_ACTIONS})
    if resource not in resources:
        raise ConfigurationError(
            f"resource {resource!r} is not a Zendesk bulk resource; choose one of: {', '.join(resources)}"
        )
    found = BULK_ACTIONS.get((resource, action))
    if found is None:
        actions = [a for r, a in BULK_ACTIONS if r == resource]
        raise ConfigurationError(
            f"action {action!r} is not available for {resource}; choose one of: {', '.join(actions)}"
        )
    return found


@dataclass(frozen=True)
class BulkRequest:
    """One HTTP request that submits a bulk job: ``path`` is absolute on the API host (``/api/v2/...``)."""

    method: str
    path: str
    params: dict[str, str] | None
    json_body: dict[str, Any] | None


def _noun(action: BulkAction) -> str:
    word = "source ticket" if action.action == "merge" else action.resource[:-1].replace("_", " ")
    return f"{'an' if word[0] in 'aeio' else 'a'} {word} id"


def _as_int(value: Any) -> int | None:
    """An int, or a string of digits as an int (templated values render as strings); else None."""
    if isinstance(value, str):
        text = value.strip()
        # (more digits than any id has: not read, since int() of 4300+ digits raises ValueError)
        return int(text) if text.isascii() and text.isdigit() and len(text) <= 30 else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _short(value: Any) -> str:
    return short_repr(value, 80)


def _record_id(value: Any, where: str, noun: str) -> int:
    number = _as_int(value)
    if number is None or number <= 0 or number > MAX_RECORD_ID:
        raise ConfigurationError(
            f"{where}: {noun} must be an integer greater than 0 (a 64-bit id), got {_short(value)}"
        )
    return number


def _external_id(value: Any, where: str) -> str:
    text = ""
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_RECORD_ID:
        text = str(value)
    if not text or "," in text:
        raise ConfigurationError(
            f"{where}: an external id must be a non-empty string without commas (ids are sent "
            f"comma-separated), got {_short(value)}"
        )
    return text


def _object(value: Any, where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not value or not all(isinstance(k, str) for k in value):
        raise ConfigurationError(
            f"{where}: {what} must be a non-empty dict with string keys, got {_short(value)}"
        )
    return dict(value)


def _no_duplicates(keys: list[Any], what: str) -> None:
    first: dict[Any, int] = {}
    for index, key in enumerate(keys):
        if key is not None and first.setdefault(key, index) != index:
            raise ConfigurationError(
                f"items[{index}]: {what} {key!r} is also items[{first[key]}]; give it once"
            )


def _updated_object(action: BulkAction, raw: Any, where: str, use_external_ids: bool) -> dict[str, Any]:
    obj = dict(raw) if isinstance(raw, Mapping) and all(isinstance(k, str) for k in raw) else {}
    if "id" in obj and not use_external_ids:
        obj["id"] = _record_id(obj["id"], f"{where}.id", _noun(action))
    elif action.external_ids and "external_id" in obj:
        obj["external_id"] = _external_id(obj["external_id"], f"{where}.external_id")
    else:
        key = "external_id" if use_external_ids else "id (or external_id)" if action.external_ids else "id"
        raise ConfigurationError(
            f"{where}: {action.action} without `change` needs objects that carry an {key}; or give "
            f"record ids as items plus the one `change` to apply to each. Got {_short(raw)}"
        )
    return obj


def check_items(
    action: BulkAction,
    items: Any,
    *,
    change: Mapping[str, Any] | None = None,
    use_external_ids: bool = False,
    target_id: Any = None,
) -> list[Any]:
    """Validate all user input for ``action`` and return the normalized items (no length limit).

    Ids become ints (external ids: stripped strings), objects become dicts. update_many with ``change``
    takes ids and applies the same change to each; without it, objects that carry an ``id`` (or an
    ``external_id`` where the endpoint takes external ids). merge takes source ticket ids and an int
    ``target_id`` that is not among them. Raises ConfigurationError naming the field and the fix.
    """
    name = f"{action.resource} {action.action}"
    if isinstance(items, str | bytes):
        raise ConfigurationError(
            f"items must be a list, not a string ({items[:60]!r}); if it comes from a template, set "
            "render_template_as_native_obj=True on the DAG"
        )
    if not isinstance(items, Sequence) or not items:
        raise ConfigurationError(f"items must be a non-empty list of what {name} takes, got {_short(items)}")
    if change is not None and action.action != "update_many":
        raise ConfigurationError(f"change is only for update_many (the same change to every id), not {name}")
    if use_external_ids and not action.external_ids:
        raise ConfigurationError(
            f"use_external_ids is not supported by {name}; give record ids and leave use_external_ids off"
        )
    if target_id is not None and action.action != "merge":
        raise ConfigurationError(f"target_id is only for tickets merge, not {name}")
    if action.action == "merge":
        if target_id is None:
            raise ConfigurationError("target_id is required for merge: the ticket the sources merge into")
        target_id = _record_id(target_id, "target_id", "the target ticket id")
    if action.items_are_ids or change is not None:
        if change is not None:
            _object(change, "change", "the one change applied to every id")
        checked: list[Any] = []
        for index, raw in enumerate(items):
            where = f"items[{index}]"
            if isinstance(raw, Mapping):
                form = f"{name} with `change`" if change is not None else name
                raise ConfigurationError(f"{where}: {form} takes record ids, not objects; got {_short(raw)}")
            checked.append(
                _external_id(raw, where) if use_external_ids else _record_id(raw, where, _noun(action))
            )
        _no_duplicates(checked, "external id" if use_external_ids else "id")
        if target_id is not None and target_id in checked:
            raise ConfigurationError(
                f"items[{checked.index(target_id)}]: target_id {target_id} cannot also be a source ticket"
            )
        return checked
    if action.action == "update_many":
        objects = [
            _updated_object(action, raw, f"items[{i}]", use_external_ids) for i, raw in enumerate(items)
        ]
        _no_duplicates([obj.get("id") for obj in objects], "id")
        _no_duplicates([obj.get("external_id") for obj in objects], "external_id")
        return objects
    return [_object(raw, f"items[{i}]", f"an object for {name}") for i, raw in enumerate(items)]


def build_request(
    action: BulkAction,
    items: Sequence[Any],
    *,
    change: Mapping[str, Any] | None = None,
    use_external_ids: bool = False,
    target_id: Any = None,
) -> BulkRequest:
    """The one request that submits ``items`` (at most :data:`MAX_ITEMS_PER_JOB`) to ``action``.

    Id forms send ``?ids=1,2`` (or ``?external_ids=a,b``) with ``{change_key: change}`` for update_many
    and no body otherwise; object forms send ``{body_key: [...]}``; merge sends ``{"ids": [...]}`` to
    ``/tickets/{target_id}/merge``. Raises ConfigurationError on bad input, before any request.
    """
    checked = check_items(
        action, items, change=change, use_external_ids=use_external_ids, target_id=target_id
    )
    if len(checked) > MAX_ITEMS_PER_JOB:
        raise ConfigurationError(
            f"items: {len(checked)} given, but one {action.resource} {action.action} job takes at most "
            f"{MAX_ITEMS_PER_JOB}; split them into chunks of {MAX_ITEMS_PER_JOB} (the bulk operator "
            "splits any number of items into jobs)"
        )
    path = API_PREFIX + action.path
    if action.action == "merge":
        target = _record_id(target_id, "target_id", "the target ticket id")
        return BulkRequest(action.method, path.format(target_id=target), None, {"ids": checked})
    if action.items_are_ids or change is not None:
        params = {"external_ids" if use_external_ids else "ids": ",".join(str(i) for i in checked)}
        body = None if change is None else {action.change_key: dict(change)}
        return BulkRequest(action.method, path, params, body)
    return BulkRequest(action.method, path, None, {action.body_key: checked})


def item_key(action: BulkAction, item: Any, *, use_external_ids: bool = False) -> int | str | None:
    """The record id (or external id) an input item names, to match job results back to inputs.

    An id-list item is its own key (an int, or a str external id); an object gives its ``id`` if it
    carries one; anything else (a new record, an object named only by external id) gives None.
    """
    if isinstance(item, Mapping):
        return _as_int(item.get("id"))
    return str(item).strip() if use_external_ids else _as_int(item)
