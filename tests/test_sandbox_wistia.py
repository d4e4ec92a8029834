"""The Wistia sandbox over real HTTP: auth, job progression, every job-creating call, limits, faults."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_jobstatus.sandbox import JOB_FAIL_MARKER, SandboxServer, SandboxState, WistiaSandboxConfig

TOKEN = "sandbox-wistia-token"
VERSION = "2026-03"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "X-Wistia-API-Version": VERSION}
FIRST_ID = 382476


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(wistia=WistiaSandboxConfig(job_seconds=0.05)) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def sandbox(server: SandboxServer) -> SandboxServer:
    server.reset()
    return server


def api(sandbox: SandboxServer, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {**HEADERS, **kwargs.pop("headers", {})}
    return requests.request(method, f"{sandbox.url}/wistia{path}", headers=headers, timeout=5, **kwargs)


def status(sandbox: SandboxServer, job_id: int) -> str:
    response = api(sandbox, "GET", f"/background_job_status/{job_id}")
    assert response.status_code == 200, response.text
    body = response.json()["background_job_status"]
    assert body["id"] == job_id and set(body) == {"id", "status"}
    result: str = body["status"]
    return result


# ----- auth and the account -----
@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        ({"Authorization": ""}, "none"),
        ({"Authorization": "Bearer wrong"}, "bad"),
        ({"Authorization": f"Basic {TOKEN}"}, "bad"),
        ({"Authorization": f"Token {TOKEN}"}, "bad"),
    ],
)
def test_rejected_credentials(sandbox: SandboxServer, headers: dict[str, str], kind: str) -> None:
    response = api(sandbox, "GET", "/account", headers=headers)
    assert response.status_code == 401 and response.json() == {"error": "Invalid credentials."}
    assert [(r.auth, r.status) for r in sandbox.state.requests] == [(kind, 401)]
    assert TOKEN not in repr(sandbox.state.requests)


def test_account_with_good_token_and_api_versions_recorded(sandbox: SandboxServer) -> None:
    response = api(sandbox, "GET", "/account")
    assert response.status_code == 200
    account = {"id": 1, "name": "Sandbox account", "url": "https://sandbox.wistia.com", "mediaCount": 0}
    assert response.json() == account
    requests.get(f"{sandbox.url}/wistia/account", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert sandbox.state.wistia.api_versions == [VERSION, None]
    assert [r.auth for r in sandbox.state.requests] == ["bearer", "bearer"]


def test_unknown_paths_answer_404(sandbox: SandboxServer) -> None:
    for method, path in [("GET", "/no_such_thing"), ("GET", "/medias/archive"), ("POST", "/medias/x/nope")]:
        response = api(sandbox, method, path)
        assert response.status_code == 404 and response.json() == {"error": "Not found"}, path
    assert sandbox.state.wistia.jobs == {}


# ----- jobs -----
def test_job_goes_queued_started_finished(sandbox: SandboxServer) -> None:
    sandbox.state.wistia.config.queued_fraction = 0.5
    job_id = sandbox.state.wistia.create_job(duration=0.8)
    assert job_id == FIRST_ID
    created = sandbox.state.wistia.jobs[job_id].created
    seen = []
    for wake in (0.0, 0.6, 0.9):
        time.sleep(max(0.0, wake - (time.monotonic() - created)))
        seen.append(status(sandbox, job_id))
    assert seen == ["queued", "started", "finished"]


def test_failed_and_unknown_status_jobs(sandbox: SandboxServer) -> None:
    wistia = sandbox.state.wistia
    failed = wistia.create_job(outcome="failed", duration=0)
    wistia.config.queued_fraction = 0
    paused = wistia.create_job(duration=5, unknown_status="paused")
    assert (failed, paused) == (FIRST_ID, FIRST_ID + 1)
    assert status(sandbox, failed) == "failed"
    assert status(sandbox, paused) == "paused"
    with pytest.raises(ValueError):
        wistia.create_job(outcome="completed")


@pytest.mark.parametrize("job_id", ["999", str(FIRST_ID), "abc", "-1"])
def test_unknown_job_answers_404_with_empty_body(sandbox: SandboxServer, job_id: str) -> None:
    response = api(sandbox, "GET", f"/background_job_status/{job_id}")
    assert response.status_code == 404 and response.content == b""


# ----- job-creating calls -----
FOLDER = {"type": "Project", "name": "Folder f1", "hashedId": "f1"}
AB, F1, URL = ["a", "b"], {"hashed_ids": ["a"], "folder_id": "f1"}, "https://example.com/v.mp4"
CALLS: list[tuple[str, str, Any, int, int]] = [
    ("POST", "/taggings/bulk_create", {"hashed_ids": AB, "tag_names": ["x", "y", "z"]}, 200, 2),
    ("POST", "/medias/m1/trims", {"trims": ["00:00:01.000-00:00:05.500"], "keep_trims": True}, 200, 1),
    ("PUT", "/medias/archive", {"hashed_ids": ["a", "b", "c"]}, 200, 3),
    ("PUT", "/medias/restore", F1, 200, 1),
    ("PUT", "/medias/move", {"hashed_ids": AB, "folder_id": "f1", "subfolder_id": "s1"}, 200, 2),
    ("PUT", "/medias/copy", F1, 200, 1),
    ("PUT", "/medias/m1/swap", {"replacement_media_id": "m2"}, 200, 1),
    ("POST", "/medias/m1/translate", {"target_language": "fr", "source_language": "en"}, 201, 1),
    ("POST", "/medias/import_url", {"url": URL, "folder_id": "f1"}, 201, 1),
    ("POST", "/folders/f1/copy", None, 202, 1),
    ("POST", "/folders/f2/copy", {"adminEmail": "a@example.com"}, 202, 1),
    ("DELETE", "/folders/f1/subfolders/bulk_delete", {"hashed_ids": ["s1", "s2"]}, 200, 2),
]
ANSWERS: dict[str, dict[str, Any]] = {
    "/taggings/bulk_create": {"message": "Tagging 2 media with 3 tags"},
    "/medias/m1/trims": {},
    "/medias/archive": {"message": "Archiving 3 media"},
    "/medias/restore": {"message": "Restoring 1 media to folder f1", "container": FOLDER},
    "/medias/move": {"message": "Moving 2 media to folder f1"},
    "/medias/copy": {"message": "Copying 1 media to folder f1", "destination": FOLDER},
    "/medias/m1/swap": {
        "message": "Swapping media m1 with m2",
        "media": {"hashed_id": "m1", "name": "Media m1"},
    },
    "/medias/m1/translate": {"message": "Translating media m1 into fr"},
    "/medias/import_url": {"message": f"Importing media from {URL}"},
    "/folders/f1/copy": {},
    "/folders/f2/copy": {},
    "/folders/f1/subfolders/bulk_delete": {"message": "Deleting 2 subfolders of folder f1"},
}


@pytest.mark.parametrize(("method", "path", "body", "code", "count"), CALLS)
def test_every_call_creates_a_queued_job(
    sandbox: SandboxServer, method: str, path: str, body: Any, code: int, count: int
) -> None:
    response = api(sandbox, method, path, **({} if body is None else {"json": body}))
    assert response.status_code == code, response.text
    answer = response.json()
    assert answer.pop("background_job_status") == {"id": FIRST_ID, "status": "queued"}
    assert answer == ANSWERS[path]
    submits = sandbox.state.wistia.submits
    assert [(s.method, s.path, s.count, s.job_id, s.body) for s in submits] == [
        (method, f"/wistia{path}", count, FIRST_ID, body or {})
    ]
    time.sleep(0.07)
    assert status(sandbox, FIRST_ID) == "finished"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/taggings/bulk_create", {"hashed_ids": ["a"], "tag_names": [f"t-{JOB_FAIL_MARKER}"]}),
        ("POST", f"/medias/{JOB_FAIL_MARKER}1/trims", {"trims": ["00:00:00.000-00:00:01.000"]}),
        ("PUT", "/medias/move", {"hashed_ids": ["a"], "folder_id": f"x{JOB_FAIL_MARKER}"}),
    ],
)
def test_fail_marker_fails_the_job(sandbox: SandboxServer, method: str, path: str, body: Any) -> None:
    response = api(sandbox, method, path, json=body)
    job = response.json()["background_job_status"]
    assert job["status"] == "queued"
    time.sleep(0.07)
    assert status(sandbox, job["id"]) == "failed"


FORMAT = "HH:MM:SS.mmm-HH:MM:SS.mmm"
NOT_LIST = f'must be a non-empty list of "{FORMAT}" ranges'
T1, LATE, BACK = "00:00:01.000-00:00:02.000", "00:20:00.000-00:30:00.000", "00:00:09.000-00:00:03.000"


@pytest.mark.parametrize(
    ("trims", "messages"),
    [
        (["0:00:01-0:00:02"], [f"0:00:01-0:00:02 is not in the format {FORMAT}"]),
        (["00:00:05.000-00:00:05.000"], ["00:00:05.000-00:00:05.000 starts at or after its end"]),
        ([LATE], [f"{LATE} ends after the media (00:10:00.000)"]),
        ([T1, BACK, "bad"], [f"{BACK} starts at or after its end", f"bad is not in the format {FORMAT}"]),
        ([], [NOT_LIST]),
        (None, [NOT_LIST]),
        ([1], [NOT_LIST]),
    ],
)
def test_bad_trims_answer_422(sandbox: SandboxServer, trims: Any, messages: list[str]) -> None:
    response = api(sandbox, "POST", "/medias/m/trims", json={} if trims is None else {"trims": trims})
    assert response.status_code == 422 and response.json() == {"errors": {"trims": messages}}
    assert sandbox.state.wistia.jobs == {} and sandbox.state.wistia.submits == []


BLANK, IDS, TAGS = (
    "can't be blank",
    "must be a non-empty list of hashed ids",
    "must be a non-empty list of tag names",
)
A101 = ["a"] * 101
TOO_MANY = "You can only {} 100 or less media at one time."
REFUSED: list[tuple[str, str, Any, str | None, str]] = [
    ("POST", "/medias/m/trims", {"trims": [T1], "keep_trims": "y"}, "keep_trims", "must be true or false"),
    ("PUT", "/medias/restore", {"hashed_ids": ["a"], "folder_id": " "}, "folder_id", BLANK),
    ("PUT", "/medias/copy", {"hashed_ids": ["a"]}, "folder_id", BLANK),
    ("PUT", "/medias/m/swap", {}, "replacement_media_id", BLANK),
    ("POST", "/medias/m/translate", {"source_language": "en"}, "target_language", BLANK),
    ("POST", "/medias/import_url", {"url": ""}, "url", BLANK),
    ("PUT", "/medias/archive", {"hashed_ids": []}, "hashed_ids", IDS),
    ("PUT", "/medias/archive", {"hashed_ids": "a"}, "hashed_ids", IDS),
    ("DELETE", "/folders/1/subfolders/bulk_delete", {}, "hashed_ids", IDS),
    ("POST", "/taggings/bulk_create", {"hashed_ids": ["a"], "tag_names": [""]}, "tag_names", TAGS),
    ("PUT", "/medias/archive", {"hashed_ids": A101}, None, TOO_MANY.format("archive")),
    ("PUT", "/medias/restore", {"hashed_ids": A101, "folder_id": "f"}, None, TOO_MANY.format("restore")),
]


@pytest.mark.parametrize(("method", "path", "body", "field", "message"), REFUSED)
def test_invalid_bodies_answer_422_and_create_nothing(
    sandbox: SandboxServer, method: str, path: str, body: Any, field: str | None, message: str
) -> None:
    response = api(sandbox, method, path, json=body)
    assert response.status_code == 422
    assert response.json() == {"errors": [message] if field is None else {field: [message]}}
    assert sandbox.state.wistia.jobs == {} and sandbox.state.wistia.submits == []


def test_non_json_body_answers_400(sandbox: SandboxServer) -> None:
    response = api(sandbox, "PUT", "/medias/archive", data="{not json")
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
    listed = api(sandbox, "PUT", "/medias/archive", json=["a"])
    assert listed.status_code == 400 and set(listed.json()) == {"error"}
    assert sandbox.state.wistia.submits == []


# ----- move: 400, 207, rate limit -----
def test_move_of_more_than_100_media_answers_400(sandbox: SandboxServer) -> None:
    response = api(sandbox, "PUT", "/medias/move", json={"hashed_ids": ["a"] * 101, "folder_id": "f"})
    assert response.status_code == 400
    assert response.json() == {"error": "You can only request to move 100 or less media at one time."}
    assert sandbox.state.wistia.jobs == {}


def test_move_with_missing_media_answers_207(sandbox: SandboxServer) -> None:
    sandbox.state.wistia.config.missing_media = {"gone1"}
    ids = ["a", "xmissingx", "b", "gone1"]
    response = api(sandbox, "PUT", "/medias/move", json={"hashed_ids": ids, "folder_id": "f"})
    assert response.status_code == 207
    body = response.json()
    assert body["partial_errors"] == [
        {"media_id": "xmissingx", "error": "Media not found"},
        {"media_id": "gone1", "error": "Media not found"},
    ]
    assert body["message"] == "Moving 2 media to folder f"
    assert body["background_job_status"] == {"id": FIRST_ID, "status": "queued"}
    assert [s.count for s in sandbox.state.wistia.submits] == [4]


def test_move_rate_limit(sandbox: SandboxServer) -> None:
    wistia = sandbox.state.wistia
    wistia.config.move_limit, wistia.config.move_period = 2, 2
    move = {"hashed_ids": ["a"], "folder_id": "f"}
    started = time.monotonic()
    assert [api(sandbox, "PUT", "/medias/move", json=move).status_code for _ in range(2)] == [200, 200]
    for body in (move, {}):  # checked before the body
        refused = api(sandbox, "PUT", "/medias/move", json=body)
        assert refused.status_code == 429 and refused.headers["Retry-After"] in ("1", "2")
        assert refused.json() == {"error": "Rate limit exceeded for media moves: 2 requests per 2 seconds"}
    assert len(wistia.jobs) == 2 and len(wistia.submits) == 2
    assert api(sandbox, "PUT", "/medias/archive", json={"hashed_ids": ["a"]}).status_code == 200
    time.sleep(max(0.0, started + 2.05 - time.monotonic()))
    assert api(sandbox, "PUT", "/medias/move", json=move).status_code == 200
    assert len(wistia.submits) == 4


# ----- the account rate limit -----
@pytest.mark.parametrize(("code", "text"), [(429, False), (503, False), (429, True)])
def test_account_rate_limit(sandbox: SandboxServer, code: int, text: bool) -> None:
    config = sandbox.state.wistia.config
    config.requests_per_minute, config.rate_limit_status, config.rate_limit_text = 2, code, text
    assert api(sandbox, "GET", "/account", headers={"Authorization": "Bearer x"}).status_code == 401
    assert [api(sandbox, "GET", "/account").status_code for _ in range(2)] == [200, 200]
    limited = api(sandbox, "PUT", "/medias/archive", json={"hashed_ids": ["a"]})
    assert limited.status_code == code and 1 <= int(limited.headers["Retry-After"]) <= 60
    if text:
        assert limited.headers["Content-Type"].startswith("text/plain")
        assert limited.text == "Rate limit exceeded"
    else:
        assert limited.json() == {"error": "Rate limit exceeded"}
    assert sandbox.state.wistia.submits == []


# ----- faults, reset, control routes, command line -----
def test_fault_on_a_wistia_path(sandbox: SandboxServer) -> None:
    job_id = sandbox.state.wistia.create_job()
    sandbox.state.add_fault(path_prefix="/wistia/background_job_status", status=503, retry_after=7)
    response = api(sandbox, "GET", f"/background_job_status/{job_id}")
    assert response.status_code == 503 and response.headers["Retry-After"] == "7"
    assert api(sandbox, "GET", f"/background_job_status/{job_id}").status_code == 200


def test_reset_clears_everything_and_restores_the_config() -> None:
    config = WistiaSandboxConfig(api_token="other", job_seconds=0.5, missing_media={"m"})
    with SandboxServer(wistia=config) as custom:
        wistia = custom.state.wistia
        headers = {"Authorization": "Bearer other"}
        assert api(custom, "PUT", "/medias/archive", json={"hashed_ids": ["a"]}, headers=headers).ok
        wistia.config.job_seconds, wistia.config.max_media = 9, 1
        wistia.config.missing_media.add("n")
        custom.reset()
        restored = wistia.config
        assert (restored.job_seconds, restored.max_media, restored.missing_media) == (0.5, 100, {"m"})
        assert wistia.jobs == {} and wistia.submits == [] and wistia.api_versions == []
        assert wistia.create_job() == FIRST_ID
    assert config.missing_media == {"m"}
    with pytest.raises(ValueError):
        SandboxServer(state=SandboxState(), wistia=WistiaSandboxConfig())


def test_http_control_routes(sandbox: SandboxServer) -> None:
    def control(path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(f"{sandbox.url}/_sandbox/wistia{path}", json=body, timeout=5)

    config = control("/config", {"job_seconds": 7, "missing_media": ["z", "y"], "move_limit": 3}).json()
    assert (config["job_seconds"], config["missing_media"], config["move_limit"]) == (7, ["y", "z"], 3)
    assert "api_token" not in config and sandbox.state.wistia.config.missing_media == {"y", "z"}
    assert control("/config", {"nope": 1}).status_code == 400
    job_id = control("/jobs", {"outcome": "failed", "duration": 0}).json()["id"]
    assert job_id == FIRST_ID and status(sandbox, job_id) == "failed"
    assert control("/jobs", {"outcome": "exploded"}).status_code == 400
    api(sandbox, "POST", "/medias/import_url", json={"url": "u"})
    listed = requests.get(f"{sandbox.url}/_sandbox/wistia/jobs", timeout=5).json()
    assert listed["jobs"] == [{"id": FIRST_ID, "status": "failed"}, {"id": FIRST_ID + 1, "status": "queued"}]
    submit = {"method": "POST", "path": "/wistia/medias/import_url", "count": 1, "job_id": FIRST_ID + 1}
    assert listed["submits"] == [{**submit, "body": {"url": "u"}}]


def test_python_dash_m_prints_the_wistia_token() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_jobstatus.sandbox", "--port", "0", "--job-seconds", "0.5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().rsplit(" ", 1)[1]
        process.stdout.readline()  # the Zendesk line
        wistia_line = process.stdout.readline()
        assert f"{url}/wistia" in wistia_line and TOKEN in wistia_line
        response = requests.get(f"{url}/wistia/account", headers=HEADERS, timeout=5)
        assert response.status_code == 200
        assert requests.post(f"{url}/_sandbox/wistia/config", timeout=5).json()["job_seconds"] == 0.5
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
