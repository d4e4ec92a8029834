"""WistiaHook against the running sandbox, over real HTTP: status reads (sync and async) and every submit."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import CANARY_TOKEN, wistia_connection

from airflow_jobstatus.core.models import Job, JobState
from airflow_jobstatus.errors import (
    ConfigurationError,
    JobNotFoundError,
    PermanentVendorError,
    TransientVendorError,
    VendorAuthError,
)
from airflow_jobstatus.hooks.wistia import WistiaHook
from airflow_jobstatus.http.pacing import RequestWindow
from airflow_jobstatus.sandbox import SandboxServer

STATUS = "/wistia/background_job_status/"


def test_get_job_follows_a_job_from_queued_to_finished(sandbox: SandboxServer, wistia_conn: str) -> None:
    job_id = sandbox.state.wistia.create_job(duration=1.5)
    hook = WistiaHook(wistia_conn)
    seen = [hook.get_job(str(job_id)).state]
    while seen[-1] is not JobState.SUCCEEDED:
        time.sleep(0.1)
        seen.append(hook.get_job(str(job_id)).state)
    assert seen[0] is JobState.QUEUED
    assert JobState.RUNNING in seen
    assert hook.get_job(str(job_id)).vendor_status == "finished"
    assert sandbox.state.wistia.api_versions[-1] == "2026-03"
    assert {r.auth for r in sandbox.state.requests if r.path.startswith(STATUS)} == {"bearer"}


def test_failed_job_and_several_ids_in_order(sandbox: SandboxServer, wistia_conn: str) -> None:
    wistia = sandbox.state.wistia
    ids = [str(wistia.create_job(duration=0)), str(wistia.create_job(outcome="failed", duration=0))]
    jobs = WistiaHook(wistia_conn).get_jobs(list(reversed(ids)))
    assert [(job.id, job.state) for job in jobs] == [(ids[1], JobState.FAILED), (ids[0], JobState.SUCCEEDED)]
    assert sandbox.state.count(method="GET", path_prefix=STATUS) == 2  # one call per job: no batch read


async def test_aget_jobs_reads_each_job(sandbox: SandboxServer, wistia_conn: str) -> None:
    wistia = sandbox.state.wistia
    wistia.config.queued_fraction = 0.0
    ids = [
        str(wistia.create_job(duration=0)),
        str(wistia.create_job(duration=60, unknown_status="rendering")),
    ]
    jobs = await WistiaHook(wistia_conn).aget_jobs(ids)
    assert [(job.state, job.vendor_status) for job in jobs] == [
        (JobState.SUCCEEDED, "finished"),
        (JobState.RUNNING, "rendering"),
    ]


def test_unknown_job_is_not_found_naming_it(sandbox: SandboxServer, wistia_conn: str) -> None:
    with pytest.raises(JobNotFoundError, match="Wistia does not know job 999") as raised:
        WistiaHook(wistia_conn).get_job("999")
    assert raised.value.job_ids == ["999"]
    assert sandbox.state.count(path_prefix=STATUS) == 1  # a 404 is not retried


def test_a_non_integer_job_id_fails_before_any_request(sandbox: SandboxServer, wistia_conn: str) -> None:
    with pytest.raises(ConfigurationError, match="'abc' is not a job id of Wistia: it must be digits"):
        WistiaHook(wistia_conn).get_job("abc")
    assert sandbox.state.requests == []


def test_api_version_from_the_connection_is_sent(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WI_V", wistia_connection(sandbox.url, extra={"api_version": "2026-01"}))
    WistiaHook("wi_v").get_job(str(sandbox.state.wistia.create_job(duration=0)))
    assert sandbox.state.wistia.api_versions == ["2026-01"]


def test_a_rejected_token_says_what_to_fix_without_the_token(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_WI_BAD", wistia_connection(sandbox.url, password="wrong-" + CANARY_TOKEN)
    )
    with pytest.raises(VendorAuthError) as raised:
        WistiaHook("wi_bad").get_job("1")
    assert "connection 'wi_bad' was rejected by Wistia (HTTP 401" in str(raised.value)
    assert "Invalid credentials." in str(raised.value)
    assert CANARY_TOKEN not in str(raised.value)


def test_test_connection_tells_a_bad_token_from_a_network_problem(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, wistia_conn: str
) -> None:
    ok, message = WistiaHook(wistia_conn).test_connection()
    assert ok and f"{sandbox.url}/wistia" in message
    assert sandbox.state.count(method="GET", path_prefix="/wistia/account") == 1

    monkeypatch.setenv("AIRFLOW_CONN_WI_BAD", wistia_connection(sandbox.url, password="not-the-token"))
    ok, message = WistiaHook("wi_bad").test_connection()
    assert not ok and "rejected by Wistia (HTTP 401" in message and "check the token" in message

    monkeypatch.setenv("AIRFLOW_CONN_WI_DOWN", wistia_connection("http://127.0.0.1:9"))
    ok, message = WistiaHook("wi_down").test_connection()
    assert not ok and "could not reach Wistia" in message and "check the host" in message

    monkeypatch.setenv("AIRFLOW_CONN_WI_NONE", wistia_connection(sandbox.url, password=""))
    ok, message = WistiaHook("wi_none").test_connection()
    assert not ok and "has no API token" in message


SUBMITS: list[tuple[str, Callable[[WistiaHook], Job], str, str, dict[str, Any]]] = [
    (
        "bulk_tag",
        lambda h: h.bulk_tag(["a1", "b2"], ["news"]),
        "POST",
        "/wistia/taggings/bulk_create",
        {"hashed_ids": ["a1", "b2"], "tag_names": ["news"]},
    ),
    (
        "trim_media",
        lambda h: h.trim_media("a1", ["00:00:01.000-00:00:04.000"], keep_trims=False),
        "POST",
        "/wistia/medias/a1/trims",
        {"trims": ["00:00:01.000-00:00:04.000"], "keep_trims": False},
    ),
    (
        "archive_media",
        lambda h: h.archive_media(["a1"]),
        "PUT",
        "/wistia/medias/archive",
        {"hashed_ids": ["a1"]},
    ),
    (
        "restore_media",
        lambda h: h.restore_media(["a1"], "fold1"),
        "PUT",
        "/wistia/medias/restore",
        {"hashed_ids": ["a1"], "folder_id": "fold1"},
    ),
    (
        "move_media",
        lambda h: h.move_media(["a1"], "fold1", "sub1"),
        "PUT",
        "/wistia/medias/move",
        {"hashed_ids": ["a1"], "folder_id": "fold1", "subfolder_id": "sub1"},
    ),
    (
        "copy_media",
        lambda h: h.copy_media(["a1", "b2"], "fold1"),
        "PUT",
        "/wistia/medias/copy",
        {"hashed_ids": ["a1", "b2"], "folder_id": "fold1"},
    ),
    (
        "swap_media",
        lambda h: h.swap_media("a1", "b2"),
        "PUT",
        "/wistia/medias/a1/swap",
        {"replacement_media_id": "b2"},
    ),
    (
        "translate_media",
        lambda h: h.translate_media("a1", "fr"),
        "POST",
        "/wistia/medias/a1/translate",
        {"target_language": "fr"},
    ),
    (
        "import_url",
        lambda h: h.import_url("https://example.com/clip.mp4"),
        "POST",
        "/wistia/medias/import_url",
        {"url": "https://example.com/clip.mp4"},
    ),
    ("copy_folder", lambda h: h.copy_folder("fold1"), "POST", "/wistia/folders/fold1/copy", {}),
    (
        "bulk_delete_subfolders",
        lambda h: h.bulk_delete_subfolders("fold1", ["sub1", "sub2"]),
        "DELETE",
        "/wistia/folders/fold1/subfolders/bulk_delete",
        {"hashed_ids": ["sub1", "sub2"]},
    ),
]


@pytest.mark.parametrize(("name", "call", "method", "path", "body"), SUBMITS, ids=[s[0] for s in SUBMITS])
def test_every_submit_call_creates_one_job(
    sandbox: SandboxServer,
    wistia_conn: str,
    name: str,
    call: Callable[[WistiaHook], Job],
    method: str,
    path: str,
    body: dict[str, Any],
) -> None:
    hook = WistiaHook(wistia_conn)
    job = call(hook)
    (submit,) = sandbox.state.wistia.submits
    assert (submit.method, submit.path, submit.body) == (method, path, body)
    assert job.id == str(submit.job_id)
    assert job.state is JobState.QUEUED
    assert hook.get_job(job.id).id == job.id  # the id reads back through the status call


def test_submit_answers_keep_their_message_and_destination(sandbox: SandboxServer, wistia_conn: str) -> None:
    job = WistiaHook(wistia_conn).copy_media(["a1", "b2"], "fold1")
    assert job.message and "2 media" in job.message
    assert job.extra["destination"]["hashedId"] == "fold1"


def test_a_207_move_returns_its_partial_errors(sandbox: SandboxServer, wistia_conn: str) -> None:
    job = WistiaHook(wistia_conn).move_media(["a1", "missing2", "b3"], "fold1")
    assert [(item.id, item.success, item.error) for item in job.failed_items] == [
        ("missing2", False, "Media not found")
    ]
    assert sandbox.state.count(method="PUT", path_prefix="/wistia/medias/move", status=207) == 1


def test_a_422_names_wistias_field_errors_and_is_sent_once(sandbox: SandboxServer, wistia_conn: str) -> None:
    with pytest.raises(PermanentVendorError) as raised:
        WistiaHook(wistia_conn).trim_media("a1", ["00:20:00.000-00:30:00.000"])
    message = str(raised.value)
    assert raised.value.status == 422
    assert message.startswith("Wistia refused to trim media a1 (POST /medias/a1/trims, HTTP 422): trims: ")
    assert "ends after the media" in message
    assert sandbox.state.count(path_prefix="/wistia/medias") == 1
    assert sandbox.state.wistia.submits == []


@pytest.mark.parametrize("status", [429, 503])
def test_a_rate_limited_submit_is_not_resent(sandbox: SandboxServer, wistia_conn: str, status: int) -> None:
    sandbox.state.wistia.config.requests_per_minute = 1
    sandbox.state.wistia.config.rate_limit_status = status
    hook = WistiaHook(wistia_conn)
    hook.archive_media(["a1"])
    with pytest.raises(TransientVendorError) as raised:
        hook.archive_media(["b2"])
    assert raised.value.status == status and raised.value.retry_after is not None
    assert status in hook.refusal_statuses
    assert sandbox.state.count(method="PUT", path_prefix="/wistia/medias/archive") == 2


def test_moves_are_paced_by_waiting_not_refused(sandbox: SandboxServer, wistia_conn: str) -> None:
    config = sandbox.state.wistia.config
    config.move_limit, config.move_period = 2, 1.5
    hook = WistiaHook(wistia_conn)
    hook.move_window = RequestWindow(2, 1.5, what="Wistia media moves")
    started = time.monotonic()
    jobs = [hook.move_media([f"m{i}"], "fold1") for i in range(3)]
    assert time.monotonic() - started >= 1.4  # the third move waited for the window
    assert len({job.id for job in jobs}) == 3
    assert sandbox.state.count(path_prefix="/wistia/medias/move", status=429) == 0


def test_bad_input_fails_before_any_request(sandbox: SandboxServer, wistia_conn: str) -> None:
    hook = WistiaHook(wistia_conn)
    with pytest.raises(ConfigurationError, match=r"trims\[0\]"):
        hook.trim_media("a1", ["5s-10s"])
    with pytest.raises(ConfigurationError, match="folder_id is required to move media"):
        hook.move_media(["a1"], "")
    assert sandbox.state.requests == []
