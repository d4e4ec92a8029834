"""ZendeskJobHook.submit_bulk against the running sandbox over real HTTP, and the pure request builder."""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

import pytest

from airflow_jobstatus.core.models import Job, JobState
from airflow_jobstatus.errors import ConfigurationError, TransientVendorError
from airflow_jobstatus.hooks.zendesk import ZendeskJobHook
from airflow_jobstatus.hooks.zendesk_bulk import (
    BULK_ACTIONS,
    MAX_ITEMS_PER_JOB,
    BulkRequest,
    build_request,
    bulk_action,
    check_items,
    item_key,
)
from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.sandbox.zendesk_jobs import Submit

EXT = {"use_external_ids": True}
# (resource, action, items, keyword arguments): every endpoint, every form it takes.
CASES: list[tuple[str, str, list[Any], dict[str, Any]]] = [
    ("tickets", "create_many", [{"subject": "a"}, {"subject": "b"}], {}),
    ("tickets", "update_many", [1, 2, 3], {"change": {"status": "open"}}),
    ("tickets", "update_many", [{"id": 4, "status": "solved"}, {"id": 5, "priority": "high"}], {}),
    ("tickets", "destroy_many", [1, 2], {}),
    ("tickets", "mark_many_as_spam", [4], {}),
    ("tickets", "merge", [1, 2], {"target_id": 9}),
    ("deleted_tickets", "destroy_many", [1, 2], {}),
    ("ticket_imports", "create_many", [{"subject": "old", "comments": [{"value": "hi"}]}], {}),
    ("users", "create_many", [{"name": "A", "email": "a@example.com"}], {}),
    ("users", "create_or_update_many", [{"name": "B", "email": "b@example.com"}], {}),
    ("users", "update_many", [5, 6], {"change": {"role": "agent"}}),
    ("users", "update_many", ["x1", "x2"], {"change": {"role": "agent"}, **EXT}),
    ("users", "update_many", [{"id": 5, "name": "n"}, {"external_id": "x3", "name": "m"}], {}),
    ("users", "destroy_many", [5, 6], {}),
    ("users", "destroy_many", ["a", "b"], EXT),
    ("organizations", "create_many", [{"name": "o"}], {}),
    ("organizations", "update_many", [7], {"change": {"notes": "n"}}),
    ("organizations", "update_many", ["org-1"], {"change": {"notes": "n"}, **EXT}),
    ("organizations", "update_many", [{"id": 7, "notes": "n"}, {"id": 8, "notes": "m"}], {}),
    ("organizations", "destroy_many", [7, 8], {}),
    ("organizations", "destroy_many", ["org-1"], EXT),
    ("organization_memberships", "create_many", [{"user_id": 1, "organization_id": 2}], {}),
    ("organization_memberships", "destroy_many", [1, 2, 3], {}),
    ("group_memberships", "create_many", [{"user_id": 1, "group_id": 2}], {}),
    ("group_memberships", "destroy_many", [1], {}),
]


def case_id(resource: str, action: str, items: list[Any], kwargs: dict[str, Any]) -> str:
    form = "change" if "change" in kwargs else "objects" if isinstance(items[0], dict) else "ids"
    return f"{resource}-{action}-{form}" + ("-external" if kwargs.get("use_external_ids") else "")


def wait_done(hook: ZendeskJobHook, job_id: str, timeout: float = 5.0) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = hook.get_job(job_id)
        if job.state.is_terminal or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_cases_cover_every_endpoint_and_form() -> None:
    assert {(resource, action) for resource, action, _, _ in CASES} == set(BULK_ACTIONS)
    forms = {case_id(*case) for case in CASES}
    for resource in ("tickets", "users", "organizations"):
        assert {f"{resource}-update_many-change", f"{resource}-update_many-objects"} <= forms
    externals = {(a.resource, a.action) for a in BULK_ACTIONS.values() if a.external_ids}
    assert {(r, a) for r, a, _, kw in CASES if kw.get("use_external_ids")} == externals


