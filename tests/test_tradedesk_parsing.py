"""The Trade Desk models, input checks and result writing, on the documented field lists: no HTTP."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from airflow_jobstatus.core.models import JobState
from airflow_jobstatus.core.results import ResultSource, ResultTooLarge, deliver_result, write_chunks
from airflow_jobstatus.errors import ConfigurationError, TransientVendorError, VendorResponseError
from airflow_jobstatus.hooks.tradedesk import ENVIRONMENTS, check_job_kind, tradedesk_target
from airflow_jobstatus.hooks.tradedesk_models import (
    graphql_submit_errors,
    parse_graphql_job,
    parse_job,
    parse_standard_job,
    problem_text,
)
from airflow_jobstatus.hooks.tradedesk_submits import STANDARD_JOBS, check_payload, check_query
from airflow_jobstatus.http.connection import ConnectionFields
from airflow_jobstatus.http.transport import Download, RetryPolicy

STANDARD_CAMEL = {
    "id": 5000001,
    "createdAtUtc": "2026-11-23T05:40:00Z",
    "completedAtUtc": "2026-11-23T05:41:30Z",
    "completionPercentage": 100.0,
    "status": "Success",
    "url": "https://results.example.com/5000001/abc",
    "rawResult": '{"data": {"rows": []}}',
    "errors": None,
}
STANDARD_SNAKE = {
    "id": 5000001,
    "created_at_utc": "2026-11-23T05:40:00Z",
    "completed_at_utc": "2026-11-23T05:41:30Z",
    "completion_percentage": 100.0,
    "status": "Success",
    "url": "https://results.example.com/5000001/abc",
    "raw_result": '{"data": {"rows": []}}',
    "errors": None,
}
GRAPHQL_CAMEL = {
    "id": "9000001",
    "createdAt": "2026-11-23T05:40:00Z",
    "completedAt": None,
    "completionPercentage": 42.5,
    "status": "InProgress",
    "url": None,
    "rawResult": None,
    "queryGqlErrors": None,
    "runtimeErrors": None,
}


@pytest.mark.parametrize("payload", [STANDARD_CAMEL, STANDARD_SNAKE], ids=["camelCase", "snake_case"])
@pytest.mark.parametrize("kind", ["standard", "legacy"])
def test_standard_and_legacy_status_in_both_spellings(payload: dict[str, Any], kind: str) -> None:
    job = parse_job(payload, kind)  # type: ignore[arg-type]
    assert (job.vendor, job.id, job.state, job.vendor_status) == (
        "tradedesk",
        "5000001",
        JobState.SUCCEEDED,
        "Success",
    )
    assert job.percent == 100.0
    assert job.result_url == "https://results.example.com/5000001/abc"
    assert job.raw_result == '{"data": {"rows": []}}'
    assert job.created_at is not None and job.completed_at is not None
    assert (job.completed_at - job.created_at).total_seconds() == 90
    assert job.extra == {"job_kind": kind} and job.errors == []


def test_graphql_job_in_its_envelope_and_bare_in_both_spellings() -> None:
    snake = {
        "id": "9000001",
        "created_at": "2026-11-23T05:40:00Z",
        "completion_percentage": 42.5,
        "status": "InProgress",
        "query_gql_errors": None,
        "runtime_errors": None,
    }
    for payload in ({"job": GRAPHQL_CAMEL, "errors": None}, GRAPHQL_CAMEL, snake):
        job = parse_graphql_job(payload)
        assert (job.id, job.state, job.percent, job.extra) == (
            "9000001",
            JobState.RUNNING,
            42.5,
            {"job_kind": "graphql"},
        )
        assert job.progress_text() == "42.5%"


GRAPHQL_FULL_CAMEL = {
    "id": 9000002,
    "createdAt": "2026-11-23T05:40:00Z",
    "completedAt": "2026-11-23T05:42:30Z",
    "completionPercentage": 100,
    "status": "PartialSuccess",
    "url": "https://results.example.com/9000002/k",
    "rawResult": '{"data": {"advertisers": []}}',
    "queryGqlErrors": ["advertisers.nodes[3].name: not authorized"],
    "runtimeErrors": ["partition 7 timed out"],
}
SNAKE_KEYS = {
    "createdAt": "created_at",
    "completedAt": "completed_at",
    "completionPercentage": "completion_percentage",
    "rawResult": "raw_result",
    "queryGqlErrors": "query_gql_errors",
    "runtimeErrors": "runtime_errors",
}


@pytest.mark.parametrize("spelling", ["camelCase", "snake_case"])
def test_graphql_job_with_every_documented_field(spelling: str) -> None:
    payload = GRAPHQL_FULL_CAMEL
    if spelling == "snake_case":
        payload = {SNAKE_KEYS.get(key, key): value for key, value in GRAPHQL_FULL_CAMEL.items()}
    job = parse_graphql_job({"job": payload})
    assert (job.id, job.state, job.vendor_status, job.percent) == (
        "9000002",
        JobState.PARTIAL,
        "PartialSuccess",
        100.0,
    )
    assert job.created_at is not None and job.completed_at is not None
    assert (job.completed_at - job.created_at).total_seconds() == 150
    assert job.result_url == "https://results.example.com/9000002/k"
    assert job.raw_result == '{"data": {"advertisers": []}}'
    assert job.errors == ["advertisers.nodes[3].name: not authorized", "partition 7 timed out"]
    assert job.extra == {"job_kind": "graphql"}


def test_graphql_errors_are_the_jobs_errors() -> None:
    job = parse_graphql_job(
        {**GRAPHQL_CAMEL, "status": "Failure", "queryGqlErrors": ["bad field"], "runtimeErrors": ["timeout"]}
    )
    assert job.state is JobState.FAILED and job.errors == ["bad field", "timeout"]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("InProgress", JobState.RUNNING),
        ("Success", JobState.SUCCEEDED),
        ("PartialSuccess", JobState.PARTIAL),
        ("Failure", JobState.FAILED),
        ("ResultsExpired", JobState.EXPIRED),
    ],
)
def test_every_workflow_status(status: str, state: JobState) -> None:
    job = parse_standard_job({**STANDARD_CAMEL, "status": status, "errors": "2 rows failed"})
    assert job.state is state and job.errors == ["2 rows failed"]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Queued", JobState.QUEUED),
        ("InProgress", JobState.RUNNING),
        ("Success", JobState.SUCCEEDED),
        ("PartialSuccess", JobState.PARTIAL),
        ("Failure", JobState.FAILED),
        ("Cancelled", JobState.CANCELLED),
    ],
)
def test_every_bulk_job_status(status: str, state: JobState) -> None:
    assert parse_graphql_job({**GRAPHQL_CAMEL, "status": status}).state is state


def test_an_unknown_status_keeps_waiting() -> None:
    assert parse_standard_job({**STANDARD_CAMEL, "status": "Throttled-ttd-test"}).state is JobState.RUNNING


def test_a_status_without_its_required_fields_is_refused_naming_them() -> None:
    with pytest.raises(VendorResponseError, match="does not fit the documented shape: createdAtUtc"):
        parse_standard_job({"id": 1, "status": "Success"})
    with pytest.raises(VendorResponseError, match=r"GraphQL bulk job.*: status"):
        parse_graphql_job({"job": {"id": "1"}})


def test_graphql_submit_answers() -> None:
    created = {"payload": {"data": GRAPHQL_CAMEL, "errors": None}, "errors": None}
    assert graphql_submit_errors(created) == []
    refused = {
        "payload": {
            "data": None,
            "errors": [{"message": "Syntax Error", "field": "query"}, {"message": "x"}],
        },
        "errors": "query rejected",
    }
    assert graphql_submit_errors(refused) == ["query: Syntax Error", "x", "query rejected"]
    assert graphql_submit_errors({"payload": None}) == ["the answer carries neither a job nor an error"]


def test_problem_details_on_one_line() -> None:
    problem = {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "advertiserId is required",
    }
    assert problem_text(problem) == "Bad Request: advertiserId is required"
    assert problem_text("<html>") is None


def fields(**kwargs: Any) -> ConnectionFields:
    kwargs.setdefault("password", "tok")
    return ConnectionFields(conn_id="tradedesk_default", **kwargs)


def test_connection_environments_and_host_override() -> None:
    assert tradedesk_target(fields()).base_url == ENVIRONMENTS["production"]
    sandbox = tradedesk_target(fields(extra={"environment": "sandbox"}))
    assert sandbox.base_url == "https://ext-api.sb.thetradedesk.com/workflows"
    assert sandbox.headers == {"TTD-Auth": "tok"}
    local = tradedesk_target(fields(host="http://127.0.0.1:9/tradedesk", extra={"environment": "sandbox"}))
    assert local.url("/standardjob/1/status") == "http://127.0.0.1:9/tradedesk/standardjob/1/status"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"password": None}, "has no token: set its password to a TTD-Auth token"),
        ({"extra": {"environment": "staging"}}, "environment 'staging' must be 'production' or 'sandbox'"),
    ],
)
def test_bad_connections_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        tradedesk_target(fields(**kwargs))


def test_job_kind_names_the_choices() -> None:
    with pytest.raises(
        ConfigurationError, match="job_kind must be one of graphql, standard, legacy, not 'bulk'"
    ):
        check_job_kind("bulk")


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        ("first_party_data", {"advertiser_id": "a"}, r"payload\.advertiserId is required.*camelCase"),
        ("third_party_data", {"partnerId": " "}, r"payload\.partnerId is required"),
        ("campaign_create", {"input": []}, r"payload\.input must be a non-empty list"),
        ("campaign_create", {"input": ["x"]}, r"payload\.input\[0\] must be an object"),
        ("ad_group_update", {"input": [{"id": "g1"}, {"name": "n"}]}, r"payload\.input\[1\]\.id is required"),
        ("campaign_update", "not json", "payload is text that is not JSON"),
        ("campaign_update", ["x"], "payload must be a JSON object"),
    ],
)
def test_bad_payloads_name_the_field(kind: str, payload: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        check_payload(STANDARD_JOBS[kind], payload)


def test_good_payloads_pass_unchanged_and_json_text_is_read() -> None:
    body = {"input": [{"id": "c1", "name": "Q4"}], "validateInputOnly": True}
    assert check_payload(STANDARD_JOBS["campaign_update"], body) == body
    assert check_payload(STANDARD_JOBS["first_party_data"], '{"advertiserId": "adv1"}') == {
        "advertiserId": "adv1"
    }
    with pytest.raises(ConfigurationError, match="query must be a non-empty GraphQL query"):
        check_query("  ")


def local(tmp_path: Path, name: str) -> Any:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(f"file://{tmp_path / name}")


def test_write_chunks_hashes_and_counts(tmp_path: Path) -> None:
    stored = write_chunks(local(tmp_path, "r.json"), [b'{"a":', b" 1}"], 8)
    assert (stored.size, stored.sha256) == (8, hashlib.sha256(b'{"a": 1}').hexdigest())
    assert (tmp_path / "r.json").read_bytes() == b'{"a": 1}'


def test_a_short_download_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(TransientVendorError, match="ended after 4 of 10 bytes"):
        write_chunks(local(tmp_path, "r.json"), [b"1234"], 10)
    assert not (tmp_path / "r.json").exists()


def test_a_cut_download_leaves_no_file(tmp_path: Path) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"half"
        raise TransientVendorError("cut off")

    with pytest.raises(TransientVendorError, match="cut off"):
        write_chunks(local(tmp_path, "r.json"), chunks(), None)
    assert not (tmp_path / "r.json").exists()


def opener(bodies: list[bytes], sizes: list[int | None]) -> Any:
    calls: list[str] = []

    @contextmanager
    def open_url(url: str) -> Iterator[Download]:
        calls.append(url)
        body, size = bodies.pop(0), sizes.pop(0)
        yield Download(iter([body[i : i + 4] for i in range(0, len(body), 4)]), size)

    open_url.calls = calls  # type: ignore[attr-defined]
    return open_url


def test_deliver_inline_small_result_parsed() -> None:
    source = ResultSource("7", '{"data": {"rows": [1, 2]}}', "https://x/7")
    assert deliver_result(source, opener([], []), output_path=None) == {"data": {"rows": [1, 2]}}


def test_deliver_small_result_by_link_parsed() -> None:
    open_url = opener([b'{"data": 3}'], [11])
    assert deliver_result(ResultSource("7", None, "https://x/7"), open_url, output_path=None) == {"data": 3}
    assert open_url.calls == ["https://x/7"]


def test_deliver_refuses_a_large_result_without_output_path() -> None:
    with pytest.raises(
        ResultTooLarge, match=r"is 5000 bytes, above inline_limit \(100 bytes\).*set output_path"
    ):
        deliver_result(
            ResultSource("7", None, "https://x/7"), opener([b"x"], [5000]), output_path=None, inline_limit=100
        )
    with pytest.raises(ResultTooLarge, match="more than 4 bytes"):
        deliver_result(
            ResultSource("7", None, "https://x/7"),
            opener([b"123456"], [None]),
            output_path=None,
            inline_limit=4,
        )


def test_deliver_to_output_path_retries_a_cut_download(tmp_path: Path) -> None:
    body = json.dumps({"data": list(range(50))}).encode()
    open_url = opener([body[:10], body], [len(body), len(body)])
    target = tmp_path / "out" / "result.json"
    stored = deliver_result(
        ResultSource("7", None, "https://x/7"),
        open_url,
        output_path=str(target),
        retry=RetryPolicy(attempts=2, backoff_base=0.01),
    )
    assert stored == {
        "path": f"file://{target}",
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    assert target.read_bytes() == body and len(open_url.calls) == 2


def test_output_path_must_be_a_url_or_absolute() -> None:
    with pytest.raises(ConfigurationError, match=r"output_path 'out\.json' must be a URL"):
        deliver_result(ResultSource("7", "{}", None), opener([], []), output_path="out.json")
