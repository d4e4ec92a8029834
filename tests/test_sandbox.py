"""The Zendesk sandbox over real HTTP: auth, job progression, bulk endpoints, limits, faults, control."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_jobstatus.sandbox import SandboxServer, ZendeskSandboxConfig

EMAIL = "agent@example.com"
TOKEN_AUTH = (f"{EMAIL}/token", "sandbox-token")
PASSWORD_AUTH = (EMAIL, "sandbox-password")
BEARER = {"Authorization": "Bearer sandbox-oauth-token"}
SECRETS = ("sandbox-token", "sandbox-password", "sandbox-oauth-token")


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(host="127.0.0.1", port=0) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def sandbox(server: SandboxServer) -> SandboxServer:
    server.reset()
    return server


def api(sandbox: SandboxServer, method: str, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("auth", TOKEN_AUTH)
    return requests.request(method, f"{sandbox.url}/api/v2{path}", timeout=5, **kwargs)


def job(sandbox: SandboxServer, job_id: str) -> dict[str, Any]:
    response = api(sandbox, "GET", f"/job_statuses/{job_id}.json")
    assert response.status_code == 200, response.text
    status: dict[str, Any] = response.json()["job_status"]
    return status


# ----- server lifecycle and auth -----
def test_start_returns_when_listening_and_stop_closes_the_port() -> None:
    server = SandboxServer().start()
    port = server.port
    try:
        assert port > 0 and server.url == f"http://127.0.0.1:{port}"
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


@pytest.mark.parametrize(
    ("kwargs", "kind"),
    [({"auth": TOKEN_AUTH}, "token"), ({"auth": PASSWORD_AUTH}, "password"), ({"headers": BEARER}, "bearer")],
)
def test_accepted_credentials(sandbox: SandboxServer, kwargs: dict[str, Any], kind: str) -> None:
    response = requests.get(f"{sandbox.url}/api/v2/job_statuses.json", timeout=5, **kwargs)
    assert response.status_code == 200
    assert [r.auth for r in sandbox.state.requests] == [kind]


@pytest.mark.parametrize(
    ("kwargs", "kind"),
    [
        ({}, "none"),
        ({"auth": (f"{EMAIL}/token", "wrong")}, "bad"),
        ({"auth": (EMAIL, "sandbox-token")}, "bad"),
        ({"auth": ("other@example.com/token", "sandbox-token")}, "bad"),
        ({"headers": {"Authorization": "Bearer nope"}}, "bad"),
        ({"headers": {"Authorization": "Basic !!notbase64"}}, "bad"),
    ],
)
def test_rejected_credentials(sandbox: SandboxServer, kwargs: dict[str, Any], kind: str) -> None:
    response = requests.get(f"{sandbox.url}/api/v2/job_statuses.json", timeout=5, **kwargs)
    assert response.status_code == 401
    assert response.json() == {"error": "Couldn't authenticate you"}
    assert [(r.auth, r.status) for r in sandbox.state.requests] == [(kind, 401)]


def test_request_log_never_holds_a_secret(sandbox: SandboxServer) -> None:
    api(sandbox, "GET", "/job_statuses.json")
    api(sandbox, "GET", "/job_statuses.json", auth=PASSWORD_AUTH)
    api(sandbox, "GET", "/job_statuses.json", auth=None, headers=BEARER)
    api(sandbox, "GET", "/job_statuses.json", params={"access_token": "sandbox-token"})
    logged = requests.get(f"{sandbox.url}/_sandbox/requests", timeout=5).text
    assert len(json.loads(logged)) == 4
    for text in (logged, repr(sandbox.state.requests)):
        assert not any(secret in text for secret in SECRETS)
    assert "access_token=REDACTED" in logged


# ----- job progression -----
def test_job_goes_queued_working_completed(sandbox: SandboxServer) -> None:
    job_id = sandbox.state.zendesk.create_job(total=10, duration=1.2, queued_for=0.3)
    created = sandbox.state.zendesk.jobs[job_id].created
    assert len(job_id) == 32 and int(job_id, 16) >= 0
    first = job(sandbox, job_id)
    assert (first["status"], first["progress"], first["results"]) == ("queued", None, None)
    assert first["url"] == f"{sandbox.url}/api/v2/job_statuses/{job_id}.json"
    seen = []
    for wake in (0.5, 0.9, 1.3):
        time.sleep(max(0.0, wake - (time.monotonic() - created)))
        seen.append(job(sandbox, job_id))
    assert [j["status"] for j in seen] == ["working", "working", "completed"]
    assert 0 <= seen[0]["progress"] < seen[1]["progress"] < 10 and seen[1]["results"] is None
    done = seen[2]
    assert (done["progress"], done["total"], len(done["results"])) == (10, 10, 10)
    assert done["message"].startswith("Completed at ")
    assert done["results"][0] | {"id": 0} == {
        "id": 0,
        "action": "update",
        "success": True,
        "status": "Updated",
    }


def test_unknown_status_is_reported_while_running(sandbox: SandboxServer) -> None:
    job_id = sandbox.state.zendesk.create_job(total=2, duration=5, queued_for=0, unknown_status="paused")
    assert job(sandbox, job_id)["status"] == "paused"


def test_failed_and_killed_jobs(sandbox: SandboxServer) -> None:
    zendesk = sandbox.state.zendesk
    failed = job(sandbox, zendesk.create_job(total=4, outcome="failed", duration=0))
    assert failed["status"] == "failed" and failed["message"].startswith("Job failed")
    assert failed["progress"] == 2 and len(failed["results"]) == 2
    early = job(sandbox, zendesk.create_job(total=4, outcome="failed", duration=0, stop_at=0))
    assert (early["progress"], early["results"]) == (0, None)
    killed = job(sandbox, zendesk.create_job(total=4, outcome="killed", duration=0))
    assert (killed["status"], killed["message"], killed["results"]) == ("killed", "Killed by system", None)


def test_partial_job_completes_with_both_failed_item_shapes(sandbox: SandboxServer) -> None:
    sandbox.state.zendesk.job_seconds = 0.05
    sandbox.state.zendesk.fail_ids.add(2)
    tickets = [{"id": 1, "status": "solved"}, {"id": 2}, {"id": 3, "subject": "x [sandbox:fail]"}]
    update = api(sandbox, "PUT", "/tickets/update_many.json", json={"tickets": tickets}).json()["job_status"]
    new = [{"subject": "ok"}, {"tags": ["[sandbox:fail]"]}]
    create = api(sandbox, "POST", "/tickets/create_many", json={"tickets": new}).json()["job_status"]
    time.sleep(0.1)
    updated = job(sandbox, update["id"])
    assert updated["status"] == "completed" and updated["progress"] == 3
    ok, by_id, marked = updated["results"]
    assert ok == {"id": 1, "action": "update", "success": True, "status": "Updated"}
    assert by_id["error"] == "TicketUpdateFailed" and by_id["success"] is False and by_id["id"] == 2
    assert marked["error"] == "RecordInvalid" and marked["index"] == 2 and marked["success"] is False
    created = job(sandbox, create["id"])["results"]
    assert set(created[0]) == {"id", "index"}
    assert created[1]["error"] == "RecordInvalid" and "success" not in created[1] and "id" not in created[1]


def test_bare_and_envelope(sandbox: SandboxServer) -> None:
    bare_id = sandbox.state.zendesk.create_job(bare=True)
    wrapped_id = sandbox.state.zendesk.create_job()
    assert api(sandbox, "GET", f"/job_statuses/{bare_id}").json()["id"] == bare_id
    assert api(sandbox, "GET", f"/job_statuses/{wrapped_id}").json()["job_status"]["id"] == wrapped_id


def test_unknown_and_expired_jobs_answer_404(sandbox: SandboxServer) -> None:
    job_id = sandbox.state.zendesk.create_job(expires_after=0.2)
    assert api(sandbox, "GET", f"/job_statuses/{job_id}").status_code == 200
    time.sleep(0.25)
    for path in (f"/job_statuses/{job_id}.json", "/job_statuses/0123456789abcdef0123456789abcdef"):
        response = api(sandbox, "GET", path)
        assert response.status_code == 404
        assert response.json() == {"error": "RecordNotFound", "description": "Not found"}
    listed = api(sandbox, "GET", f"/job_statuses/show_many.json?ids={job_id}").json()
    assert listed == {"job_statuses": []}


def test_show_many(sandbox: SandboxServer) -> None:
    ids = [sandbox.state.zendesk.create_job() for _ in range(3)]
    asked = f"{ids[2]},nope,{ids[0]}"
    body = api(sandbox, "GET", "/job_statuses/show_many.json", params={"ids": asked}).json()
    assert [j["id"] for j in body["job_statuses"]] == [ids[2], ids[0]]
    too_many = api(sandbox, "GET", "/job_statuses/show_many", params={"ids": ",".join(map(str, range(101)))})
    assert too_many.status_code == 400 and too_many.json()["error"] == "InvalidValue"
    assert api(sandbox, "GET", "/job_statuses/show_many").status_code == 400


def test_list_is_newest_first_and_pages(sandbox: SandboxServer) -> None:
    ids = [sandbox.state.zendesk.create_job() for _ in range(3)]
    first = api(sandbox, "GET", "/job_statuses.json", params={"page[size]": 2}).json()
    assert [j["id"] for j in first["job_statuses"]] == [ids[2], ids[1]]
    assert first["meta"]["has_more"] is True
    second = requests.get(first["links"]["next"], auth=TOKEN_AUTH, timeout=5).json()
    assert [j["id"] for j in second["job_statuses"]] == [ids[0]]
    assert second["meta"]["has_more"] is False and second["links"]["next"] is None


# ----- bulk endpoints -----
CREATED = {"id", "index"}
ACTION = {"id", "action", "success", "status"}
UPSERTED = {"id", "status", "email"}
T2 = {"tickets": [{"subject": "a"}, {"subject": "b"}]}
ORG_MEMBER = {"organization_memberships": [{"user_id": 1, "organization_id": 2}]}
GROUP_MEMBER = {"group_memberships": [{"user_id": 1, "group_id": 2}]}
SUBMITS: list[tuple[str, str, Any, int | None, Any]] = [
    ("POST", "/tickets/create_many.json", T2, 2, CREATED),
    ("PUT", "/tickets/update_many.json?ids=1,2,3", {"ticket": {"status": "open"}}, 3, ACTION),
    ("PUT", "/tickets/update_many", {"tickets": [{"id": 1}, {"id": 2}]}, 2, ACTION),
    ("DELETE", "/tickets/destroy_many.json?ids=1,2", None, 2, ACTION),
    ("PUT", "/tickets/mark_many_as_spam.json?ids=4", None, 1, ACTION),
    ("POST", "/tickets/9/merge.json", {"ids": [1, 2]}, 2, ACTION),
    ("DELETE", "/deleted_tickets/destroy_many.json?ids=1,2", None, None, {"success": True}),
    ("POST", "/imports/tickets/create_many.json", T2, 2, CREATED),
    ("POST", "/users/create_many.json", {"users": [{"email": "a@example.com"}]}, 1, CREATED),
    ("POST", "/users/create_or_update_many", {"users": [{"email": "b@example.com"}]}, 1, UPSERTED),
    ("PUT", "/users/update_many.json?ids=5,6", {"user": {"role": "agent"}}, 2, ACTION),
    ("PUT", "/users/update_many.json", {"users": [{"external_id": "x1"}]}, 1, ACTION),
    ("DELETE", "/users/destroy_many.json?external_ids=a,b", None, 2, ACTION),
    ("POST", "/organizations/create_many.json", {"organizations": [{"name": "o"}]}, 1, CREATED),
    ("PUT", "/organizations/update_many.json?ids=7", {"organization": {"notes": "n"}}, 1, ACTION),
    ("PUT", "/organizations/update_many", {"organizations": [{"id": 7}, {"id": 8}]}, 2, ACTION),
    ("DELETE", "/organizations/destroy_many.json?ids=7,8", None, 2, ACTION),
    ("POST", "/organization_memberships/create_many.json", ORG_MEMBER, 1, CREATED),
    ("DELETE", "/organization_memberships/destroy_many.json?ids=1,2,3", None, 3, ACTION),
    ("POST", "/group_memberships/create_many", GROUP_MEMBER, 1, CREATED),
    ("DELETE", "/group_memberships/destroy_many.json?ids=1", None, 1, ACTION),
]


@pytest.mark.parametrize(("method", "path", "body", "total", "shape"), SUBMITS)
def test_every_bulk_endpoint_queues_a_job(
    sandbox: SandboxServer, method: str, path: str, body: Any, total: int | None, shape: Any
) -> None:
    sandbox.state.zendesk.job_seconds = 0.05
    response = api(sandbox, method, path, **({} if body is None else {"json": body}))
    assert response.status_code == 200, response.text
    queued = response.json()["job_status"]
    assert (queued["status"], queued["total"]) == ("queued", total)
    assert queued["progress"] is None and queued["results"] is None
    assert [(s.method, s.job_id) for s in sandbox.state.zendesk.submits] == [(method, queued["id"])]
    time.sleep(0.1)
    done = job(sandbox, queued["id"])
    assert done["status"] == "completed" and done["progress"] == total
    if isinstance(shape, dict):
        assert done["results"] == shape
    else:
        assert len(done["results"]) == total and all(set(item) == shape for item in done["results"])


def test_create_or_update_reports_created_then_updated(sandbox: SandboxServer) -> None:
    sandbox.state.zendesk.job_seconds = 0
    users = {"users": [{"email": "c@example.com"}]}
    first = api(sandbox, "POST", "/users/create_or_update_many", json=users).json()["job_status"]["id"]
    second = api(sandbox, "POST", "/users/create_or_update_many", json=users).json()["job_status"]["id"]
    created, updated = job(sandbox, first)["results"][0], job(sandbox, second)["results"][0]
    assert (created["status"], updated["status"]) == ("Created", "Updated")
    assert created["id"] == updated["id"] and updated["email"] == "c@example.com"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "error"),
    [
        ("POST", "/tickets/create_many", {"json": {"tickets": [{}] * 101}}, "RecordInvalid"),
        ("DELETE", "/tickets/destroy_many?ids=" + ",".join(map(str, range(1, 102))), {}, "RecordInvalid"),
        ("POST", "/tickets/create_many", {}, "InvalidValue"),
        ("POST", "/tickets/create_many", {"json": {"tickets": []}}, "InvalidValue"),
        ("POST", "/tickets/create_many", {"data": "{not json"}, "InvalidValue"),
        ("DELETE", "/tickets/destroy_many", {}, "InvalidValue"),
        ("DELETE", "/tickets/destroy_many?ids=1,x", {}, "InvalidValue"),
        ("PUT", "/tickets/update_many?ids=1", {"json": {}}, "InvalidValue"),
        ("POST", "/tickets/3/merge", {"json": {"ids": [3]}}, "InvalidValue"),
    ],
)
def test_bad_submits_are_refused_and_create_nothing(
    sandbox: SandboxServer, method: str, path: str, kwargs: dict[str, Any], error: str
) -> None:
    response = api(sandbox, method, path, **kwargs)
    assert response.status_code == 400
    assert response.json()["error"] == error and response.json()["description"]
    assert sandbox.state.zendesk.jobs == {} and sandbox.state.zendesk.submits == []


def test_job_limit_answers_429_and_creates_nothing(sandbox: SandboxServer) -> None:
    zendesk = sandbox.state.zendesk
    zendesk.max_active_jobs, zendesk.job_limit_retry_after, zendesk.job_seconds = 2, 3, 10
    for _ in range(2):
        assert api(sandbox, "DELETE", "/tickets/destroy_many?ids=1").status_code == 200
    refused = api(sandbox, "DELETE", "/tickets/destroy_many?ids=1")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3"
    assert refused.json()["error"] == "TooManyJobs"
    assert len(zendesk.jobs) == 2 and len(zendesk.submits) == 2
    zendesk.create_job(duration=0)  # a finished job does not count toward the limit
    assert zendesk.active_jobs() == 2


def test_account_rate_limit(sandbox: SandboxServer) -> None:
    sandbox.state.zendesk.requests_per_minute = 2
    first = api(sandbox, "GET", "/job_statuses")
    assert first.headers["X-Rate-Limit"] == "2" and first.headers["X-Rate-Limit-Remaining"] == "1"
    assert api(sandbox, "GET", "/job_statuses").status_code == 200
    limited = api(sandbox, "GET", "/job_statuses")
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60


def test_unknown_endpoint(sandbox: SandboxServer) -> None:
    response = api(sandbox, "GET", "/no_such_thing.json")
    assert response.status_code == 404 and response.json()["error"] == "InvalidEndpoint"


# ----- faults -----
def test_fault_with_retry_after_applies_before_auth(sandbox: SandboxServer) -> None:
    job_id = sandbox.state.zendesk.create_job()
    sandbox.state.add_fault(
        path_prefix="/api/v2/job_statuses", method="GET", status=429, retry_after=2, count=2
    )
    for _ in range(2):
        response = requests.get(f"{sandbox.url}/api/v2/job_statuses/{job_id}", timeout=5)
        assert response.status_code == 429 and response.headers["Retry-After"] == "2"
    assert api(sandbox, "GET", f"/job_statuses/{job_id}").status_code == 200
    assert sandbox.state.count(method="GET", status=429) == 2 and sandbox.state.faults == []


def test_fault_with_html_body(sandbox: SandboxServer) -> None:
    sandbox.state.add_fault(
        status=502, body="<html><body>Bad gateway</body></html>", content_type="text/html"
    )
    response = api(sandbox, "GET", "/job_statuses")
    assert response.status_code == 502 and response.headers["Content-Type"].startswith("text/html")
    assert "<html>" in response.text
    with pytest.raises(ValueError):
        response.json()


def test_reset_fault_closes_the_connection(sandbox: SandboxServer) -> None:
    sandbox.state.add_fault(path_prefix="/api/v2/job_statuses", reset=True)
    with pytest.raises(requests.ConnectionError):
        api(sandbox, "GET", "/job_statuses")
    assert api(sandbox, "GET", "/job_statuses").status_code == 200
    assert [(r.status, r.fault) for r in sandbox.state.requests] == [(0, True), (200, False)]


def test_delay_only_fault_lets_the_request_through(sandbox: SandboxServer) -> None:
    sandbox.state.add_fault(status=None, delay=0.3)
    started = time.monotonic()
    assert api(sandbox, "GET", "/job_statuses").status_code == 200
    assert time.monotonic() - started >= 0.3


# ----- HTTP control routes -----
def test_http_control_routes(sandbox: SandboxServer) -> None:
    def control(path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(f"{sandbox.url}/_sandbox{path}", json=body, timeout=5)

    config = control("/zendesk/config", {"job_seconds": 7, "fail_ids": [4], "max_active_jobs": 5}).json()
    assert (config["job_seconds"], config["fail_ids"], config["max_active_jobs"]) == (7, [4], 5)
    assert "api_token" not in config and sandbox.state.zendesk.fail_ids == {4}
    assert control("/zendesk/config", {"nope": 1}).status_code == 400
    job_id = control("/zendesk/jobs", {"total": 3, "outcome": "failed", "duration": 0}).json()["id"]
    assert job(sandbox, job_id)["status"] == "failed"
    assert control("/zendesk/jobs", {"outcome": "exploded"}).status_code == 400
    assert control("/faults", {"status": 503, "count": 1, "path_prefix": "/api/v2"}).json()["faults"] == 1
    assert api(sandbox, "GET", "/job_statuses").status_code == 503
    logged = requests.get(f"{sandbox.url}/_sandbox/requests", timeout=5).json()
    assert [r["status"] for r in logged] == [200, 503]
    assert control("/reset", {}).json() == {"ok": True}
    assert sandbox.state.zendesk.jobs == {} and sandbox.state.requests == []
    assert sandbox.state.zendesk.job_seconds == 3.0 and sandbox.state.zendesk.fail_ids == set()


def test_reset_restores_the_config_the_server_was_built_with() -> None:
    with SandboxServer(zendesk=ZendeskSandboxConfig(job_seconds=0.5, api_token="other")) as custom:
        custom.state.zendesk.job_seconds = 9
        custom.reset()
        assert custom.state.zendesk.job_seconds == 0.5
        assert api(custom, "GET", "/job_statuses", auth=(f"{EMAIL}/token", "other")).status_code == 200


def test_python_dash_m_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_jobstatus.sandbox", "--port", "0", "--job-seconds", "0.5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("sandbox listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert "sandbox-token" in process.stdout.readline()
        assert requests.get(f"{url}/_sandbox/health", timeout=5).json() == {"ok": True}
        assert requests.post(f"{url}/_sandbox/zendesk/config", timeout=5).json()["job_seconds"] == 0.5
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
