"""(e) Latency: the time from a job's completion in the sandbox to the wait's event, ours vs a fixed-interval
poll at the same request budget.

40 waits (one ``JobTrigger`` each, default cadence, ``poll_interval`` 1 s) on Zendesk jobs of 100 items
lasting 20-40 s. Then a plain fixed-interval poller waits on the same schedule of jobs, its interval chosen
so that it spends the budget ours spent: interval = (sum of ours' wait spans) / (sum of ours' reads per
job, less one each). Whatever our trigger does (fixed today, progress-paced later) is what is measured.

``python -m benchmarks.latency [--quick]``
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import Result, Row, Sandbox, Workdir, command_line, fmt, percentile, ratio, verdict
from benchmarks.wait_runs import RunFigures, run_waits, schedule

WAITS = 40
POLL_INTERVAL = 1.0
DURATIONS = (20.0, 40.0)
#: A ratio within this of 1 counts as equal (not met): run-to-run noise on a shared machine.
EQUAL_WITHIN = 0.05

NOTES = [
    "Latency of a wait = the monotonic time its event arrived (ours: JobTrigger yields; fixed: the read that "
    "saw the job ended returns) - the time the sandbox ends the job (its creation, timed around the "
    "create call, + its duration). Monotonic time is the same clock in every process of the machine.",
    "Budget = job status reads of each wait, as the sandbox logged them. The fixed poller reads every job "
    "every `interval` seconds from its wait's start (drift-free), on one shared aiohttp session.",
    f"Met when ours' mean latency is below the fixed poller's by more than {EQUAL_WITHIN:.0%} (noise).",
    "The same schedule (seeded durations and start delays) for both; the jobs are queued for the first 20 % "
    "of their duration (no progress reported), then report progress/total rising linearly.",
]


def latencies(run: RunFigures) -> list[float]:
    """Seconds from each job's end to its wait's event."""
    return [wait["event_at"] - wait["ends_at"] for wait in run.waits_detail]


def budget_interval(run: RunFigures) -> float:
    """The fixed interval spending the budget ``run`` spent: wait spans / reads between."""
    spans = reads = 0.0
    for wait in run.waits_detail:
        times = [t for t in run.reads.get(wait["id"], []) if t <= wait["event_at"]]
        spans += wait["event_at"] - wait["started_at"]
        reads += max(len(times) - 1, 1)
    return spans / reads


def stats(values: list[float]) -> dict[str, float]:
    """Mean, p50, p90, max."""
    return {
        "mean": sum(values) / len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "max": max(values),
    }


def run(quick: bool = False) -> Result:
    """Run ours, then the fixed poller at ours' budget; return the table."""
    count, durations = (10, (5.0, 10.0)) if quick else (WAITS, DURATIONS)
    jobs = schedule(count, durations, stagger=POLL_INTERVAL, seed=5)
    print(f"(e) latency: {count} waits, poll_interval {POLL_INTERVAL:g} s, jobs of {durations} s", flush=True)
    with Workdir("e") as workdir, Sandbox(tls=True) as sandbox:
        ours = run_waits(sandbox, workdir, "ours", "ours", jobs, POLL_INTERVAL)
        interval = budget_interval(ours)
        print(f"  the same budget at a fixed interval: every {interval:.2f} s", flush=True)
        fixed = run_waits(sandbox, workdir, "fixed", "fixed", jobs, POLL_INTERVAL, fixed_interval=interval)
    mine, theirs = stats(latencies(ours)), stats(latencies(fixed))
    mean_ratio = ratio(mine["mean"], theirs["mean"])
    rows = [
        Row(
            "mean latency, job end to event (s)",
            fmt(mine["mean"], 2),
            fmt(theirs["mean"], 2),
            fmt(mean_ratio, 3),
            "< 1 (lower is better)",
            verdict(mean_ratio < 1 - EQUAL_WITHIN),
        ),
        Row(
            "latency p50 (s)",
            fmt(mine["p50"], 2),
            fmt(theirs["p50"], 2),
            fmt(ratio(mine["p50"], theirs["p50"]), 3),
        ),
        Row(
            "latency p90 (s)",
            fmt(mine["p90"], 2),
            fmt(theirs["p90"], 2),
            fmt(ratio(mine["p90"], theirs["p90"]), 3),
        ),
        Row("latency max (s)", fmt(mine["max"], 2), fmt(theirs["max"], 2)),
        Row(
            "job status reads (the budget)",
            f"{ours.job_reads:,}",
            f"{fixed.job_reads:,}",
            fmt(ratio(ours.job_reads, fixed.job_reads), 3),
        ),
        Row("HTTP requests", f"{ours.requests:,}", f"{fixed.requests:,}"),
        Row("poll interval (s)", f"{POLL_INTERVAL:g} (+ its own cadence)", f"{interval:.2f} fixed"),
        Row(
            "waits ended by their job's success",
            f"{ours.succeeded}/{ours.waits}",
            f"{fixed.succeeded}/{fixed.waits}",
        ),
    ]
    raw: dict[str, Any] = {
        "ours": {**ours.summary(), "latency": mine},
        "fixed": {**fixed.summary(), "latency": theirs},
        "fixed_interval_s": interval,
    }
    result = Result(
        key="e",
        anchor="fixed interval, same budget",
        title="(e) Latency: job completion to event, ours vs a fixed interval at the same request budget",
        rows=rows,
        notes=NOTES,
        raw=raw,
    )
    result.show()
    return result


def main() -> None:
    """Command line."""
    command_line(run, __doc__, "a few waits, short jobs (a smoke run)")


if __name__ == "__main__":
    main()
