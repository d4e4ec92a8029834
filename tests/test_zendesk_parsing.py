"""Zendesk job status parsing, on the payload shapes of Zendesk's documentation."""

from __future__ import annotations

import logging

import pytest

from airflow_jobstatus.core.models import JobState
from airflow_jobstatus.errors import VendorResponseError
from airflow_jobstatus.hooks.zendesk import parse_job, parse_jobs_payload

# The older reference's example: the bare job object, update results with title and an empty "errors".
BARE_COMPLETED = {
    "id": "8b726e606741012ffc2d782bcb7848fe",
    "url": "https://company.zendesk.com/api/v2/job_statuses/8b726e606741012ffc2d782bcb7848fe.json",
    "total": 2,
    "progress": 2,
    "status": "completed",
    "message": "Completed at Fri Apr 13 02:51:53 +0000 2012",
    "results": [
        {
            "title": "I accidentally the whole bottle",
            "action": "update",
            "errors": "",
            "id": 380,
            "success": True,
            "status": "Updated",
        },
        {
            "title": "Printer on fire",
            "action": "update",
            "errors": "",
            "id": 90,
            "success": True,
            "status": "Updated",
        },
    ],
}

# The current reference's example: the job_status envelope.
ENVELOPED_COMPLETED = {
    "job_status": {
        "id": "82de0b044094f0c67893ac9fe64f1a99",
        "message": "Completed at 2018-03-08 10:07:04 +0000",
        "progress": 2,
        "results": [
            {"action": "update", "id": 244, "status": "Updated", "success": True},
            {"action": "update", "id": 245, "status": "Updated", "success": True},
        ],
        "status": "completed",
        "total": 2,
        "url": "https://example.zendesk.com/api/v2/job_statuses/82de0b044094f0c67893ac9fe64f1a99.json",
        "job_type": "ThirdPartyTicketImport",
    }
}


def test_bare_and_enveloped_payloads_parse_the_same_way() -> None:
    bare = parse_job(BARE_COMPLETED)
    wrapped = parse_job(ENVELOPED_COMPLETED)
    assert bare.id == "8b726e606741012ffc2d782bcb7848fe"
    assert wrapped.id == "82de0b044094f0c67893ac9fe64f1a99"
    for job in (bare, wrapped):
        assert job.vendor == "zendesk"
        assert job.state is JobState.SUCCEEDED
        assert job.vendor_status == "completed"
        assert (job.progress, job.total, job.percent) == (2, 2, 100.0)
        assert [item.success for item in job.results] == [True, True]
        assert job.failed_items == []
    assert bare.results[0].extra == {"title": "I accidentally the whole bottle"}
    assert bare.results[0].error is None  # "errors": "" is no error
    assert bare.result_url and bare.result_url.endswith(".json")
    assert bare.progress_text() == "2/2 (100%)"


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("queued", JobState.QUEUED),
        ("working", JobState.RUNNING),
        ("completed", JobState.SUCCEEDED),
        ("failed", JobState.FAILED),
        ("killed", JobState.CANCELLED),
    ],
)
def test_every_documented_status_maps(status: str, state: JobState) -> None:
    job = parse_job({"id": "a1", "status": status})
    assert job.state is state
    assert job.state.is_terminal == (status not in ("queued", "working"))


def test_unknown_status_keeps_running_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        first = parse_job({"id": "a1", "status": "paused-by-zendesk-xyz"})
        parse_job({"id": "a2", "status": "paused-by-zendesk-xyz"})
    assert first.state is JobState.RUNNING
    assert first.vendor_status == "paused-by-zendesk-xyz"
    warnings = [r for r in caplog.records if "paused-by-zendesk-xyz" in r.getMessage()]
    assert len(warnings) == 1


def test_running_job_with_missing_optional_fields() -> None:
    job = parse_job(
        {
            "job_status": {
                "id": "b2",
                "status": "working",
                "url": None,
                "total": None,
                "progress": None,
                "message": None,
                "results": None,
            }
        }
    )
    assert job.state is JobState.RUNNING
    assert (job.progress, job.total, job.percent, job.results) == (None, None, None, [])
    assert job.progress_text() == "working"


def test_progress_text_while_working() -> None:
    job = parse_job({"id": "c3", "status": "working", "total": 1000, "progress": 412})
    assert job.progress_text() == "412/1000 (41%)"
    assert job.percent == 41.2


def test_create_results_shape() -> None:
    job = parse_job(
        {
            "id": "d4",
            "status": "completed",
            "total": 2,
            "progress": 2,
            "results": [{"id": 244, "index": 0}, {"id": 245, "index": 1}],
        }
    )
    assert job.state is JobState.SUCCEEDED
    assert [(item.index, item.id, item.success) for item in job.results] == [(0, 244, True), (1, 245, True)]


