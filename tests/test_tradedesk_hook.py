"""TradeDeskHook against the running sandbox, over real HTTP: each job kind, each submit, result download."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CANARY_TOKEN, tradedesk_connection

from airflow_jobstatus.core.models import JobState
from airflow_jobstatus.core.results import ResultTooLarge
from airflow_jobstatus.errors import (
    ConfigurationError,
    JobNotFoundError,
    NoJobCreated,
    PermanentVendorError,
    VendorAuthError,
)
from airflow_jobstatus.hooks.tradedesk import TradeDeskHook
from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.sandbox.tradedesk_jobs import result_sha256, result_size, result_text


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("graphql", "/tradedesk/graphqlbulkjob/"),
        ("standard", "/tradedesk/standardjob/"),
        ("legacy", "/tradedesk/bulkjob/"),
    ],
)
def test_each_job_kind_reads_on_its_path(
    sandbox: SandboxServer, tradedesk_conn: str, kind: str, path: str
) -> None:
    job_id = sandbox.state.tradedesk.create_job(kind=kind, duration=0)
    job = TradeDeskHook(tradedesk_conn, job_kind=kind).get_job(job_id)
    assert (job.id, job.state, job.vendor_status, job.percent) == (
        job_id,
        JobState.SUCCEEDED,
        "Success",
        100.0,
    )
    assert job.raw_result == result_text(2000) and job.result_url
    assert job.extra == {"job_kind": kind}
    assert sandbox.state.count(method="GET", path_prefix=path) == 1
    assert {r.auth for r in sandbox.state.requests} == {"ttd-auth"}


async def test_async_reads_and_snake_case_answers(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    tradedesk = sandbox.state.tradedesk
    tradedesk.config.snake_case = True
    ids = [tradedesk.create_job(duration=60), tradedesk.create_job(outcome="PartialSuccess", duration=0)]
    jobs = await TradeDeskHook(tradedesk_conn).aget_jobs(ids)
    assert [job.state for job in jobs] == [JobState.RUNNING, JobState.PARTIAL]
    assert jobs[0].percent is not None and jobs[0].percent < 100
    assert jobs[1].errors and jobs[1].created_at is not None


def test_the_wrong_kind_is_not_found_naming_it(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    job_id = sandbox.state.tradedesk.create_job(kind="legacy", duration=0)
    with pytest.raises(JobNotFoundError, match=rf"does not know job {job_id}.*another job kind \(job_kind\)"):
        TradeDeskHook(tradedesk_conn, job_kind="standard").get_job(job_id)


def test_results_expired_is_a_terminal_state(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    job_id = sandbox.state.tradedesk.create_job(duration=0, expires_after=0)
    job = TradeDeskHook(tradedesk_conn).get_job(job_id)
    assert (job.state, job.result_url, job.raw_result) == (JobState.EXPIRED, None, None)


def test_a_rejected_token_is_reported_clearly(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TTD_BAD", tradedesk_connection(sandbox.url, password="wrong-" + CANARY_TOKEN)
    )
    with pytest.raises(VendorAuthError) as raised:
        TradeDeskHook("ttd_bad").get_job("5000001")
    assert "connection 'ttd_bad' was rejected by The Trade Desk (HTTP 403" in str(raised.value)
    assert CANARY_TOKEN not in str(raised.value)
    ok, message = TradeDeskHook("ttd_bad").test_connection()
    assert not ok and "rejected by The Trade Desk" in message and "check the token" in message


def test_test_connection(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tradedesk_conn: str
) -> None:
    ok, message = TradeDeskHook(tradedesk_conn).test_connection()
    assert ok and f"{sandbox.url}/tradedesk" in message
    monkeypatch.setenv("AIRFLOW_CONN_TTD_DOWN", tradedesk_connection("http://127.0.0.1:9"))
    ok, message = TradeDeskHook("ttd_down").test_connection()
    assert not ok and "could not reach The Trade Desk" in message


def test_graphql_submit_returns_the_queued_job(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    hook = TradeDeskHook(tradedesk_conn, job_kind="graphql")
    job = hook.submit_graphql_query(
        "query { advertisers { nodes { id } } }", callback_url="https://cb.example.com"
    )
    (submit,) = sandbox.state.tradedesk.submits
    assert (submit.method, submit.path, submit.kind, submit.job_id) == (
        "POST",
        "/tradedesk/graphqlbulkqueryjob",
        "graphql",
        job.id,
    )
    assert submit.body["callbackInput"] == {"callbackUrl": "https://cb.example.com"}
    assert job.state is JobState.QUEUED
    assert hook.get_job(job.id).id == job.id


def test_graphql_errors_in_a_200_answer_are_a_failure_showing_them(
    sandbox: SandboxServer, tradedesk_conn: str
) -> None:
    with pytest.raises(PermanentVendorError, match=r"refused the GraphQL bulk query: query: Syntax Error"):
        TradeDeskHook(tradedesk_conn).submit_graphql_query("query { sandbox:gql-error }")
    assert sandbox.state.tradedesk.submits == []


STANDARD: list[tuple[str, dict[str, Any], str, str]] = [
    ("first_party_data", {"advertiserId": "adv1"}, "POST", "/tradedesk/standardjob/firstpartydata"),
    ("third_party_data", {"partnerId": "p1"}, "POST", "/tradedesk/standardjob/thirdpartydata"),
    ("campaign_create", {"input": [{"name": "Q4"}]}, "POST", "/tradedesk/standardjob/campaign/bulk"),
    (
        "campaign_update",
        {"input": [{"id": "c1", "name": "Q4"}]},
        "PATCH",
        "/tradedesk/standardjob/campaign/bulk",
    ),
    ("ad_group_create", {"input": [{"name": "g"}]}, "POST", "/tradedesk/standardjob/adgroup/bulk"),
    ("ad_group_update", {"input": [{"id": "g1"}]}, "PATCH", "/tradedesk/standardjob/adgroup/bulk"),
]


@pytest.mark.parametrize(("kind", "payload", "method", "path"), STANDARD, ids=[s[0] for s in STANDARD])
def test_every_standard_submit_starts_one_job(
    sandbox: SandboxServer, tradedesk_conn: str, kind: str, payload: dict[str, Any], method: str, path: str
) -> None:
    hook = TradeDeskHook(tradedesk_conn)
    job = hook.submit_standard_job(kind, payload)
    (submit,) = sandbox.state.tradedesk.submits
    assert (submit.method, submit.path, submit.body, submit.job_id) == (method, path, payload, job.id)
    assert hook.get_job(job.id).state in (JobState.RUNNING, JobState.SUCCEEDED)


def test_a_validate_only_update_answers_without_a_job(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    with pytest.raises(NoJobCreated) as raised:
        TradeDeskHook(tradedesk_conn).submit_standard_job(
            "campaign_update", {"input": [{"id": "c1"}], "validateInputOnly": True}
        )
    assert raised.value.payload["data"]["campaigns"] == [{"id": "c1"}]
    assert sandbox.state.tradedesk.submits == []


def test_bad_input_fails_before_any_request(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    hook = TradeDeskHook(tradedesk_conn)
    with pytest.raises(ConfigurationError, match=r"payload\.advertiserId is required"):
        hook.submit_standard_job("first_party_data", {"advertiser_id": "a"})
    with pytest.raises(ConfigurationError, match="kind must be one of first_party_data"):
        hook.submit_standard_job("campaigns", {})
    with pytest.raises(
        ConfigurationError, match="'abc' is not a job id of The Trade Desk: it must be digits"
    ):
        hook.get_job("abc")
    assert sandbox.state.requests == []


def test_a_400_shows_the_problem_details(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    with pytest.raises(PermanentVendorError) as raised:
        TradeDeskHook(tradedesk_conn).submit_request(
            "POST", "/standardjob/firstpartydata", {}, "a first-party data job"
        )
    assert raised.value.status == 400
    assert "refused a first-party data job (POST /standardjob/firstpartydata, HTTP 400): " in str(
        raised.value
    )
    assert "advertiserId is required" in str(raised.value)


def test_download_streams_to_a_file_without_the_token(
    sandbox: SandboxServer, tradedesk_conn: str, tmp_path: Path
) -> None:
    size = 3_000_000  # above raw_result_limit below: only a link
    sandbox.state.tradedesk.config.raw_result_limit = 1000
    hook = TradeDeskHook(tradedesk_conn)
    job = hook.get_job(sandbox.state.tradedesk.create_job(duration=0, result_bytes=size))
    assert job.raw_result is None and job.result_url
    target = tmp_path / "nested" / "result.json"
    stored = hook.download_result(job, str(target))
    assert stored == {"path": f"file://{target}", "size": result_size(size), "sha256": result_sha256(size)}
    assert target.stat().st_size == result_size(size)
    assert sandbox.state.tradedesk.auth_leaks == []  # the result route refuses a request carrying TTD-Auth
    assert sandbox.state.tradedesk.downloads == [job.id]
    with pytest.raises(ResultTooLarge, match="set output_path"):
        hook.download_result(job)  # no output_path: too big for XCom


def test_a_result_sent_compressed_is_stored_as_the_document(
    sandbox: SandboxServer, tradedesk_conn: str, tmp_path: Path
) -> None:
    # An object store sends an object stored compressed with Content-Encoding: gzip whatever the client
    # asked: its Content-Length then counts the compressed bytes, not the document's.
    size = 400_000
    sandbox.state.tradedesk.config.raw_result_limit = 1000
    sandbox.state.tradedesk.config.gzip_downloads = True
    hook = TradeDeskHook(tradedesk_conn)
    job = hook.get_job(sandbox.state.tradedesk.create_job(duration=0, result_bytes=size))
    target = tmp_path / "result.json"
    stored = hook.download_result(job, str(target))
    assert stored == {"path": f"file://{target}", "size": result_size(size), "sha256": result_sha256(size)}
    assert target.read_text() == result_text(size)
    assert hook.download_result(job, inline_limit=1_000_000) == json.loads(result_text(size))


def test_small_results_come_back_parsed(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    hook = TradeDeskHook(tradedesk_conn)
    job = hook.get_job(sandbox.state.tradedesk.create_job(duration=0, result_bytes=500))
    result = hook.download_result(job)
    assert result == json.loads(result_text(500))
    assert sandbox.state.tradedesk.downloads == []  # inline: no download
    link_only = job.model_copy(update={"raw_result": None})
    assert hook.download_result(link_only) == result
    assert sandbox.state.tradedesk.downloads == [job.id]
