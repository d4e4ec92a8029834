"""Credentials rotated in the Airflow connection are picked up without a restart, over real HTTP (sandbox).

On a 401/403 from the API host the transport reads the connection again once; if the credentials
changed, the request is sent again once (a submit too), else the VendorAuthError is raised at once.
A poller refreshes once for every wait of its connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import structlog
from conftest import CANARY_TOKEN, wistia_connection, zendesk_connection

from airflow_jobstatus.core.models import JobState
from airflow_jobstatus.errors import PermanentVendorError, VendorAuthError
from airflow_jobstatus.hooks.zendesk import ZendeskJobHook, zendesk_authorization
from airflow_jobstatus.http.connection import ConnectionFields
from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.triggers.job import JobTrigger, WaitEvent
from airflow_jobstatus.triggers.poller import PollerStats, active_pollers, poller_stats

ZENDESK = "airflow_jobstatus.hooks.zendesk.ZendeskJobHook"
WISTIA = "airflow_jobstatus.hooks.wistia.WistiaHook"
SHOW = "/api/v2/job_statuses/"
WISTIA_STATUS = "/wistia/background_job_status/"
#: The token the connection is rotated to: it must never show up either.
ROTATED = "rotated-4b1d9e-never-log-me-either"


def rotate_connection(monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer, token: str) -> None:
    """The Airflow connection ``zendesk_default`` now holds ``token`` (the sandbox still accepts the old)."""
    monkeypatch.setenv("AIRFLOW_CONN_ZENDESK_DEFAULT", zendesk_connection(sandbox.url, password=token))


def zendesk_accepts(sandbox: SandboxServer, token: str) -> None:
    """The sandbox's Zendesk accepts only ``token`` from now on (the old one is revoked)."""
    with sandbox.state.lock:
        sandbox.state.zendesk.config.api_token = token


def statuses(sandbox: SandboxServer, prefix: str) -> list[int]:
    with sandbox.state.lock:
        return [record.status for record in sandbox.state.requests if record.path.startswith(prefix)]


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.01)


def wait_for(hook_path: str, job_ids: list[str], conn_id: str, poll: float = 0.2) -> JobTrigger:
    return JobTrigger(
        hook_path=hook_path, conn_id=conn_id, job_ids=job_ids, poll_interval=poll, deadline=time.time() + 30
    )


async def run_to_end(trigger: JobTrigger) -> WaitEvent:
    events = [event async for event in trigger.run()]
    assert len(events) == 1
    return WaitEvent.from_payload(events[0].payload)


def live_stats(conn_id: str) -> PollerStats:
    (stats,) = [stats for name, stats in poller_stats() if name == conn_id]
    return stats


