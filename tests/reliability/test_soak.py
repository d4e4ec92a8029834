"""Soak: 500 concurrent waits in one event loop, against all three vendors, with about 5 % of the sandbox's
answers faulty for more than a minute. Every wait must end in its right state: none lost, none doubled.
And waits outlive an outage that outlasts every retry of their reads (sized from ``RetryPolicy``)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from conftest import CANARY_TOKEN, tradedesk_connection, wistia_connection, zendesk_connection

from airflow_jobstatus.http.transport import RetryPolicy
from airflow_jobstatus.sandbox import (
    SandboxServer,
    SandboxState,
    TradeDeskSandboxConfig,
    WistiaSandboxConfig,
    ZendeskSandboxConfig,
)
from airflow_jobstatus.triggers.job import JobTrigger, WaitEvent

WAITS = {"zendesk": 200, "wistia": 150, "tradedesk": 150}
HOOKS = {
    "zendesk": "airflow_jobstatus.hooks.zendesk.ZendeskJobHook",
    "wistia": "airflow_jobstatus.hooks.wistia.WistiaHook",
    "tradedesk": "airflow_jobstatus.hooks.tradedesk.TradeDeskHook",
}
#: Transient faults only: each is retried, so none may end a wait. Together about 5 % of answers.
NOISE = [
    {"status": 503, "retry_after": "1"},
    {"status": 429, "retry_after": "1"},
    {"status": 500},
    {"status": 502, "body": "<html><body>Bad gateway</body></html>", "content_type": "text/html"},
    {"status": 504, "body": ""},
    {"status": None, "reset": True},
]
SOAK_SECONDS = 60.0


@dataclass
class Wait:
    """One wait: its trigger and the outcome it must end with."""

    vendor: str
    job_id: str
    expected: tuple[str, str]  # (event outcome, job state)
    trigger: JobTrigger


@pytest.fixture
def soak_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    """A sandbox of its own (the noise must not reach other tests), every connection pointing at it."""
    state = SandboxState(
        zendesk=ZendeskSandboxConfig(api_token=CANARY_TOKEN),
        wistia=WistiaSandboxConfig(api_token=CANARY_TOKEN, queued_fraction=0.0),
        tradedesk=TradeDeskSandboxConfig(api_token=CANARY_TOKEN),
    )
    with SandboxServer(state=state) as server:
        monkeypatch.setenv("AIRFLOW_CONN_ZENDESK_DEFAULT", zendesk_connection(server.url))
        monkeypatch.setenv("AIRFLOW_CONN_WISTIA_DEFAULT", wistia_connection(server.url))
        monkeypatch.setenv("AIRFLOW_CONN_TRADEDESK_DEFAULT", tradedesk_connection(server.url))
        yield server


def plan(sandbox: SandboxServer, rng: random.Random) -> list[Wait]:
    """500 jobs ending over the soak, a tenth failing and a twentieth outliving their wait's deadline."""
    now = time.time()
    waits: list[Wait] = []
    for vendor, count in WAITS.items():
        for n in range(count):
            roll = rng.random()
            duration = rng.uniform(5.0, SOAK_SECONDS + 2)
            deadline = now + 240
            if roll < 0.05:  # never ends in time: the deadline must end the wait
                duration, deadline = 600.0, now + rng.uniform(20, SOAK_SECONDS)
            failing = 0.05 <= roll < 0.15
            job_id = create(sandbox, vendor, duration, failing)
            if roll < 0.05:
                expected = ("timeout", "running")
            else:
                expected = ("ended", "failed" if failing else "succeeded")
            trigger = JobTrigger(HOOKS[vendor], f"{vendor}_default", [job_id], 2.0, deadline)
            waits.append(Wait(vendor, f"{vendor}:{n}:{job_id}", expected, trigger))
    return waits


def create(sandbox: SandboxServer, vendor: str, duration: float, failing: bool) -> str:
    state = sandbox.state
    if vendor == "zendesk":
        return state.zendesk.create_job(
            total=5, duration=duration, queued_for=0, outcome="failed" if failing else "completed"
        )
    if vendor == "wistia":
        return str(state.wistia.create_job(duration=duration, outcome="failed" if failing else "finished"))
    return state.tradedesk.create_job(
        kind="standard", duration=duration, outcome="Failure" if failing else "Success"
    )


async def run_to_end(wait: Wait) -> tuple[Wait, list[WaitEvent]]:
    events = [WaitEvent.from_payload(event.payload) async for event in wait.trigger.run()]
    return wait, events