@pytest.mark.parametrize(("resource", "action", "items", "kwargs"), CASES, ids=[case_id(*c) for c in CASES])
def test_submit_every_bulk_action(
    sandbox: SandboxServer,
    zendesk_conn: str,
    resource: str,
    action: str,
    items: list[Any],
    kwargs: dict[str, Any],
) -> None:
    zendesk = sandbox.state.zendesk
    zendesk.job_seconds = 0.1
    hook = ZendeskJobHook(zendesk_conn)
    endpoint = BULK_ACTIONS[(resource, action)]

    job = hook.submit_bulk(resource, action, items, **kwargs)

    assert (job.state, job.vendor_status, job.results) == (JobState.QUEUED, "queued", [])
    path = "/api/v2" + endpoint.path.format(target_id=kwargs.get("target_id"))
    assert zendesk.submits == [Submit(endpoint.method, path, len(items), job.id)]
    assert sandbox.state.count(path_prefix="/api/v2/") == 1
    done = wait_done(hook, job.id)
    assert done.state is JobState.SUCCEEDED, done
    assert all(result.success for result in done.results)
    if resource == "deleted_tickets":  # permanent deletion reports {"success": true} and no total
        assert (done.total, len(done.results)) == (None, 1)
    elif endpoint.creates_records:
        assert [r.index for r in done.results] == list(range(len(items)))
        assert all(isinstance(r.id, int) for r in done.results)
    elif action == "create_or_update_many":
        assert [(r.status, r.extra["email"]) for r in done.results] == [
            ("Created", item["email"]) for item in items
        ]
    else:
        assert len(done.results) == len(items) == done.total
        for item, result in zip(items, done.results, strict=True):
            key = item_key(endpoint, item, use_external_ids=bool(kwargs.get("use_external_ids")))
            assert result.id == key if isinstance(key, int) else isinstance(result.id, int)


def test_submit_logs_one_line(sandbox: SandboxServer, zendesk_conn: str) -> None:
    with mock.patch.object(ZendeskJobHook, "log", new_callable=mock.PropertyMock) as log:
        job = ZendeskJobHook(zendesk_conn).submit_bulk("tickets", "destroy_many", [1, 2])
    lines = [call.args[0] % call.args[1:] for call in log.return_value.info.call_args_list]
    assert lines == [f"submitted tickets destroy_many of 2 items: job {job.id}"]


BAD: list[tuple[str, str, Any, dict[str, Any], str]] = [
    ("tickets", "update_many", [1, "abc"], {"change": {"status": "open"}}, "items[1]: a ticket id must be"),
    ("tickets", "destroy_many", "1,2", {}, "items must be a list, not a string"),
    ("tickets", "destroy_many", [], {}, "items must be a non-empty list"),
    ("tickets", "destroy_many", {"id": 1}, {}, "items must be a non-empty list"),
    ("tickets", "destroy_many", [3, 3], {}, "items[1]: id 3 is also items[0]"),
    ("tickets", "destroy_many", [0], {}, "items[0]: a ticket id must be an integer greater than 0"),
    ("users", "destroy_many", [True], {}, "items[0]: a user id must be an integer"),
    ("tickets", "create_many", [{"subject": "a"}], {"change": {"x": 1}}, "change is only for update_many"),
    ("tickets", "update_many", [1, 2], {}, "items[0]: update_many without `change` needs objects that carry"),
    ("users", "update_many", [{"name": "n"}], {}, "carry an id (or external_id)"),
    ("tickets", "update_many", [{"id": "x"}], {}, "items[0].id: a ticket id must be an integer"),
    (
        "tickets",
        "update_many",
        [{"id": 1}],
        {"change": {"a": 1}},
        "items[0]: tickets update_many with `change`",
    ),
    ("tickets", "update_many", [1], {"change": {}}, "change: "),
    ("tickets", "update_many", [1], {"change": "status=open"}, "change: "),
    ("tickets", "merge", [1, 2], {}, "target_id is required for merge"),
    ("tickets", "merge", [1, 2], {"target_id": 2}, "target_id 2 cannot also be a source"),
    ("tickets", "merge", [1], {"target_id": "x"}, "target_id: the target ticket id must be an integer"),
    ("tickets", "create_many", [{"s": 1}], {"target_id": 1}, "target_id is only for tickets merge"),
    ("tickets", "destroy_many", ["a"], EXT, "use_external_ids is not supported by tickets destroy_many"),
    ("users", "destroy_many", ["a,b"], EXT, "items[0]: an external id must be"),
    ("users", "destroy_many", [" "], EXT, "items[0]: an external id must be"),
    ("tickets", "create_many", [{"subject": "a"}, "b"], {}, "items[1]: an object for tickets create_many"),
    ("users", "create_many", [{}], {}, "items[0]: an object for users create_many"),
    ("ticket", "create_many", [{"s": 1}], {}, "resource 'ticket' is not a Zendesk bulk resource"),
    ("users", "mark_many_as_spam", [1], {}, "action 'mark_many_as_spam' is not available for users"),
    ("tickets", "destroy_many", list(range(1, 102)), {}, "items: 101 given"),
]


