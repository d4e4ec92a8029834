"""Worker of benchmarks (a), (b) and (e): N deferred waits in one asyncio event loop, as a triggerer holds
them, each on its own Zendesk job of the sandbox. Run by the benchmarks in a fresh interpreter:
``python -m benchmarks.waits --spec SPEC.json --out OUT.json``.

Kinds of wait (``spec["kind"]``):

- ``ours``: :class:`airflow_jobstatus.triggers.job.JobTrigger` for ``ZendeskJobHook``, through its public
  constructor and ``run()`` only. ``fixed_cadence`` passes ``max_poll_interval=poll_interval`` when the
  constructor has that parameter (a fixed interval), else the trigger's own default cadence.
- ``anchor``: the HTTP provider's ``HttpSensorTrigger`` on the sandbox's done probe (404 while the job
  runs, 200 once it ended): it fires on its first non-404 answer.
- ``fixed``: a plain fixed-interval poller (``fixed_interval`` seconds, drift-free) on the shared aiohttp
  session, reading ``/api/v2/job_statuses/{id}.json`` until the job ended (benchmark (e)).

The measured window runs from the first wait's start to the last wait's end: process CPU time, wall time,
peak RSS in the window (VmHWM, reset at its start) and the lag of a ticker task sleeping 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import requests

from benchmarks.common import (
    HTTP_CONN,
    PROBE_PATH,
    ZENDESK_CONN,
    ZENDESK_EMAIL,
    ZENDESK_HOOK,
    ZENDESK_TOKEN,
    percentile,
    proc_status_kb,
    reset_peak_rss,
)

ENDED = ("completed", "failed", "killed")
TICK = 0.010


class LagTicker:
    """A task sleeping ``TICK`` seconds in a loop; its oversleeps are the event loop's lag."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.running = True

    async def run(self) -> None:
        """Tick until :attr:`running` is false."""
        while self.running:
            started = time.perf_counter()
            await asyncio.sleep(TICK)
            self.lags.append(time.perf_counter() - started - TICK)


