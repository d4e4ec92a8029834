"""Worker of benchmark (h), :mod:`benchmarks.scale`: N waits in one event loop, as one triggerer holds them.

``python -m benchmarks.scale_worker --spec SPEC.json --out OUT.json``, run in a fresh interpreter by the
benchmark (one or more at once, each standing in for one triggerer). It imports what a running triggerer has
loaded, creates its jobs at the sandbox (one Zendesk job per wait, long enough to outlast the run), prints
``ready`` and reads one line from stdin: the ``time.monotonic()`` at which to start (the same clock in every
process of the machine, so the workers of one run measure the same window). Then:

1. it starts ``waits`` JobTriggers (``run()``, as the triggerer consumes it), each after a random delay
   below ``poll_interval`` (tasks defer one after another), at a fixed cadence (``max_poll_interval`` =
   ``poll_interval``);
2. after ``warmup`` seconds it measures for ``window`` seconds: process CPU time (all threads) and the lag
   of a ticker task sleeping 10 ms;
3. it cancels every wait at once, as a triggerer does at shutdown, and times how long until all ended.

``spec["provider"]``: a folder holding another ``airflow_jobstatus`` package (a copy of an earlier tree), put
first on ``sys.path`` to measure it instead of this tree's.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import requests

ZENDESK_HOOK = "airflow_jobstatus.hooks.zendesk.ZendeskJobHook"
TICK = 0.010
#: The longest a cancel may take before the worker stops waiting for it (the figure is then "over").
CANCEL_LIMIT = 60.0


def create_jobs(base_url: str, count: int, duration: float, verify: str | bool) -> list[str]:
    """``count`` Zendesk jobs of 100 items lasting ``duration`` seconds (before anything is measured)."""
    ids = []
    with requests.Session() as http:
        for _ in range(count):
            response = http.post(
                f"{base_url}/_sandbox/zendesk/jobs",
                json={"total": 100, "duration": duration},
                timeout=30,
                verify=verify,
            )
            response.raise_for_status()
            ids.append(str(response.json()["id"]))
    return ids


class Ticker:
    """A task sleeping ``TICK`` seconds in a loop; each oversleep (with when it ended) is a lag sample."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self.running = True

    async def run(self) -> None:
        """Tick until :attr:`running` is false."""
        while self.running:
            started = time.perf_counter()
            await asyncio.sleep(TICK)
            self.samples.append((time.monotonic(), time.perf_counter() - started - TICK))


async def sleep_until(moment: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``moment``."""
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


async def measure(spec: dict[str, Any], ids: list[str], go_at: float) -> dict[str, Any]:
    """Run the waits; the figures of the window and of the cancel."""
    from airflow_jobstatus.triggers.job import JobTrigger

    interval = float(spec["poll_interval"])
    rng = random.Random(spec.get("seed", 1))
    deadline = time.time() + 3600
    outcomes: list[str] = []

    async def wait(job_id: str, start_after: float) -> None:
        await asyncio.sleep(start_after)
        trigger = JobTrigger(
            ZENDESK_HOOK, spec["conn_id"], [job_id], interval, deadline, max_poll_interval=interval
        )
        async for event in trigger.run():
            outcomes.append(f"{event.payload['outcome']}: {event.payload['message']}"[:200])

    await sleep_until(go_at)
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    waits = [asyncio.create_task(wait(job_id, rng.uniform(0, interval))) for job_id in ids]
    window_start = go_at + float(spec["warmup"])
    await sleep_until(window_start)
    cpu_start, window_start = time.process_time(), time.monotonic()
    await sleep_until(window_start + float(spec["window"]))
    cpu_end, window_end = time.process_time(), time.monotonic()
    ended_early = sum(task.done() for task in waits)

    for task in waits:
        task.cancel()
    cancelled_at = time.monotonic()
    while not all(task.done() for task in waits) and time.monotonic() - cancelled_at < CANCEL_LIMIT:
        await asyncio.sleep(0.01)
    cancel_s = time.monotonic() - cancelled_at
    survivors = sum(not task.done() for task in waits)
    ticker.running = False
    await ticking

    lags = sorted(lag for at, lag in ticker.samples if window_start <= at <= window_end)
    return {
        "cpu_s": cpu_end - cpu_start,
        "window": [window_start, window_end],
        "lag_p50_ms": percentile(lags, 50) * 1000,
        "lag_p99_ms": percentile(lags, 99) * 1000,
        "lag_max_ms": (lags[-1] if lags else 0.0) * 1000,
        "ticks": len(lags),
        "ended_early": ended_early,
        "outcomes": outcomes[:5],
        "cancel_s": cancel_s,
        "survivors": survivors,
    }


def percentile(ordered: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of sorted values (0 for none)."""
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[min(int(rank), len(ordered)) - 1]


def main() -> None:
    """Command line: run the spec, write the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text())
    provider = spec.get("provider")
    if provider:  # an earlier copy of the provider: before this tree's
        sys.path.insert(0, provider)
    import airflow  # noqa: F401

    import airflow_jobstatus

    package = Path(airflow_jobstatus.__file__).resolve().parent.parent
    if provider and package != Path(provider).resolve():
        raise SystemExit(f"airflow_jobstatus was imported from {package}, not from {provider}")
    # What a running triggerer has loaded already.
    for module in ("airflow_jobstatus.triggers.job", "airflow_jobstatus.http.transport_async"):
        importlib.import_module(module)
    importlib.import_module(ZENDESK_HOOK.rpartition(".")[0])
    base_url = os.environ["SANDBOX_URL"]
    verify: str | bool = os.environ.get("REQUESTS_CA_BUNDLE") or True
    duration = float(spec["warmup"]) + float(spec["window"]) + 600
    ids = create_jobs(base_url, int(spec["waits"]), duration, verify)
    print("ready", flush=True)
    go_at = float(sys.stdin.readline())
    result = asyncio.run(measure(spec, ids, go_at))
    result.update(label=spec["label"], provider=str(package), waits=len(ids), ids=ids)
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
