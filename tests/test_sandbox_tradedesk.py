"""The Trade Desk sandbox over real HTTP (on a hand-driven clock): auth, status shapes and progressions,
result downloads (streamed, never with TTD-Auth), rate limit, control routes."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from typing import Any

import pytest
import requests
from tradedesk_sandbox_support import (
    CLOCK,
    FIRST,
    GQL,
    GQL_KEYS,
    HEADERS,
    ISO,
    PATHS,
    STD,
    STD_KEYS,
    TOKEN,
    api,
    assert_problem,
    at,
    read,
    sandbox,  # noqa: F401  (a fixture)
    server,  # noqa: F401  (a fixture)
)

from airflow_jobstatus.sandbox import (
    SandboxServer,
    SandboxState,
    TradeDeskSandboxConfig,
    iter_result,
    result_sha256,
    result_size,
)
from airflow_jobstatus.sandbox.tradedesk_jobs import result_text


# ----- auth -----
@pytest.mark.parametrize(
    ("token", "status", "kind"), [(None, 401, "none"), ("", 401, "none"), ("x", 403, "bad")]
)
def test_rejected_auth(sandbox: SandboxServer, token: str | None, status: int, kind: str) -> None:
    job_id = sandbox.state.tradedesk.create_job()
    response = api(sandbox, "GET", PATHS["standard"].format(job_id), headers={"TTD-Auth": token})
    assert_problem(response, status)
    assert response.json()["title"] == ("Unauthorized" if status == 401 else "Forbidden")
    assert [(r.auth, r.status) for r in sandbox.state.requests] == [(kind, status)]
    assert read(sandbox, "standard", job_id)["id"] == STD
    assert sandbox.state.requests[-1].auth == "ttd-auth" and TOKEN not in repr(sandbox.state.requests)


# ----- statuses -----
@pytest.mark.parametrize("snake", [False, True])
@pytest.mark.parametrize("kind", ["standard", "legacy", "graphql"])
def test_status_shapes(sandbox: SandboxServer, kind: str, snake: bool) -> None:
    ttd = sandbox.state.tradedesk
    ttd.config.snake_case = snake
    job_id = ttd.create_job(kind=kind, duration=0, result_bytes=300)
    body = read(sandbox, kind, job_id)
    keys = GQL_KEYS if kind == "graphql" else STD_KEYS
    if snake:
        keys = [re.sub(r"(?<=[a-z])(?=[A-Z])", "_", k).lower() for k in keys]
        assert ("query_gql_errors" if kind == "graphql" else "created_at_utc") in keys  # the rename worked
    assert list(body) == keys
    created, completed, pct, status, url, raw = (body[k] for k in keys[1:7])
    assert body["id"] == (job_id if kind == "graphql" else int(job_id))
    assert ISO.fullmatch(created) and ISO.fullmatch(completed) and (pct, status) == (100.0, "Success")
    assert re.fullmatch(rf"{sandbox.url}/tradedesk-results/{job_id}/[0-9a-f]{{32}}", url)
    assert raw == result_text(300) and json.loads(raw)["data"]["rows"][0]["id"] == 1
    assert all(body[k] is None for k in keys[7:])


def test_graphql_goes_queued_in_progress_success(sandbox: SandboxServer) -> None:
    job_id = sandbox.state.tradedesk.create_job(kind="graphql", duration=10)
    seen = [at(sandbox, "graphql", job_id, s) for s in (0, 1.9, 2, 6.6, 10)]
    expected = [
        ("Queued", None),
        ("Queued", None),
        ("InProgress", 0.0),
        ("InProgress", 57.5),
        ("Success", 100.0),
    ]
    assert [(j["status"], j["completionPercentage"]) for j in seen] == expected
    assert [j["completedAt"] is None and j["url"] is None for j in seen] == [True] * 4 + [False]


def test_standard_goes_in_progress_then_success(sandbox: SandboxServer) -> None:
    job_id = sandbox.state.tradedesk.create_job(duration=10)
    seen = [at(sandbox, "standard", job_id, s) for s in (0, 4.25, 9.99, 10)]
    expected = [("InProgress", 0.0), ("InProgress", 42.5), ("InProgress", 99.9), ("Success", 100.0)]
    assert [(j["status"], j["completionPercentage"]) for j in seen] == expected
    assert [j["url"] is None and j["rawResult"] is None for j in seen] == [True, True, True, False]


PARTIAL, FAILED = ["2 of 40 rows failed: sandbox partial"], ["Job failed: sandbox failure"]
GQL_ERR = ['Cannot query field "foo" on type "Query"']


@pytest.mark.parametrize(
    ("kind", "outcome", "errors", "expected"),
    [
        ("standard", "PartialSuccess", None, {"errors": PARTIAL[0], "completionPercentage": 100.0}),
        ("legacy", "Failure", None, {"errors": FAILED[0], "completionPercentage": 60.0, "url": None}),
        ("standard", "Failure", "disk full", {"errors": "disk full", "rawResult": None}),
        ("graphql", "PartialSuccess", None, {"runtimeErrors": PARTIAL, "queryGqlErrors": None}),
        ("graphql", "Failure", None, {"runtimeErrors": FAILED, "queryGqlErrors": GQL_ERR, "url": None}),
        ("graphql", "Failure", ["a", "b"], {"runtimeErrors": ["a", "b"], "rawResult": None}),
        ("graphql", "Cancelled", None, {"runtimeErrors": None, "completionPercentage": 60.0, "url": None}),
    ],
)
def test_outcomes(sandbox: SandboxServer, kind: str, outcome: str, errors: Any, expected: dict) -> None:
    job_id = sandbox.state.tradedesk.create_job(kind=kind, outcome=outcome, duration=10, errors=errors)
    running = at(sandbox, kind, job_id, 5)
    assert running["status"] == "InProgress" and running["completionPercentage"] <= 50.0
    assert running.get("errors", running.get("runtimeErrors")) is None
    done = at(sandbox, kind, job_id, 10)
    assert done["status"] == outcome and {k: done[k] for k in expected} == expected
    assert (done["url"] is not None) == (outcome == "PartialSuccess")


@pytest.mark.parametrize("kind", ["standard", "legacy", "graphql"])
def test_results_expire(sandbox: SandboxServer, kind: str) -> None:
    ttd = sandbox.state.tradedesk
    ttd.config.results_expire_seconds = 50
    own = ttd.create_job(kind=kind, duration=10, expires_after=5)
    default = ttd.create_job(kind=kind, duration=10)
    assert at(sandbox, kind, own, 14.9)["url"] is not None
    expired = "Success" if kind == "graphql" else "ResultsExpired"
    for job_id, seconds in ((own, 15), (default, 60)):
        job = at(sandbox, kind, job_id, seconds)
        assert (job["status"], job["url"], job["rawResult"]) == (expired, None, None)
    assert at(sandbox, kind, default, 59.9)["status"] == "Success"


def test_unknown_status_while_running(sandbox: SandboxServer) -> None:
    ttd = sandbox.state.tradedesk
    ttd.config.queued_fraction = 0
    for kind in ("standard", "graphql"):
        job_id = ttd.create_job(kind=kind, duration=10, unknown_status="Throttled")
        assert [at(sandbox, kind, job_id, s)["status"] for s in (3, 10)] == ["Throttled", "Success"]


def test_unknown_ids_paths_and_kinds_answer_404(sandbox: SandboxServer) -> None:
    ttd = sandbox.state.tradedesk
    legacy, standard, graphql = (ttd.create_job(kind=k) for k in ("legacy", "standard", "graphql"))
    assert (legacy, standard, graphql) == (str(STD), str(STD + 1), GQL)
    misread = [
        PATHS["standard"].format(legacy),
        PATHS["legacy"].format(standard),
        f"/bulkjob/{graphql}/status",
    ]
    for path in [
        *misread,
        "/graphqlbulkjob/1",
        "/standardjob/x/status",
        "/nope",
        "/standardjob/campaign/bulk",
    ]:
        assert_problem(api(sandbox, "GET", path), 404)
    assert read(sandbox, "legacy", legacy)["id"] == STD
    for kind, outcome in [("standard", "Cancelled"), ("nope", "Success"), ("graphql", "Done")]:
        with pytest.raises(ValueError):
            ttd.create_job(kind=kind, outcome=outcome)


# ----- downloads -----
def finished_url(sandbox: SandboxServer, nbytes: int, kind: str = "standard") -> tuple[str, str]:
    job_id = sandbox.state.tradedesk.create_job(kind=kind, duration=0, result_bytes=nbytes)
    return job_id, read(sandbox, kind, job_id)["url"]


@pytest.mark.parametrize(("nbytes", "chunk"), [(10, 1 << 20), (123_457, 1000), (3_000_000, 1 << 20)])
def test_download_streams_the_document(sandbox: SandboxServer, nbytes: int, chunk: int) -> None:
    sandbox.state.tradedesk.config.download_chunk = chunk
    job_id, url = finished_url(sandbox, nbytes, "graphql")
    response = requests.get(url, timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    assert response.content == b"".join(iter_result(nbytes)) and len(response.content) == result_size(nbytes)
    assert int(response.headers["Content-Length"]) == result_size(nbytes) >= nbytes
    assert hashlib.sha256(response.content).hexdigest() == result_sha256(nbytes)
    rows = json.loads(response.content)["data"]["rows"]
    assert len({len(json.dumps(r, separators=(",", ":"))) for r in rows}) <= 1
    assert sandbox.state.tradedesk.downloads == [job_id] and sandbox.state.tradedesk.auth_leaks == []


@pytest.mark.parametrize("token", [TOKEN, "other"])
def test_download_with_ttd_auth_is_refused_and_recorded(sandbox: SandboxServer, token: str) -> None:
    _, url = finished_url(sandbox, 100)
    response = requests.get(url, headers={"TTD-Auth": token}, timeout=5)
    assert_problem(response, 400, "TTD-Auth must not be sent to the result host")
    path = url.removeprefix(sandbox.url)
    assert sandbox.state.tradedesk.auth_leaks == [path] and sandbox.state.tradedesk.downloads == []
    assert requests.get(url, timeout=5).status_code == 200


def test_download_link_expiry_and_unknown_links(sandbox: SandboxServer) -> None:
    ttd = sandbox.state.tradedesk
    ttd.config.link_seconds, ttd.config.results_expire_seconds = 5, 20
    job_id, url = finished_url(sandbox, 100)
    created = ttd.jobs[job_id].created
    running = ttd.create_job(duration=100)
    results = f"{sandbox.url}/tradedesk-results"
    not_yet = f"{results}/{running}/{ttd.jobs[running].key}"
    wrong_key = url[:-1] + ("1" if url.endswith("0") else "0")  # the key is random hex: always change it
    for bad_url in (wrong_key, url.replace(f"/{job_id}/", "/42/"), f"{results}/x", not_yet):
        assert_problem(requests.get(bad_url, timeout=5), 404)
    CLOCK.now = created + 5
    assert_problem(requests.get(url, timeout=5), 403, "the link has expired")
    CLOCK.now = created + 20
    assert_problem(requests.get(url, timeout=5), 404)
    assert ttd.downloads == []


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1])


def test_50_mb_download_is_streamed(sandbox: SandboxServer) -> None:
    nbytes = 50_000_000
    _, url = finished_url(sandbox, nbytes)
    requests.get(finished_url(sandbox, 10_000)[1], timeout=5).raise_for_status()  # warm up both sides
    before = peak = rss_kb()
    digest, received = hashlib.sha256(), 0
    with requests.get(url, stream=True, timeout=10) as response:
        assert int(response.headers["Content-Length"]) == result_size(nbytes)
        for piece in response.iter_content(chunk_size=1 << 16):
            digest.update(piece)
            received += len(piece)
            if received % (1 << 20) < len(piece):
                peak = max(peak, rss_kb())
    assert received == result_size(nbytes) and digest.hexdigest() == result_sha256(nbytes)
    assert peak - before < 20_000, f"RSS grew by {peak - before} kB"


# ----- rate limit, faults, control routes, reset, command line -----
def test_rate_limit_answers_429_with_retry_after(sandbox: SandboxServer) -> None:
    sandbox.state.tradedesk.config.requests_per_minute = 2
    job_id, url = finished_url(sandbox, 10)
    assert api(sandbox, "GET", PATHS["standard"].format(job_id), headers={"TTD-Auth": "x"}).status_code == 403
    assert api(sandbox, "GET", PATHS["standard"].format(job_id)).status_code == 200  # the 2nd counted
    limited = api(sandbox, "POST", FIRST, json={"advertiserId": "a"})
    assert_problem(limited, 429)
    assert limited.headers["Retry-After"] == "60" and sandbox.state.tradedesk.submits == []
    assert requests.get(url, timeout=5).status_code == 200  # the result host is not limited
    CLOCK.now += 60
    assert api(sandbox, "POST", FIRST, json={"advertiserId": "a"}).status_code == 202


def test_fault_on_a_tradedesk_path(sandbox: SandboxServer) -> None:
    sandbox.state.add_fault(path_prefix="/tradedesk/standardjob", status=503, retry_after=3)
    response = api(sandbox, "POST", FIRST, json={"advertiserId": "a"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "3"
    assert sandbox.state.tradedesk.submits == []


def test_http_control_routes(sandbox: SandboxServer) -> None:
    def control(path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(f"{sandbox.url}/_sandbox/tradedesk{path}", json=body, timeout=5)

    config = control("/config", {"snake_case": True, "result_bytes": 50}).json()
    assert (config["snake_case"], config["result_bytes"], "api_token" in config) == (True, 50, False)
    assert control("/config", {"nope": 1}).status_code == 400
    assert control("/jobs", {"kind": "graphql", "outcome": "Bogus"}).status_code == 400
    job_id = control("/jobs", {"kind": "graphql", "duration": 0}).json()["id"]
    assert job_id == GQL and read(sandbox, "graphql", job_id)["raw_result"] == result_text(50)
    api(sandbox, "POST", FIRST, json={"advertiserId": "a"})
    requests.get(read(sandbox, "graphql", GQL)["url"], headers={"TTD-Auth": "t"}, timeout=5)
    listed = requests.get(f"{sandbox.url}/_sandbox/tradedesk/jobs", timeout=5).json()
    jobs = [(j["kind"], j["id"], j["status"]) for j in listed["jobs"]]
    assert jobs == [("graphql", GQL, "Success"), ("standard", STD, "InProgress")]
    submit = {"method": "POST", "path": f"/tradedesk{FIRST}", "kind": "firstpartydata", "job_id": str(STD)}
    assert listed["submits"] == [{**submit, "body": {"advertiserId": "a"}}] and listed["downloads"] == []
    assert listed["auth_leaks"] == [read(sandbox, "graphql", GQL)["url"].removeprefix(sandbox.url)]


def test_reset_restores_the_config_and_forgets_everything() -> None:
    with SandboxServer(tradedesk=TradeDeskSandboxConfig(api_token="other", result_bytes=10)) as custom:
        ttd = custom.state.tradedesk
        assert api(custom, "POST", FIRST, json={"advertiserId": "a"}, headers={"TTD-Auth": "other"}).ok
        ttd.config.result_bytes, ttd.config.snake_case = 99, True
        ttd.auth_leaks.append("/x")
        custom.reset()
        assert (ttd.config.result_bytes, ttd.config.snake_case, ttd.config.api_token) == (10, False, "other")
        assert ttd.jobs == {} and ttd.submits == [] and ttd.downloads == [] and ttd.auth_leaks == []
        assert ttd.create_job() == str(STD) and ttd.create_job(kind="graphql") == GQL
    with pytest.raises(ValueError):
        SandboxServer(state=SandboxState(), tradedesk=TradeDeskSandboxConfig())


def test_python_dash_m_prints_the_tradedesk_token() -> None:
    command = [sys.executable, "-m", "airflow_jobstatus.sandbox", "--port", "0", "--job-seconds", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().rsplit(" ", 1)[1]
        line = [process.stdout.readline() for _ in range(3)][-1]  # after the Zendesk and Wistia lines
        assert line.startswith("tradedesk:") and f"{url}/tradedesk," in line and TOKEN in line
        job_id = requests.post(f"{url}/_sandbox/tradedesk/jobs", json={}, timeout=5).json()["id"]
        response = requests.get(f"{url}/tradedesk/standardjob/{job_id}/status", headers=HEADERS, timeout=5)
        assert response.json()["status"] == "Success"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
