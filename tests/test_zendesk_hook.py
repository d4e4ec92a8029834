"""ZendeskJobHook against the running sandbox, over real HTTP (sync and async)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import AGENT_EMAIL, CANARY_TOKEN, connection_json, zendesk_connection

from airflow_jobstatus.core.models import JobState
from airflow_jobstatus.errors import JobNotFoundError, TransientVendorError, VendorAuthError
from airflow_jobstatus.hooks.zendesk import ZendeskJobHook
from airflow_jobstatus.http.transport import RetryPolicy
from airflow_jobstatus.sandbox import SandboxServer

SHOW = "/api/v2/job_statuses/"
SHOW_MANY = "/api/v2/job_statuses/show_many"


def finished_job(sandbox: SandboxServer, **kwargs: Any) -> str:
    kwargs.setdefault("duration", 0.0)
    return sandbox.state.zendesk.create_job(**kwargs)


def test_get_job_reads_a_completed_job(sandbox: SandboxServer, zendesk_conn: str) -> None:
    job_id = finished_job(sandbox, total=3)
    job = ZendeskJobHook(zendesk_conn).get_job(job_id)
    assert job.id == job_id
    assert job.state is JobState.SUCCEEDED
    assert (job.progress, job.total) == (3, 3)
    assert len(job.results) == 3 and all(item.success for item in job.results)


def test_get_job_follows_a_running_job(sandbox: SandboxServer, zendesk_conn: str) -> None:
    job_id = sandbox.state.zendesk.create_job(total=10, duration=60, queued_for=0)
    job = ZendeskJobHook(zendesk_conn).get_job(job_id)
    assert job.state is JobState.RUNNING
    assert job.vendor_status == "working"
    assert job.results == []


def test_partial_job_lists_failed_items(sandbox: SandboxServer, zendesk_conn: str) -> None:
    job_id = finished_job(sandbox, total=4, failed_indexes=[1, 3])
    job = ZendeskJobHook(zendesk_conn).get_job(job_id)
    assert job.state is JobState.PARTIAL
    assert [item.index for item in job.failed_items] == [1, 3]
    assert all(item.error for item in job.failed_items)


def test_get_jobs_reads_150_ids_with_two_show_many_calls(sandbox: SandboxServer, zendesk_conn: str) -> None:
    ids = [finished_job(sandbox, total=1) for _ in range(150)]
    jobs = ZendeskJobHook(zendesk_conn).get_jobs(ids)
    assert [job.id for job in jobs] == ids
    assert sandbox.state.count(method="GET", path_prefix=SHOW_MANY) == 2
    assert sandbox.state.count(method="GET", path_prefix="/api/v2/") == 2


async def test_aget_jobs_reads_150_ids_with_two_show_many_calls(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    ids = [finished_job(sandbox, total=1) for _ in range(150)]
    jobs = await ZendeskJobHook(zendesk_conn).aget_jobs(ids)
    assert [job.id for job in jobs] == ids
    assert sandbox.state.count(method="GET", path_prefix=SHOW_MANY) == 2


async def test_aget_job(sandbox: SandboxServer, zendesk_conn: str) -> None:
    job_id = finished_job(sandbox, total=2, outcome="killed")
    job = await ZendeskJobHook(zendesk_conn).aget_job(job_id)
    assert job.state is JobState.CANCELLED
    assert job.message == "Killed by system"


@pytest.mark.parametrize(
    ("fields", "auth_kind"),
    [
        ({"conn_type": "jobstatus_zendesk", "login": AGENT_EMAIL, "password": CANARY_TOKEN}, "token"),
        (
            {
                "conn_type": "zendesk",
                "login": AGENT_EMAIL,
                "password": CANARY_TOKEN,
                "extra": {"use_token": True},
            },
            "token",
        ),
        ({"conn_type": "zendesk", "login": AGENT_EMAIL, "extra": {"token": CANARY_TOKEN}}, "token"),
        ({"conn_type": "zendesk", "login": AGENT_EMAIL, "password": "sandbox-password"}, "password"),
        ({"conn_type": "zendesk", "extra": {"oauth_token": "sandbox-oauth-token"}}, "bearer"),
    ],
    ids=["ours-token", "official-use_token", "official-token-extra", "official-password", "oauth"],
)
def test_each_auth_mode(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], auth_kind: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ZD_AUTH", connection_json(host=sandbox.url, **fields))
    job_id = finished_job(sandbox)
    assert ZendeskJobHook("zd_auth").get_job(job_id).state is JobState.SUCCEEDED
    assert [r.auth for r in sandbox.state.requests if r.path.startswith(SHOW)] == [auth_kind]


def test_bare_subdomain_host_with_port_reaches_the_sandbox(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = sandbox.url.removeprefix("http://").split(":")
    monkeypatch.setenv("AIRFLOW_CONN_ZD_PORT", zendesk_connection(url=host, port=int(port)))
    assert ZendeskJobHook("zd_port").get_job(finished_job(sandbox)).state is JobState.SUCCEEDED


def test_wrong_token_says_what_to_fix_without_the_token(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZD_BAD", zendesk_connection(sandbox.url, password="wrong-" + CANARY_TOKEN)
    )
    with pytest.raises(VendorAuthError) as raised:
        ZendeskJobHook("zd_bad").get_job(finished_job(sandbox))
    message = str(raised.value)
    assert "connection 'zd_bad' was rejected by Zendesk (HTTP 401" in message
    assert "check the token and login" in message
    assert CANARY_TOKEN not in message
    assert sandbox.state.count(path_prefix=SHOW) == 1  # a 401 is not retried


async def test_wrong_token_async(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ZD_BAD", zendesk_connection(sandbox.url, password="nope-nope"))
    with pytest.raises(VendorAuthError, match="rejected by Zendesk"):
        await ZendeskJobHook("zd_bad").aget_job(finished_job(sandbox))


def test_429_retry_after_is_honoured(sandbox: SandboxServer, zendesk_conn: str) -> None:
    job_id = finished_job(sandbox)
    sandbox.state.add_fault(path_prefix=SHOW, method="GET", status=429, retry_after="2", count=1)
    started = time.monotonic()
    job = ZendeskJobHook(zendesk_conn).get_job(job_id)
    assert job.state is JobState.SUCCEEDED
    assert time.monotonic() - started >= 2.0
    assert sandbox.state.count(path_prefix=SHOW, status=429) == 1
    assert sandbox.state.count(path_prefix=SHOW, status=200) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried(sandbox: SandboxServer, zendesk_conn: str, status: int) -> None:
    job_id = finished_job(sandbox)
    sandbox.state.add_fault(
        path_prefix=SHOW, status=status, count=1, body="<html>Bad gateway</html>", content_type="text/html"
    )
    assert ZendeskJobHook(zendesk_conn).get_job(job_id).state is JobState.SUCCEEDED
    assert sandbox.state.count(path_prefix=SHOW) == 2


async def test_5xx_is_retried_async(sandbox: SandboxServer, zendesk_conn: str) -> None:
    job_id = finished_job(sandbox)
    sandbox.state.add_fault(path_prefix=SHOW, status=503, count=1)
    assert (await ZendeskJobHook(zendesk_conn).aget_job(job_id)).state is JobState.SUCCEEDED
    assert sandbox.state.count(path_prefix=SHOW) == 2


def test_persistent_5xx_ends_as_transient_error_after_retries(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    sandbox.state.add_fault(path_prefix=SHOW, status=503, count=None)
    with pytest.raises(TransientVendorError, match="HTTP 503"):
        ZendeskJobHook(zendesk_conn, retry=RetryPolicy(backoff_base=0.05)).get_job(finished_job(sandbox))
    assert sandbox.state.count(path_prefix=SHOW) == 4


def test_unknown_job_is_404_naming_the_id(sandbox: SandboxServer, zendesk_conn: str) -> None:
    with pytest.raises(JobNotFoundError) as raised:
        ZendeskJobHook(zendesk_conn).get_job("0123456789abcdef0123456789abcdef")
    assert raised.value.job_ids == ["0123456789abcdef0123456789abcdef"]
    assert "does not know job 0123456789abcdef0123456789abcdef" in str(raised.value)
    assert "expired" in str(raised.value)


def test_expired_job_in_a_batch_names_only_that_id(sandbox: SandboxServer, zendesk_conn: str) -> None:
    good = finished_job(sandbox)
    gone = finished_job(sandbox, expires_after=0.0)
    with pytest.raises(JobNotFoundError) as raised:
        ZendeskJobHook(zendesk_conn).get_jobs([good, gone])
    assert raised.value.job_ids == [gone]


def test_test_connection_reports_success_and_each_failure(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, zendesk_conn: str
) -> None:
    ok, message = ZendeskJobHook(zendesk_conn).test_connection()
    assert ok and sandbox.url in message

    monkeypatch.setenv("AIRFLOW_CONN_ZD_BAD", zendesk_connection(sandbox.url, password="not-the-token"))
    ok, message = ZendeskJobHook("zd_bad").test_connection()
    assert not ok and "rejected by Zendesk (HTTP 401" in message

    monkeypatch.setenv("AIRFLOW_CONN_ZD_DOWN", zendesk_connection("http://127.0.0.1:9"))
    ok, message = ZendeskJobHook("zd_down").test_connection()
    assert not ok and "could not reach Zendesk" in message and "check the host" in message

    monkeypatch.setenv("AIRFLOW_CONN_ZD_EMPTY", zendesk_connection(""))
    ok, message = ZendeskJobHook("zd_empty").test_connection()
    assert not ok and "host is empty" in message