def create_jobs(base_url: str, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Create the sandbox jobs (before the window); each gets ``id`` and ``ends_at`` (monotonic)."""
    created = []
    with requests.Session() as http:
        for job in jobs:
            body = {"total": job.get("total", 100), "duration": job["duration"]}
            if "queued_for" in job:
                body["queued_for"] = job["queued_for"]
            before = time.monotonic()
            response = http.post(f"{base_url}/_sandbox/zendesk/jobs", json=body, timeout=30)
            after = time.monotonic()
            response.raise_for_status()
            ends_at = (before + after) / 2 + job["duration"]
            created.append({**job, "id": response.json()["id"], "ends_at": ends_at})
    return created


def make_trigger(spec: dict[str, Any], job_id: str) -> Any:
    """The trigger of one wait (``ours`` or ``anchor``)."""
    interval = float(spec["poll_interval"])
    if spec["kind"] == "anchor":
        from airflow.providers.http.triggers.http import HttpSensorTrigger

        endpoint = PROBE_PATH.format(id=job_id)
        return HttpSensorTrigger(
            endpoint=endpoint, http_conn_id=HTTP_CONN, method="GET", poke_interval=interval
        )
    from airflow_jobstatus.triggers.job import JobTrigger

    extra: dict[str, Any] = {}
    if spec.get("fixed_cadence") and fixed_cadence_supported():
        extra["max_poll_interval"] = interval
    deadline = time.time() + float(spec["timeout"]) + 60
    return JobTrigger(ZENDESK_HOOK, ZENDESK_CONN, [job_id], interval, deadline, **extra)


def fixed_cadence_supported() -> bool:
    """Whether JobTrigger's constructor takes ``max_poll_interval`` (progress-paced polling)."""
    from airflow_jobstatus.triggers.job import JobTrigger

    return "max_poll_interval" in inspect.signature(JobTrigger.__init__).parameters


async def first_event(trigger: Any) -> Any:
    """The first event a trigger yields (then the generator is closed, as the triggerer does)."""
    events: AsyncIterator[Any] = trigger.run()
    try:
        event = await events.__anext__()
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    return event.payload


async def fixed_poll(session: Any, base_url: str, job_id: str, interval: float) -> str:
    """Read one job every ``interval`` seconds (counted from the first read) until it ended."""
    import aiohttp

    auth = aiohttp.BasicAuth(f"{ZENDESK_EMAIL}/token", ZENDESK_TOKEN)
    url = f"{base_url}/api/v2/job_statuses/{job_id}.json"
    started, reads = time.monotonic(), 0
    while True:
        try:
            async with session.get(url, auth=auth) as response:
                body = await response.json() if response.status == 200 else {}
        except aiohttp.ClientError:
            body = {}
        reads += 1
        status = body.get("job_status", {}).get("status")
        if status in ENDED:
            return str(status)
        await asyncio.sleep(max(0.0, started + reads * interval - time.monotonic()))


async def run_waits(
    spec: dict[str, Any], jobs: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], LagTicker]:
    """Run every wait of ``jobs`` in this loop; return each job's outcome and the lag ticker."""
    ticker = LagTicker()
    ticker_task = asyncio.create_task(ticker.run())
    triggers = {job["id"]: make_trigger(spec, job["id"]) for job in jobs} if spec["kind"] != "fixed" else {}
    session = None
    if spec["kind"] == "fixed":
        import aiohttp

        session = aiohttp.ClientSession()

    async def one(job: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(job.get("start_after", 0.0))
        started = time.monotonic()
        if session is not None:
            payload: Any = await fixed_poll(
                session, spec["base_url"], job["id"], float(spec["fixed_interval"])
            )
        else:
            payload = await first_event(triggers[job["id"]])
        return {**job, "started_at": started, "event_at": time.monotonic(), "payload": payload}

    try:
        done = await asyncio.wait_for(asyncio.gather(*(one(job) for job in jobs)), float(spec["timeout"]))
    finally:
        ticker.running = False
        await ticker_task
        if session is not None:
            await session.close()
    return list(done), ticker


def outcome_of(kind: str, payload: Any) -> str:
    """A short outcome per wait: ``succeeded`` when the wait ended because its job completed."""
    if kind == "anchor":
        return "succeeded" if payload is True else f"other: {payload!r}"[:80]
    if kind == "fixed":
        return "succeeded" if payload == "completed" else str(payload)
    jobs = payload.get("jobs") or [{}]
    return (
        "succeeded"
        if payload.get("outcome") == "ended" and jobs[0].get("state") == "succeeded"
        else (f"{payload.get('outcome')}: {payload.get('message', '')}"[:120])
    )


def main() -> None:
    """Run the spec, write the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    spec = json.loads(Path(args.spec).read_text())
    import airflow

    if spec["kind"] == "anchor":
        import airflow.providers.http.triggers.http  # noqa: F401
    else:  # the modules a running triggerer has loaded already (the anchor's are imported above)
        for module in ("airflow_jobstatus.triggers.job", "airflow_jobstatus.http.transport_async"):
            importlib.import_module(module)
        importlib.import_module(ZENDESK_HOOK.rpartition(".")[0])
    spec["base_url"] = os.environ["SANDBOX_URL"]
    jobs = create_jobs(spec["base_url"], spec["jobs"])
    peak_reset = reset_peak_rss()
    rss_before = proc_status_kb("VmRSS")
    cpu_before, wall_before = time.process_time(), time.monotonic()
    done, ticker = asyncio.run(run_waits(spec, jobs))
    cpu, wall = time.process_time() - cpu_before, time.monotonic() - wall_before
    hwm = proc_status_kb("VmHWM")
    lags = ticker.lags
    result = {
        "label": spec.get("label"),
        "kind": spec["kind"],
        "cpu_s": cpu,
        "wall_s": wall,
        "window": [wall_before, wall_before + wall],
        "rss_before_kb": rss_before,
        "hwm_kb": hwm,
        "peak_reset": peak_reset,
        "lag_p50_ms": percentile(lags, 50) * 1000,
        "lag_p99_ms": percentile(lags, 99) * 1000,
        "lag_max_ms": max(lags) * 1000 if lags else 0.0,
        "ticks": len(lags),
        "fixed_cadence": bool(spec.get("fixed_cadence"))
        and spec["kind"] == "ours"
        and fixed_cadence_supported(),
        "waits": [
            {
                "id": w["id"],
                "ends_at": w["ends_at"],
                "started_at": w["started_at"],
                "event_at": w["event_at"],
                "outcome": outcome_of(spec["kind"], w["payload"]),
            }
            for w in done
        ],
    }
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
