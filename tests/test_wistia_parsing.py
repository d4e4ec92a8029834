"""Wistia parsing and input checks on the documented payloads: no HTTP."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from airflow_jobstatus.core.models import JobState
from airflow_jobstatus.errors import ConfigurationError, VendorResponseError
from airflow_jobstatus.hooks.wistia import DEFAULT_BASE_URL, error_text, parse_job, wistia_target
from airflow_jobstatus.hooks.wistia_calls import (
    bulk_delete_subfolders_call,
    bulk_tag_call,
    check_hashed_ids,
    copy_folder_call,
    import_url_call,
    media_bulk_call,
    swap_call,
    translate_call,
    trim_call,
)
from airflow_jobstatus.http.connection import ConnectionFields

#: Seed 000: the job object of POST /taggings/bulk_create.
SEED_TAGGING = {"id": 382476, "status": "started"}
#: Seed 001: the job object of POST /medias/{hashed_id}/trims.
SEED_TRIM = {"id": 980845, "status": "failed"}


def test_seed_tagging_job_is_running() -> None:
    job = parse_job({"background_job_status": SEED_TAGGING, "message": "Tagging 2 media"})
    assert (job.vendor, job.id, job.state, job.vendor_status) == (
        "wistia",
        "382476",
        JobState.RUNNING,
        "started",
    )
    assert job.message == "Tagging 2 media"
    assert job.results == [] and job.extra == {}


def test_seed_trim_job_has_failed() -> None:
    job = parse_job({"background_job_status": SEED_TRIM})
    assert (job.id, job.state, job.vendor_status) == ("980845", JobState.FAILED, "failed")
    assert job.state.is_terminal


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("queued", JobState.QUEUED),
        ("started", JobState.RUNNING),
        ("finished", JobState.SUCCEEDED),
        ("failed", JobState.FAILED),
    ],
)
def test_every_status_maps(status: str, state: JobState) -> None:
    assert parse_job({"background_job_status": {"id": 1, "status": status}}).state is state
    assert parse_job({"id": 1, "status": status}).state is state  # the bare object too


def test_unknown_status_keeps_waiting_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    states = [parse_job({"id": 7, "status": "transcoding-wistia-test"}).state for _ in range(3)]
    assert states == [JobState.RUNNING] * 3
    warnings = [r.getMessage() for r in caplog.records if "transcoding-wistia-test" in r.getMessage()]
    assert len(warnings) == 1 and "treating it as running" in warnings[0]


def test_a_207_answer_keeps_message_partial_errors_and_other_fields() -> None:
    payload = {
        "message": "Moving 3 media",
        "background_job_status": {"id": 5, "status": "queued"},
        "partial_errors": [{"media_id": "gone1", "error": "Media not found"}],
        "destination": {"type": "Project", "name": "Archive", "hashedId": "fold1"},
    }
    job = parse_job(payload)
    assert job.message == "Moving 3 media"
    assert [(item.id, item.success, item.error) for item in job.results] == [
        ("gone1", False, "Media not found")
    ]
    assert job.extra == {"destination": {"type": "Project", "name": "Archive", "hashedId": "fold1"}}


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"background_job_status": {"status": "queued"}}, "id"),
        ({"background_job_status": {"id": 3}}, "status"),
        ({"message": "no job here"}, "id"),
    ],
)
def test_a_status_missing_a_required_field_is_refused(payload: dict[str, Any], where: str) -> None:
    with pytest.raises(VendorResponseError, match=rf"does not fit the documented shape: {where}"):
        parse_job(payload)


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (
            {"errors": {"trims": ["is invalid", "ends after the media"]}},
            "trims: is invalid; ends after the media",
        ),
        ({"errors": ["You can only archive 100 or less media at one time."]}, "You can only archive 100"),
        ({"error": "Invalid credentials."}, "Invalid credentials."),
        ("Rate limit exceeded", None),
        (None, None),
    ],
)
def test_error_text_reads_every_documented_error_shape(payload: Any, text: str | None) -> None:
    result = error_text(payload)
    assert (result is None) if text is None else (result is not None and result.startswith(text))


def fields(**kwargs: Any) -> ConnectionFields:
    kwargs.setdefault("password", "tok")
    return ConnectionFields(conn_id="wistia_default", **kwargs)


def test_connection_defaults_to_the_modern_api_with_a_version_header() -> None:
    target = wistia_target(fields())
    assert target.base_url == DEFAULT_BASE_URL
    assert target.headers == {"Authorization": "Bearer tok"}
    assert target.plain_headers == {"X-Wistia-API-Version": "2026-03"}
    sent = target.headers_for(f"{DEFAULT_BASE_URL}/background_job_status/1")
    assert sent["Authorization"] == "Bearer tok" and sent["X-Wistia-API-Version"] == "2026-03"
    assert "Authorization" not in target.headers_for("https://cdn.example.com/file.mp4")


def test_connection_host_and_api_version_override() -> None:
    target = wistia_target(fields(host="http://127.0.0.1:9/wistia", extra={"api_version": "2026-01"}))
    assert target.base_url == "http://127.0.0.1:9/wistia"
    assert target.url("/account") == "http://127.0.0.1:9/wistia/account"
    assert target.plain_headers["X-Wistia-API-Version"] == "2026-01"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"password": None}, "has no API token: set its password"),
        ({"extra": {"api_version": "v1"}}, "api_version 'v1' must look like 2026-03"),
        ({"host": "http://wistia.example.com"}, "plain http"),
    ],
)
def test_bad_connections_are_refused_before_any_request(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        wistia_target(fields(**kwargs))


def test_every_call_builds_its_documented_request() -> None:
    calls = {
        "tag": bulk_tag_call(["a1", "b2"], ["x"]),
        "trim": trim_call("a1", ["00:00:01.000-00:00:02.500"], keep_trims=True),
        "archive": media_bulk_call("archive", ["a1"]),
        "restore": media_bulk_call("restore", ["a1"], "f1"),
        "move": media_bulk_call("move", ["a1"], "f1", "s1"),
        "copy": media_bulk_call("copy", ["a1"], "f1"),
        "swap": swap_call("a1", "b2"),
        "translate": translate_call("a1", "es", "en"),
        "import": import_url_call("https://example.com/v.mp4", "f1"),
        "copy_folder": copy_folder_call("f1", "admin@example.com"),
        "delete_subfolders": bulk_delete_subfolders_call("f1", ["s1", "s2"]),
    }
    seen = {name: (call.method, call.path, call.body) for name, call in calls.items()}
    assert seen == {
        "tag": ("POST", "/taggings/bulk_create", {"hashed_ids": ["a1", "b2"], "tag_names": ["x"]}),
        "trim": ("POST", "/medias/a1/trims", {"trims": ["00:00:01.000-00:00:02.500"], "keep_trims": True}),
        "archive": ("PUT", "/medias/archive", {"hashed_ids": ["a1"]}),
        "restore": ("PUT", "/medias/restore", {"hashed_ids": ["a1"], "folder_id": "f1"}),
        "move": ("PUT", "/medias/move", {"hashed_ids": ["a1"], "folder_id": "f1", "subfolder_id": "s1"}),
        "copy": ("PUT", "/medias/copy", {"hashed_ids": ["a1"], "folder_id": "f1"}),
        "swap": ("PUT", "/medias/a1/swap", {"replacement_media_id": "b2"}),
        "translate": ("POST", "/medias/a1/translate", {"target_language": "es", "source_language": "en"}),
        "import": ("POST", "/medias/import_url", {"url": "https://example.com/v.mp4", "folder_id": "f1"}),
        "copy_folder": ("POST", "/folders/f1/copy", {"adminEmail": "admin@example.com"}),
        "delete_subfolders": ("DELETE", "/folders/f1/subfolders/bulk_delete", {"hashed_ids": ["s1", "s2"]}),
    }


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: bulk_tag_call("a1", ["x"]), "hashed_ids must be a list of hashed ids, got str"),
        (lambda: bulk_tag_call([], ["x"]), "hashed_ids is empty"),
        (lambda: bulk_tag_call(["a1", "a b"], ["x"]), r"hashed_ids\[1\]: 'a b' is not a Wistia hashed id"),
        (
            lambda: bulk_tag_call(["a1", "a1"], ["x"]),
            r"hashed_ids\[1\]: 'a1' appears twice \(also at \[0\]\)",
        ),
        (lambda: bulk_tag_call(["a1"], []), "tag_names must be a non-empty list"),
        (lambda: bulk_tag_call(["a1"], ["ok", " "]), r"tag_names\[1\] must be a non-blank string"),
        (lambda: trim_call("a1", ["0:01-0:02"]), r"trims\[0\]: '0:01-0:02' is not a range HH:MM:SS.mmm"),
        (lambda: trim_call("a1", ["00:00:09.000-00:00:02.000"]), r"trims\[0\].*ends before it starts"),
        (lambda: trim_call("a1", []), "trims must be a non-empty list"),
        (lambda: media_bulk_call("delete", ["a1"]), "action must be one of"),
        (lambda: media_bulk_call("move", ["a1"]), "folder_id is required to move media"),
        (lambda: media_bulk_call("archive", ["a1"], "f1"), "folder_id does not apply to archive"),
        (lambda: media_bulk_call("copy", ["a1"], "f1", "s1"), "subfolder_id applies to move only"),
        (
            lambda: media_bulk_call("archive", [f"m{i}" for i in range(101)]),
            "101 ids; Wistia takes at most 100",
        ),
        (lambda: import_url_call("ftp://example.com/x"), "not an http\\(s\\) URL"),
        (lambda: swap_call("a1", None), "replacement_media_id must be a Wistia hashed id"),
    ],
)
def test_bad_input_names_the_field_and_the_fix(build: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build()


def test_hashed_ids_accept_a_tuple_and_strip_spaces() -> None:
    assert check_hashed_ids((" a1", "b2 ")) == ["a1", "b2"]


def test_progress_lines_name_a_bare_status_once() -> None:
    from airflow_jobstatus.core.progress import progress_line

    assert progress_line(parse_job(SEED_TAGGING)) == "job 382476: started"