def test_users_create_or_update_results_keep_email() -> None:
    job = parse_job(
        {
            "id": "e5",
            "status": "completed",
            "results": [
                {"id": 369731992959, "status": "Updated", "email": "a@example.com"},
                {"id": 369731992960, "status": "Created", "email": "b@example.com"},
            ],
        }
    )
    assert [item.status for item in job.results] == ["Updated", "Created"]
    assert job.results[1].extra == {"email": "b@example.com"}


def test_completed_job_with_failed_items_is_partial() -> None:
    job = parse_job(
        {
            "job_status": {
                "id": "f6",
                "status": "completed",
                "total": 3,
                "progress": 3,
                "results": [
                    {"id": 90, "action": "update", "success": True, "status": "Updated"},
                    {
                        "index": 1,
                        "id": 12,
                        "error": "TicketUpdateFailed",
                        "details": "Subject: cannot be blank",
                        "success": False,
                    },
                    {"index": 2, "error": "RecordInvalid", "details": "Email: is already being used"},
                ],
            }
        }
    )
    assert job.state is JobState.PARTIAL
    failed = job.failed_items
    assert [(item.index, item.id, item.error) for item in failed] == [
        (1, 12, "TicketUpdateFailed"),
        (2, None, "RecordInvalid"),
    ]
    assert failed[0].describe() == "index 1, id 12: TicketUpdateFailed: Subject: cannot be blank"


def test_a_wait_keeps_only_the_failed_items_of_a_job() -> None:
    payload = {
        "job_status": {
            "id": "f7",
            "status": "completed",
            "total": 3,
            "progress": 3,
            "results": [
                {"id": 90, "action": "update", "success": True, "status": "Updated"},
                {"index": 1, "id": 12, "error": "TicketUpdateFailed", "success": False},
                {"index": 2, "error": "RecordInvalid", "details": "Email: is already being used"},
            ],
        }
    }
    full, waiting = parse_job(payload), parse_job(payload, succeeded_items=False)
    assert waiting.state is full.state is JobState.PARTIAL
    assert waiting.results == full.failed_items == waiting.failed_items
    assert [item.index for item in waiting.results] == [1, 2]
    assert (waiting.progress, waiting.total, waiting.percent) == (3, 3, 100.0)
    all_done = {"id": "f8", "status": "completed", "results": [{"id": 1, "success": True}]}
    assert len(parse_job(all_done).results) == 1
    assert parse_job(all_done, succeeded_items=False).results == []


def test_for_waiting_drops_succeeded_items_and_the_inline_result() -> None:
    job = parse_job(
        {"id": "f9", "status": "completed", "results": [{"id": 1}, {"id": 2, "error": "RecordInvalid"}]}
    ).model_copy(update={"raw_result": '{"data": 1}'})
    slim = job.for_waiting()
    assert [item.id for item in slim.results] == [2]
    assert slim.raw_result is None
    assert (slim.id, slim.state, slim.message) == (job.id, job.state, job.message)
    lean = parse_job({"id": "g0", "status": "working"})
    assert lean.for_waiting() is lean


@pytest.mark.parametrize("results", ["done", [1, 2], [{"id": 1}, "x"]])
def test_results_that_are_not_objects_name_the_field(results: object) -> None:
    payload = {"id": "h1", "status": "completed", "results": results}
    for succeeded_items in (True, False):
        with pytest.raises(VendorResponseError, match="results: expected a list of objects"):
            parse_job(payload, succeeded_items=succeeded_items)


def test_object_results_for_permanent_deletion() -> None:
    job = parse_job({"id": "g7", "status": "completed", "results": {"success": True}})
    assert job.state is JobState.SUCCEEDED
    assert len(job.results) == 1 and job.results[0].success


def test_show_many_payload() -> None:
    jobs = parse_jobs_payload(
        {
            "job_statuses": [
                {"id": "a", "status": "queued"},
                {"id": "b", "status": "completed", "results": []},
            ]
        }
    )
    assert [(job.id, job.state) for job in jobs] == [("a", JobState.QUEUED), ("b", JobState.SUCCEEDED)]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"job_status": {"status": "queued"}}, "id"),
        ({"id": "x", "status": "queued", "total": "many"}, "total"),
        ("<html>oops</html>", "job_status"),
    ],
)
def test_shape_that_fails_validation_names_the_field(payload: object, field: str) -> None:
    with pytest.raises(VendorResponseError, match=field):
        parse_job(payload)


def test_job_dict_is_json_ready() -> None:
    import json

    data = parse_job(ENVELOPED_COMPLETED).to_dict()
    assert json.loads(json.dumps(data))["state"] == "succeeded"
