"""The parent side of benchmarks (a), (b) and (e): run one :mod:`benchmarks.waits` worker against the
sandbox and turn its output and the sandbox's request log into figures."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import Sandbox, Workdir, gaps, percentile, reads_by_job, run_worker, worker_env

#: A read is on time when it comes at most this long after the poll interval since the previous read.
ON_TIME_SLACK = 0.1


@dataclass
class RunFigures:
    """What one run of N waits cost and did."""

    label: str
    waits: int
    cpu_s: float
    wall_s: float
    requests: int
    job_reads: int
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    rss_before_mb: float
    peak_rss_mb: float
    on_time: float | None
    gap_p50_s: float
    gap_p99_s: float
    sandbox_cpu_s: float
    fixed_cadence: bool
    outcomes: dict[str, int] = field(default_factory=dict)
    waits_detail: list[dict[str, Any]] = field(default_factory=list)
    reads: dict[str, list[float]] = field(default_factory=dict)

    @property
    def cpu_us_per_poll(self) -> float:
        """Process CPU per job status read (one job's status reaching its waiter)."""
        return self.cpu_s * 1e6 / self.job_reads if self.job_reads else float("nan")

    @property
    def cpu_us_per_request(self) -> float:
        """Process CPU per HTTP request the sandbox saw."""
        return self.cpu_s * 1e6 / self.requests if self.requests else float("nan")

    @property
    def succeeded(self) -> int:
        """Waits that ended because their job completed."""
        return self.outcomes.get("succeeded", 0)

    def summary(self) -> dict[str, Any]:
        """Plain figures for RESULTS.md's raw section and the console."""
        skip = {"waits_detail", "reads"}
        figures = {k: v for k, v in vars(self).items() if k not in skip}
        figures["cpu_us_per_poll"] = self.cpu_us_per_poll
        figures["cpu_us_per_request"] = self.cpu_us_per_request
        return figures


def schedule(
    count: int, durations: tuple[float, float], stagger: float, seed: int, total: int = 100
) -> list[dict[str, Any]]:
    """``count`` jobs of ``total`` items lasting a random time in ``durations``, their waits starting a
    random time within ``stagger`` seconds (as tasks deferring one after another). Seeded: every run of
    a benchmark waits on the same schedule."""
    rng = random.Random(seed)
    return [
        {
            "duration": round(rng.uniform(*durations), 3),
            "start_after": round(rng.uniform(0, stagger), 3),
            "total": total,
        }
        for _ in range(count)
    ]


def run_waits(
    sandbox: Sandbox,
    workdir: Workdir,
    label: str,
    kind: str,
    jobs: list[dict[str, Any]],
    poll_interval: float,
    *,
    fixed_cadence: bool = False,
    fixed_interval: float | None = None,
    zendesk_extra: dict[str, Any] | None = None,
    timeout: float = 300.0,
) -> RunFigures:
    """Run one worker (``kind``: ours, anchor or fixed) on a freshly reset sandbox; gather its figures."""
    sandbox.reset()
    spec = {
        "label": label,
        "kind": kind,
        "jobs": jobs,
        "poll_interval": poll_interval,
        "fixed_cadence": fixed_cadence,
        "fixed_interval": fixed_interval,
        "timeout": timeout,
    }
    env = worker_env({**workdir.airflow_env(), **sandbox.environment(zendesk_extra)})
    sandbox_cpu = sandbox.cpu_seconds()
    out = run_worker("benchmarks.waits", spec, env, workdir, timeout=timeout + 180)
    sandbox_cpu = sandbox.cpu_seconds() - sandbox_cpu
    start, end = out["window"]
    log = [record for record in sandbox.request_log() if start <= record["at"] <= end]
    reads = reads_by_job(log)
    ours_ids = {wait["id"] for wait in out["waits"]}
    reads = {job_id: times for job_id, times in reads.items() if job_id in ours_ids}
    intervals = gaps(reads)
    interval = fixed_interval if kind == "fixed" else poll_interval
    fixed = kind != "ours" or bool(out["fixed_cadence"])
    on_time = (
        sum(1 for gap in intervals if gap <= interval + ON_TIME_SLACK) / len(intervals)
        if fixed and intervals and interval
        else None
    )
    figures = RunFigures(
        label=label,
        waits=len(out["waits"]),
        cpu_s=out["cpu_s"],
        wall_s=out["wall_s"],
        requests=len(log),
        job_reads=sum(len(times) for times in reads.values()),
        lag_p50_ms=out["lag_p50_ms"],
        lag_p99_ms=out["lag_p99_ms"],
        lag_max_ms=out["lag_max_ms"],
        rss_before_mb=out["rss_before_kb"] / 1024,
        peak_rss_mb=out["hwm_kb"] / 1024,
        on_time=on_time,
        gap_p50_s=percentile(intervals, 50),
        gap_p99_s=percentile(intervals, 99),
        sandbox_cpu_s=sandbox_cpu,
        fixed_cadence=fixed,
        outcomes=dict(Counter(wait["outcome"] for wait in out["waits"])),
        waits_detail=out["waits"],
        reads=reads,
    )
    print(
        f"  {label}: {figures.waits} waits, {figures.requests} requests, {figures.job_reads} job reads, "
        f"CPU {figures.cpu_s:.2f} s ({figures.cpu_us_per_poll:.0f} us/poll), "
        f"lag p99 {figures.lag_p99_ms:.1f} ms, "
        f"peak RSS {figures.peak_rss_mb:.0f} MB, on time {figures.on_time}, outcomes {figures.outcomes}",
        flush=True,
    )
    return figures