@pytest.mark.parametrize(("resource", "action", "items", "kwargs", "message"), BAD, ids=[b[4] for b in BAD])
def test_bad_input_fails_before_any_request(
    sandbox: SandboxServer,
    zendesk_conn: str,
    resource: str,
    action: str,
    items: Any,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        ZendeskJobHook(zendesk_conn).submit_bulk(resource, action, items, **kwargs)
    assert message in str(raised.value)
    assert sandbox.state.count() == 0 and sandbox.state.zendesk.submits == []


@pytest.mark.parametrize(
    ("resource", "action", "items", "kwargs"),
    [
        ("tickets", "create_many", [{"subject": str(i)} for i in range(101)], {}),
        ("tickets", "update_many", list(range(1, 102)), {"change": {"status": "open"}}),
        ("users", "destroy_many", [f"e{i}" for i in range(150)], EXT),
    ],
)
def test_more_than_100_items_fail_before_any_request(
    sandbox: SandboxServer, zendesk_conn: str, resource: str, action: str, items: Any, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ConfigurationError, match=rf"items: {len(items)} given.*at most 100.*splits"):
        ZendeskJobHook(zendesk_conn).submit_bulk(resource, action, items, **kwargs)
    assert sandbox.state.count() == 0
    assert len(check_items(bulk_action(resource, action), items, **kwargs)) == len(items)  # no limit there


def test_job_limit_refusal_is_raised_once_with_retry_after(sandbox: SandboxServer, zendesk_conn: str) -> None:
    zendesk = sandbox.state.zendesk
    zendesk.max_active_jobs, zendesk.job_limit_retry_after, zendesk.job_seconds = 1, 2, 30
    hook = ZendeskJobHook(zendesk_conn)
    first = hook.submit_bulk("tickets", "update_many", [1, 2], change={"status": "open"})
    with pytest.raises(TransientVendorError) as raised:
        hook.submit_bulk("tickets", "update_many", [3], change={"status": "open"})
    assert (raised.value.status, raised.value.retry_after) == (429, 2.0)
    assert sandbox.state.count(method="PUT", path_prefix="/api/v2/tickets/update_many") == 2
    assert sandbox.state.count(status=429) == 1
    assert [s.job_id for s in zendesk.submits] == [first.id]


def test_a_503_on_a_submit_is_raised_at_once(sandbox: SandboxServer, zendesk_conn: str) -> None:
    sandbox.state.add_fault(path_prefix="/api/v2/users/create_many", method="POST", status=503, count=5)
    with pytest.raises(TransientVendorError) as raised:
        ZendeskJobHook(zendesk_conn).submit_bulk("users", "create_many", [{"name": "A"}])
    assert raised.value.status == 503
    assert sandbox.state.count(path_prefix="/api/v2/") == 1
    assert sandbox.state.zendesk.submits == []


@pytest.mark.parametrize(
    ("marker", "vendor_status", "state"),
    [
        ("[sandbox:job-failed]", "failed", JobState.FAILED),
        ("[sandbox:job-killed]", "killed", JobState.CANCELLED),
    ],
)
@pytest.mark.parametrize("form", ["objects", "change"])
def test_job_markers_end_the_job_failed_or_killed(
    sandbox: SandboxServer, zendesk_conn: str, marker: str, vendor_status: str, state: JobState, form: str
) -> None:
    sandbox.state.zendesk.job_seconds = 0.1
    hook = ZendeskJobHook(zendesk_conn)
    if form == "objects":
        items: list[Any] = [{"id": i, "subject": f"s{i}"} for i in (1, 2, 3, 4)]
        items[1]["comment"] = {"body": f"note {marker}"}
        job = hook.submit_bulk("tickets", "update_many", items)
    else:
        job = hook.submit_bulk("tickets", "update_many", [1, 2, 3, 4], change={"comment": {"body": marker}})
    done = wait_done(hook, job.id)
    assert (done.vendor_status, done.state) == (vendor_status, state)
    # A job marker is not the per-item [sandbox:fail] marker: the items reported before the stop succeeded.
    assert all(item.success for item in done.results)
    if vendor_status == "failed":
        assert [item.id for item in done.results] == [1, 2]


def test_item_fail_marker_still_fails_only_its_item(sandbox: SandboxServer, zendesk_conn: str) -> None:
    sandbox.state.zendesk.job_seconds = 0.1
    hook = ZendeskJobHook(zendesk_conn)
    job = hook.submit_bulk("tickets", "create_many", [{"subject": "ok"}, {"subject": "x [sandbox:fail]"}])
    done = wait_done(hook, job.id)
    assert (done.vendor_status, done.state) == ("completed", JobState.PARTIAL)
    assert [item.index for item in done.failed_items] == [1]


# ----- the pure builder -----
@pytest.mark.parametrize(
    ("resource", "action", "items", "kwargs", "expected"),
    [
        ("tickets", "update_many", [1, "2"], {"change": {"status": "open"}},
         BulkRequest("PUT", "/api/v2/tickets/update_many", {"ids": "1,2"}, {"ticket": {"status": "open"}})),
        ("tickets", "update_many", [{"id": "3", "tags": ["a"]}], {},
         BulkRequest("PUT", "/api/v2/tickets/update_many", None, {"tickets": [{"id": 3, "tags": ["a"]}]})),
        ("users", "update_many", [" a ", 7], {"change": {"role": "x"}, **EXT},
         BulkRequest("PUT", "/api/v2/users/update_many", {"external_ids": "a,7"}, {"user": {"role": "x"}})),
        ("tickets", "mark_many_as_spam", (4, 5), {},
         BulkRequest("PUT", "/api/v2/tickets/mark_many_as_spam", {"ids": "4,5"}, None)),
        ("tickets", "merge", [1, 2], {"target_id": "9"},
         BulkRequest("POST", "/api/v2/tickets/9/merge", None, {"ids": [1, 2]})),
        ("ticket_imports", "create_many", [{"subject": "s"}], {},
         BulkRequest("POST", "/api/v2/imports/tickets/create_many", None, {"tickets": [{"subject": "s"}]})),
        ("organizations", "destroy_many", ["o1"], EXT,
         BulkRequest("DELETE", "/api/v2/organizations/destroy_many", {"external_ids": "o1"}, None)),
    ],
)  # fmt: skip
def test_build_request_shapes(
    resource: str, action: str, items: Any, kwargs: dict[str, Any], expected: BulkRequest
) -> None:
    assert build_request(bulk_action(resource, action), items, **kwargs) == expected


def test_action_table_flags() -> None:
    creating = {key for key, a in BULK_ACTIONS.items() if a.creates_records}
    assert creating == {key for key in BULK_ACTIONS if key[1] == "create_many"}
    assert {key[1] for key, a in BULK_ACTIONS.items() if a.items_are_ids} == {
        "destroy_many",
        "mark_many_as_spam",
        "merge",
    }
    assert all(bool(a.change_key) == (a.action == "update_many") for a in BULK_ACTIONS.values())
    assert all(a.body_key or a.items_are_ids for a in BULK_ACTIONS.values())
    assert MAX_ITEMS_PER_JOB == 100


def test_item_key() -> None:
    update = bulk_action("users", "update_many")
    assert item_key(update, {"id": 5, "name": "n"}) == 5
    assert item_key(update, {"external_id": "x"}) is None
    assert item_key(update, "6") == 6
    assert item_key(bulk_action("users", "destroy_many"), " e1 ", use_external_ids=True) == "e1"
    assert item_key(bulk_action("users", "create_many"), {"name": "new"}) is None
