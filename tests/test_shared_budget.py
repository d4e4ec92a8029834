"""The exact budget across processes in a real Redis (``[jobstatus] rate_limit_storage``): two stand-in
triggerers and a worker send at most the connection's ``requests_per_minute`` together; with the store
down each falls back to its own budget, says so once, and every wait still ends; a wrong URL is refused
before any request."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import zendesk_connection

from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.http import shared_budget
from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.triggers.job import JobTrigger, WaitEvent

pytestmark = pytest.mark.slow

TRIGGERER = Path(__file__).parent / "clients" / "triggerer.py"
WORKER = Path(__file__).parent / "clients" / "worker.py"
STORAGE_ENV = "AIRFLOW__JOBSTATUS__RATE_LIMIT_STORAGE"
ZENDESK = "airflow_jobstatus.hooks.zendesk.ZendeskJobHook"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server of the test's own, on a free loopback port (`scripts/install_services.sh`)."""
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(server).exists():
        pytest.skip("redis-server is not installed: run `bash scripts/install_services.sh`")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([*args, "--dir", str(folder)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/1"
    process.terminate()
    process.wait(timeout=10)


def status_reads(sandbox: SandboxServer) -> list[float]:
    with sandbox.state.lock:
        return [r.at for r in sandbox.state.requests if r.path.startswith("/api/v2/job_statuses")]


def test_two_triggerers_and_a_worker_share_one_exact_budget_in_redis(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    per_minute = 24
    monkeypatch.setenv(STORAGE_ENV, redis_url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZD_SHARED", zendesk_connection(sandbox.url, extra={"requests_per_minute": per_minute})
    )
    zendesk = sandbox.state.zendesk
    # Alone, each of the three would spend its own 24 a minute: 2 at once, then one every 2.5 s.
    jobs = [zendesk.create_job(total=1, duration=3600.0, queued_for=0) for _ in range(3)]
    clients = [
        subprocess.Popen(
            [sys.executable, str(client), "zd_shared", poll, job_id],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for client, poll, job_id in (
            (TRIGGERER, "0.2", jobs[0]),
            (TRIGGERER, "0.2", jobs[1]),
            (WORKER, "0.5", jobs[2]),
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # all three press on the budget for 20 s
            reads = status_reads(sandbox)
            if (reads and time.monotonic() - reads[0] >= 20) or len(reads) > per_minute:
                break
            time.sleep(0.5)
        reads = status_reads(sandbox)
    finally:
        for process in clients:
            process.kill()
    outputs = [process.communicate()[0] for process in clients]
    assert [process.returncode for process in clients] == [-9, -9, -9]  # still waiting: the budget held them
    # In the minute, together never more than the connection's rate, and that much was used.
    assert per_minute - 2 <= len(reads) <= per_minute, len(reads)
    assert outputs[2].count('"read"') >= 2  # the worker got its share


async def test_with_the_store_down_every_wait_ends_on_its_own_budget_and_says_so_once(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(STORAGE_ENV, f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0")  # nothing listens
    monkeypatch.setenv("AIRFLOW_CONN_ZD_NO_STORE", zendesk_connection(sandbox.url))
    jobs = [sandbox.state.zendesk.create_job(total=1, duration=0.5, queued_for=0) for _ in range(5)]
    caplog.set_level(logging.WARNING, logger="airflow_jobstatus.http.shared_budget")

    async def wait(job_id: str) -> WaitEvent:
        trigger = JobTrigger(
            hook_path=ZENDESK,
            conn_id="zd_no_store",
            job_ids=[job_id],
            poll_interval=0.2,
            deadline=time.time() + 30,
        )
        async for event in trigger.run():
            return WaitEvent.from_payload(event.payload)
        raise AssertionError("no event")

    import asyncio

    events = await asyncio.gather(*(wait(job_id) for job_id in jobs))
    assert [event.outcome for event in events] == ["ended"] * 5
    warnings = [r.getMessage() for r in caplog.records if "shared rate budget" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "each process now keeps its own budget" in warnings[0]
    assert "hunter2-secret" not in warnings[0] and "redis://127.0.0.1:" in warnings[0]


def test_a_storage_url_that_is_not_redis_is_refused_naming_the_option(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STORAGE_ENV, "memcached://127.0.0.1:11211")
    with pytest.raises(ConfigurationError) as error:
        shared_budget.configured_storage()
    assert "[jobstatus] rate_limit_storage must be a Redis URL" in str(error.value)
    assert "'memcached'" in str(error.value)


def test_a_process_that_has_not_heard_from_the_vendor_counts_under_the_allowance_of_one_that_has(
    redis_url: str,
) -> None:
    # Two processes on one account: the first heard the vendor's headers (the account allows Airflow 5 a
    # minute), the second is new (a task try) and knows only its connection's rate of 600.
    heard = shared_budget.SharedBudget(redis_url, "account:allowance-test")
    new = shared_budget.SharedBudget(redis_url, "account:allowance-test")
    assert [heard.hit(600, 5) for _ in range(3)] == [0.0, 0.0, 0.0]
    # The new one reads the allowance the first published, and counts in the same window: 2 more go.
    waits = [new.hit(600, None) for _ in range(3)]
    assert waits[:2] == [0.0, 0.0]
    assert 0 < waits[2] <= shared_budget.STORE_WINDOW, waits
    assert heard.hit(600, 5) > 0  # full for both
    # A stored allowance that is not a sane count is ignored: the connection's rate (3) applies, not 1.
    import redis

    fresh = shared_budget.SharedBudget(redis_url, "account:broken-allowance")
    redis.Redis.from_url(redis_url).set(fresh.allowance_key, "-5")
    assert [fresh.hit(3, None) == 0.0 for _ in range(4)] == [True, True, True, False]