@pytest.mark.soak
def test_500_waits_outlive_a_minute_of_faulty_answers(
    soak_sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(7)
    waits = plan(soak_sandbox, rng)
    for prefix in ("/api/v2/job_statuses/", "/wistia/background_job_status/", "/tradedesk/standardjob/"):
        for fault in NOISE:
            soak_sandbox.state.add_fault(
                prefix, method="GET", count=None, probability=0.05 / len(NOISE), **fault
            )

    async def soak() -> list[tuple[Wait, list[WaitEvent]]]:
        return await asyncio.gather(*(run_to_end(wait) for wait in waits))

    started = time.monotonic()
    results = asyncio.run(soak())
    elapsed = time.monotonic() - started

    outcomes: Counter[str] = Counter()
    wrong: list[str] = []
    for wait, events in results:
        if len(events) != 1:
            wrong.append(f"{wait.job_id}: {len(events)} events")
            continue
        (event,) = events
        got = (event.outcome, event.jobs[0].state if event.jobs else "none")
        outcomes[f"{wait.vendor} {got[0]} {got[1]}"] += 1
        if got != wait.expected:
            wrong.append(f"{wait.job_id}: expected {wait.expected}, got {got}: {event.message}")
    with soak_sandbox.state.lock:
        reads = len(soak_sandbox.state.requests)
        faulty = sum(1 for r in soak_sandbox.state.requests if r.fault)
    with capsys.disabled():  # the counts belong in every run's output, not only a failed one's
        print(
            f"\nsoak: {len(results)} waits in {elapsed:.1f} s; {reads} status reads, {faulty} faulty "
            f"({faulty * 100 / max(reads, 1):.1f} %)"
        )
        for line, count in sorted(outcomes.items()):
            print(f"  {line}: {count}")
    assert not wrong, "\n".join(wrong[:20])
    assert len(results) == sum(WAITS.values())
    assert elapsed >= SOAK_SECONDS
    assert faulty / reads >= 0.03  # the noise really was there


#: How many requests one status read makes, and the longest it keeps retrying them (every backoff at its
#: ceiling): a read during an outage longer than that gives up, and the wait must go on to the next one.
RETRY = RetryPolicy()
READ_RETRY_SECONDS = sum(
    min(RETRY.backoff_max, RETRY.backoff_base * 2 ** (attempt - 1)) for attempt in range(1, RETRY.attempts)
)
POLL_INTERVAL = 2.0
#: Three times a whole read (its retries, then the wait's poll interval): every read of the outage fails.
OUTAGE_SECONDS = 3 * (READ_RETRY_SECONDS + POLL_INTERVAL)
STATUS_PATHS = {
    "zendesk": "/api/v2/job_statuses/",
    "wistia": "/wistia/background_job_status/",
    "tradedesk": "/tradedesk/standardjob/",
}


@pytest.mark.soak
def test_waits_outlive_an_outage_longer_than_their_reads_retry(soak_sandbox: SandboxServer) -> None:
    """Every status read answers 503 for three times what one read retries: whole reads give up, and the
    waits go on reading until the vendor answers again, then end with their jobs."""
    outage = OUTAGE_SECONDS
    jobs = {vendor: create(soak_sandbox, vendor, outage + 5, failing=False) for vendor in WAITS}
    deadline = time.time() + outage + 120
    waits = [
        Wait(
            vendor,
            job_id,
            ("ended", "succeeded"),
            JobTrigger(HOOKS[vendor], f"{vendor}_default", [job_id], POLL_INTERVAL, deadline),
        )
        for vendor, job_id in jobs.items()
    ]
    for prefix in STATUS_PATHS.values():
        soak_sandbox.state.add_fault(prefix, method="GET", status=503, count=None)

    async def outage_then_recovery() -> list[tuple[Wait, list[WaitEvent]]]:
        async def recover() -> None:
            await asyncio.sleep(outage)
            soak_sandbox.state.clear_faults()

        *results, _ = await asyncio.gather(*(run_to_end(wait) for wait in waits), recover())
        return results

    started = time.monotonic()
    results = asyncio.run(outage_then_recovery())
    assert time.monotonic() - started >= outage
    for wait, events in results:
        assert [(event.outcome, event.jobs[0].state) for event in events] == [wait.expected], wait.vendor
    with soak_sandbox.state.lock:
        refused = Counter(
            vendor
            for record in soak_sandbox.state.requests
            for vendor, prefix in STATUS_PATHS.items()
            if record.status == 503 and record.path.startswith(prefix)
        )
    # Each wait kept reading through the outage: at least two whole reads (every try refused) each.
    assert all(refused[vendor] >= 2 * RETRY.attempts for vendor in WAITS), refused