# --- triggers -----------------------------------------------------------------------------------------
async def test_a_token_rotated_mid_wait_is_picked_up_after_one_refresh(
    sandbox: SandboxServer, zendesk_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = sandbox.state.zendesk.create_job(total=1, duration=2.0, queued_for=0.1)
    with structlog.testing.capture_logs() as logs:
        waiting = asyncio.create_task(run_to_end(wait_for(ZENDESK, [job_id], zendesk_conn)))
        await until(lambda: statuses(sandbox, SHOW).count(200) >= 2)
        stats = live_stats(zendesk_conn)
        rotate_connection(monkeypatch, sandbox, ROTATED)  # the connection first, then the vendor revokes
        zendesk_accepts(sandbox, ROTATED)
        event = await waiting
    assert event.outcome == "ended" and event.jobs[0].state == "succeeded"
    seen = statuses(sandbox, SHOW)
    assert seen.count(401) == 1
    assert set(seen) == {200, 401} and seen[seen.index(401) + 1] == 200  # one 401, then success
    assert stats.refreshes == 1
    leaked = repr(logs) + repr(event.to_payload())
    assert ROTATED not in leaked and CANARY_TOKEN not in leaked
    assert active_pollers() == 0


async def test_concurrent_waits_on_a_connection_share_one_refresh(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WISTIA_DEFAULT", wistia_connection(sandbox.url))
    ids = [str(sandbox.state.wistia.create_job(duration=2.0)) for _ in range(6)]
    waits = [asyncio.create_task(run_to_end(wait_for(WISTIA, [job_id], "wistia_default"))) for job_id in ids]
    await until(lambda: statuses(sandbox, WISTIA_STATUS).count(200) >= len(ids))
    stats = live_stats("wistia_default")
    monkeypatch.setenv("AIRFLOW_CONN_WISTIA_DEFAULT", wistia_connection(sandbox.url, password=ROTATED))
    with sandbox.state.lock:
        sandbox.state.wistia.config.api_token = ROTATED
    events = await asyncio.gather(*waits)
    assert [event.outcome for event in events] == ["ended"] * len(ids)
    assert stats.refreshes == 1  # one read of the connection for every wait
    for job_id in ids:
        seen = statuses(sandbox, f"{WISTIA_STATUS}{job_id}")
        assert seen.count(401) <= 1 and seen[-1] == 200
        if 401 in seen:
            assert seen[seen.index(401) + 1] == 200
    assert 1 <= statuses(sandbox, WISTIA_STATUS).count(401) <= len(ids)


async def test_a_wait_whose_refresh_brings_the_same_token_ends_at_once(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    job_id = sandbox.state.zendesk.create_job(total=1, duration=30.0)
    waiting = asyncio.create_task(run_to_end(wait_for(ZENDESK, [job_id], zendesk_conn)))
    await until(lambda: statuses(sandbox, SHOW).count(200) >= 1)
    stats = live_stats(zendesk_conn)
    zendesk_accepts(sandbox, ROTATED)  # revoked, and the connection was not updated
    event = await asyncio.wait_for(waiting, 10)
    assert event.outcome == "error" and not event.retryable
    assert "connection 'zendesk_default' was rejected by Zendesk (HTTP 401" in event.message
    assert statuses(sandbox, SHOW).count(401) == 1  # no loop, no retry
    assert stats.refreshes == 1


# --- the sync hook ------------------------------------------------------------------------------------
def test_the_sync_hook_picks_up_a_rotated_token(
    sandbox: SandboxServer, zendesk_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.log import redact

    job_id = sandbox.state.zendesk.create_job(total=1, duration=0.0)
    hook = ZendeskJobHook(zendesk_conn)
    assert hook.get_job(job_id).state is JobState.SUCCEEDED
    rotate_connection(monkeypatch, sandbox, ROTATED)
    zendesk_accepts(sandbox, ROTATED)
    assert hook.get_job(job_id).state is JobState.SUCCEEDED
    assert statuses(sandbox, SHOW) == [200, 401, 200]
    with sandbox.state.lock:
        assert [record.auth for record in sandbox.state.requests] == ["token", "bad", "token"]
    auth = hook.transport.auth
    assert auth.refreshes == 1
    # The new secrets are scrubbed from answers (the old ones too) and masked in task logs.
    assert {ROTATED, CANARY_TOKEN} <= set(auth.target.secrets)
    fields = ConnectionFields(conn_id=zendesk_conn, login="agent@example.com", password=ROTATED)
    header = zendesk_authorization(fields)
    assert header == hook.transport.target.headers["Authorization"]
    assert ROTATED not in redact(f"sent {header} and {header.split(' ')[1]}")
    assert header.split(" ")[1] not in redact(f"sent {header.split(' ')[1]}")


def test_a_refresh_that_brings_the_same_token_fails_at_once(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    job_id = sandbox.state.zendesk.create_job(total=1, duration=0.0)
    hook = ZendeskJobHook(zendesk_conn)
    hook.get_job(job_id)
    zendesk_accepts(sandbox, ROTATED)
    with pytest.raises(VendorAuthError, match=r"was rejected by Zendesk \(HTTP 401") as raised:
        hook.get_job(job_id)
    assert CANARY_TOKEN not in str(raised.value)
    assert statuses(sandbox, SHOW) == [200, 401]
    assert hook.transport.auth.refreshes == 1


def test_an_echoed_rotated_token_is_scrubbed_from_errors(
    sandbox: SandboxServer, zendesk_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = sandbox.state.zendesk.create_job(total=1, duration=0.0)
    hook = ZendeskJobHook(zendesk_conn)
    hook.get_job(job_id)
    rotate_connection(monkeypatch, sandbox, ROTATED)
    zendesk_accepts(sandbox, ROTATED)
    sandbox.state.add_fault(path_prefix=SHOW, status=401, count=1, body={"error": f"not {CANARY_TOKEN}"})
    sandbox.state.add_fault(path_prefix=SHOW, status=422, count=1, body={"error": f"was {ROTATED}"})
    with pytest.raises(PermanentVendorError) as raised:
        hook.get_job(job_id)
    assert raised.value.status == 422
    assert ROTATED not in str(raised.value) and "was ***" in str(raised.value)


# --- submits ------------------------------------------------------------------------------------------
def test_a_submit_refused_for_its_token_is_sent_again_once_with_the_new_one(
    sandbox: SandboxServer, zendesk_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = ZendeskJobHook(zendesk_conn)
    _ = hook.transport  # the connection was read (the task started) before the token was rotated
    rotate_connection(monkeypatch, sandbox, ROTATED)
    zendesk_accepts(sandbox, ROTATED)
    job = hook.submit_bulk("tickets", "update_many", [1, 2], change={"status": "open"})
    assert statuses(sandbox, "/api/v2/tickets/update_many") == [401, 200]
    assert [submit.job_id for submit in sandbox.state.zendesk.submits] == [job.id]


def test_a_submit_refused_again_after_the_refresh_is_not_sent_a_third_time(
    sandbox: SandboxServer, zendesk_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = ZendeskJobHook(zendesk_conn)
    _ = hook.transport
    rotate_connection(monkeypatch, sandbox, "also-wrong-" + ROTATED)  # changed, but not what Zendesk wants
    zendesk_accepts(sandbox, ROTATED)
    with pytest.raises(VendorAuthError):
        hook.submit_bulk("tickets", "destroy_many", [1, 2])
    assert statuses(sandbox, "/api/v2/tickets/destroy_many") == [401, 401]
    assert sandbox.state.zendesk.submits == []


def test_submit_bulk_sends_its_ids_as_query_params_through_submit_request(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    job = ZendeskJobHook(zendesk_conn).submit_bulk(
        "tickets", "update_many", [3, 4], change={"status": "open"}
    )
    with sandbox.state.lock:
        (record,) = [r for r in sandbox.state.requests if r.path == "/api/v2/tickets/update_many"]
    assert record.query == "ids=3,4" and record.method == "PUT"
    assert sandbox.state.zendesk.submits[0].job_id == job.id


def test_a_refused_bulk_submit_names_what_was_refused(sandbox: SandboxServer, zendesk_conn: str) -> None:
    sandbox.state.add_fault(path_prefix="/api/v2/tickets/destroy_many", status=422, body={"error": "Invalid"})
    with pytest.raises(
        PermanentVendorError, match=r"Zendesk refused a tickets destroy_many job \(DELETE"
    ) as raised:
        ZendeskJobHook(zendesk_conn).submit_bulk("tickets", "destroy_many", [1, 2])
    assert raised.value.status == 422 and raised.value.payload == {"error": "Invalid"}
