"""One vendor account, several processes: two stand-in triggerers of 300 waits each and a worker polling with
``deferrable=False``, all on one Zendesk connection whose account allows 40 requests a minute. Steered by
the account's rate-limit headers, together they stay within the limit minus its reserve (20 %), with no
429, and every wait ends: none starves."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from conftest import zendesk_connection

from airflow_jobstatus.core.models import JobState
from airflow_jobstatus.hooks.zendesk import ZendeskJobHook
from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.sandbox.state import RequestRecord

pytestmark = pytest.mark.slow

CLIENT = Path(__file__).parent / "clients" / "triggerer.py"
ACCOUNT_LIMIT = 40
RESERVE = 8  # the default 20 %


def busiest_window(times: list[float], period: float = 60.0) -> int:
    """The most requests in any ``period`` seconds."""
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= period:
            start += 1
        most = max(most, end - start + 1)
    return most


def poll_like_a_worker(conn_id: str, job_id: str, seen: list[JobState]) -> None:
    """What a sensor with ``deferrable=False`` does: read the job every second until it ends."""
    hook = ZendeskJobHook(conn_id)
    while True:
        job = hook.get_job(job_id)
        seen.append(job.state)
        if job.state.is_terminal:
            return
        time.sleep(1.0)


def reads_of(records: list[RequestRecord]) -> dict[str, int]:
    """How many answered reads asked for each job id."""
    reads: dict[str, int] = {}
    for record in records:
        for job_id in ",".join(parse_qs(record.query).get("ids", [])).split(","):
            if job_id:
                reads[job_id] = reads.get(job_id, 0) + 1
    return reads


def api_requests(sandbox: SandboxServer) -> list[RequestRecord]:
    with sandbox.state.lock:
        return [r for r in sandbox.state.requests if r.path.startswith("/api/v2/")]


def test_two_triggerers_and_a_worker_keep_the_account_out_of_429_and_leave_its_reserve(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The connection's own rate is far above the account's: only the account's headers can hold it back.
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZD_ACCOUNT", zendesk_connection(sandbox.url, extra={"requests_per_minute": 6000})
    )
    zendesk = sandbox.state.zendesk
    zendesk.requests_per_minute = ACCOUNT_LIMIT
    jobs = [zendesk.create_job(total=1, duration=3600.0, queued_for=0) for _ in range(301)]
    first, second, worker_job = jobs[:150], jobs[150:300], jobs[300]

    triggerers = [
        subprocess.Popen(
            [sys.executable, str(CLIENT), "zd_account", "1.0", *ids],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for ids in (first, second)
    ]
    seen: list[JobState] = []
    worker = threading.Thread(target=poll_like_a_worker, args=("zd_account", worker_job, seen), daemon=True)
    worker.start()
    try:
        # Every wait reads for a while, long enough to meet the account's limit; then the jobs end.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            api = api_requests(sandbox)
            if api and set(reads_of(api)) >= set(jobs) and api[-1].at - api[0].at >= 25:
                break
            time.sleep(0.5)
        with sandbox.state.lock:
            for job_id in jobs:
                zendesk.jobs[job_id].duration = 0.0
        results = [
            json.loads(process.communicate(timeout=120)[0].strip().splitlines()[-1]) for process in triggerers
        ]
        worker.join(timeout=60)
    finally:
        for process in triggerers:
            process.kill()

    assert [process.returncode for process in triggerers] == [0, 0]
    assert [result["outcomes"] for result in results] == [{"ended": 150}, {"ended": 150}]
    assert not worker.is_alive() and seen[-1] is JobState.SUCCEEDED and len(seen) >= 2

    api = api_requests(sandbox)
    assert [r.status for r in api if r.status == 429] == []
    assert busiest_window([r.at for r in api]) <= ACCOUNT_LIMIT - RESERVE
    # The account's headers held both triggerers back, not a 429.
    assert all(result["account_stops"] > 0 and result["holds"] == 0 for result in results), results
    # No wait starved: each triggerer got a fair share of the reads, and every job was read after it ended.
    reads = reads_of(api)
    per_triggerer = [sum(1 for r in api if set(reads_of([r])) <= set(ids)) for ids in (first, second)]
    assert min(per_triggerer) >= len(api) // 4, per_triggerer
    assert all(reads[job_id] >= 2 for job_id in first + second)
