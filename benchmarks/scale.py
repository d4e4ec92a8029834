"""(h) Scale (issue 18, item 6): up to 10,000 waits on one Zendesk connection, in one triggerer and in two.

Each layout runs JobTriggers at a fixed 1 s cadence, each on its own job, against one sandbox (its own
process, TLS on loopback): 1,000, 3,000 and 10,000 waits in **one process** (one event loop, one
triggerer), and 10,000 over **two processes** holding 5,000 each (two triggerers sharing the connection),
started together. The connection's request budget is lifted (extra ``requests_per_minute``) so that it
never stretches the cadence under test. Each worker (:mod:`benchmarks.scale_worker`) starts its waits over
one poll interval, lets them settle, measures a window, then cancels every wait at once. Figures, per
process where it matters:

- CPU per job read: the process's CPU time in the window (all threads) / the reads of its jobs the sandbox
  logged in the window (one show_many of 100 jobs counts 100 reads);
- event-loop lag p99: a task sleeping 10 ms in a loop, its oversleeps in the window;
- reads on cadence: the share of gaps between consecutive reads of a job, in the window, of at most
  ``poll_interval`` + 0.1 s (as in (a));
- requests per minute at the vendor: every request the sandbox logged in the window, per minute;
- cancel: how long until every wait ended after all were cancelled at once.

``python -m benchmarks.scale [--quick] [--before DIR] [--section FILE]``: ``--before`` also runs every layout
on the ``airflow_jobstatus`` package in DIR (a copy of an earlier tree), side by side in the anchor column;
``--section`` writes the run's RESULTS.md section to FILE.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from benchmarks.common import (
    PYTHON,
    REPO,
    ZENDESK_CONN,
    Result,
    Row,
    Sandbox,
    Workdir,
    fmt,
    gaps,
    percentile,
    ratio,
    reads_by_job,
    verdict,
    worker_env,
)
from benchmarks.wait_runs import ON_TIME_SLACK

POLL_INTERVAL = 1.0
#: Seconds from the start of the waits to the start of the window (10,000 waits starting, first batches).
WARMUP = 20.0
WINDOW = 30.0
#: (waits, processes): the waits are split evenly over the processes. The smaller counts show how the
#: cost grows with the waits of one event loop.
LAYOUTS = ((1_000, 1), (3_000, 1), (10_000, 1), (10_000, 2))
LAG_TARGET_MS = 50.0
ON_CADENCE_TARGET = 0.95
CANCEL_TARGET_S = 5.0
#: The connection's rate budget set out of the way: (h) measures the cost of the 1 s cadence itself.
UNTHROTTLED = {"requests_per_minute": 10_000_000}
#: --quick: a smoke run of the harness (every layout's waits divided by QUICK_DIVISOR, a short window).
QUICK = {"warmup": 6.0, "window": 8.0}
QUICK_DIVISOR = 20
READY_TIMEOUT = 600.0


@dataclass
class Worker:
    """One worker process of a layout; a thread copies its stdout to its log and notes ``ready``."""

    label: str
    process: subprocess.Popen[str]
    out: Path
    log: IO[str]
    ready: threading.Event
    drain: threading.Thread


def start_worker(spec: dict[str, Any], env: dict[str, str], workdir: Workdir) -> Worker:
    """Start one worker; it prints ``ready`` once its jobs exist."""
    label = spec["label"]
    spec_file, out, log_file = (
        workdir.path / f"scale-{label}.{ext}" for ext in ("spec.json", "out.json", "log")
    )
    spec_file.write_text(json.dumps(spec))
    log = open(log_file, "w")  # noqa: SIM115 (closed in finish_worker)
    process = subprocess.Popen(
        [PYTHON, "-m", "benchmarks.scale_worker", "--spec", str(spec_file), "--out", str(out)],
        env=env,
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()

    def copy() -> None:  # the worker's output must be read all along, or it blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip() == "ready":
                ready.set()
            log.write(line)

    drain = threading.Thread(target=copy, name=f"drain {label}", daemon=True)
    drain.start()
    return Worker(label, process, out, log, ready, drain)


def wait_ready(worker: Worker) -> None:
    """Wait until the worker says ``ready``."""
    started = time.monotonic()
    while not worker.ready.wait(1.0):
        if worker.process.poll() is not None:
            raise RuntimeError(f"worker {worker.label} ended before it was ready: see {worker.log.name}")
        if time.monotonic() - started > READY_TIMEOUT:
            raise RuntimeError(f"worker {worker.label} was not ready within {READY_TIMEOUT:g} s")


def finish_worker(worker: Worker, timeout: float) -> dict[str, Any]:
    """Wait for the worker to end; its figures."""
    try:
        worker.process.wait(timeout=timeout)
    finally:
        if worker.process.poll() is None:
            worker.process.kill()
        worker.drain.join(timeout=10)
        worker.log.close()
    if worker.process.returncode != 0 or not worker.out.exists():
        tail = Path(worker.log.name).read_text()[-3000:]
        raise RuntimeError(f"worker {worker.label} failed ({worker.process.returncode}):\n{tail}")
    figures: dict[str, Any] = json.loads(worker.out.read_text())
    return figures


def run_layout(
    sandbox: Sandbox,
    workdir: Workdir,
    waits: int,
    processes: int,
    settings: dict[str, Any],
    side: str,
    provider: Path | None,
) -> dict[str, Any]:
    """One layout on one tree: start the workers together, gather their figures and the sandbox's log."""
    sandbox.reset()
    per_process = waits // processes
    workers = []
    for index in range(processes):
        label = f"{side}-{waits}w-{processes}p-{index}"
        home = workdir.path / f"airflow-{label}"
        home.mkdir(exist_ok=True)
        env = worker_env(
            {**workdir.airflow_env(), **sandbox.environment(UNTHROTTLED), "AIRFLOW_HOME": str(home)}
        )
        spec = {
            "label": label,
            "conn_id": ZENDESK_CONN,
            "waits": per_process,
            "poll_interval": POLL_INTERVAL,
            "warmup": settings["warmup"],
            "window": settings["window"],
            "seed": index + 1,
            "provider": str(provider) if provider else None,
        }
        workers.append(start_worker(spec, env, workdir))
    try:
        for worker in workers:
            wait_ready(worker)
        sandbox_cpu = sandbox.cpu_seconds()
        go_at = time.monotonic() + 1.0
        for worker in workers:
            assert worker.process.stdin is not None
            worker.process.stdin.write(f"{go_at}\n")
            worker.process.stdin.close()
        timeout = settings["warmup"] + settings["window"] + 240
        outs = [finish_worker(worker, timeout) for worker in workers]
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
    sandbox_cpu = sandbox.cpu_seconds() - sandbox_cpu
    return figures(sandbox, outs, sandbox_cpu)


def figures(sandbox: Sandbox, outs: list[dict[str, Any]], sandbox_cpu: float) -> dict[str, Any]:
    """A layout's figures from its workers' output and the sandbox's request log of their window."""
    start = max(out["window"][0] for out in outs)
    end = min(out["window"][1] for out in outs)
    log = [record for record in sandbox.request_log() if start <= record["at"] <= end]
    reads = reads_by_job(log)
    minutes = (end - start) / 60
    per_process = []
    all_gaps: list[float] = []
    for out in outs:
        own = {job_id: reads.get(job_id, []) for job_id in out["ids"]}
        job_gaps = gaps(own)
        all_gaps += job_gaps
        job_reads = sum(len(times) for times in own.values())
        per_process.append(
            {
                "label": out["label"],
                "waits": out["waits"],
                "provider": out["provider"],
                "cpu_s": out["cpu_s"],
                "job_reads": job_reads,
                "cpu_us_per_read": out["cpu_s"] * 1e6 / job_reads if job_reads else float("nan"),
                "lag_p50_ms": out["lag_p50_ms"],
                "lag_p99_ms": out["lag_p99_ms"],
                "lag_max_ms": out["lag_max_ms"],
                "on_cadence": on_cadence(job_gaps),
                "gap_p99_s": percentile(job_gaps, 99),
                "unread_jobs": sum(1 for times in own.values() if not times),
                "ended_early": out["ended_early"],
                "outcomes": out["outcomes"],
                "cancel_s": out["cancel_s"],
                "survivors": out["survivors"],
            }
        )
    return {
        "window_s": end - start,
        "processes": per_process,
        "requests": len(log),
        "requests_per_minute": len(log) / minutes if minutes else float("nan"),
        "job_reads": sum(len(times) for times in reads.values()),
        "on_cadence": on_cadence(all_gaps),
        "sandbox_cpu_s": sandbox_cpu,
    }


def on_cadence(intervals: list[float]) -> float:
    """The share of gaps of at most the poll interval plus the slack (NaN for none)."""
    if not intervals:
        return float("nan")
    return sum(1 for gap in intervals if gap <= POLL_INTERVAL + ON_TIME_SLACK) / len(intervals)


def share(value: float) -> str:
    """A share as a percentage."""
    return fmt(value * 100, 1, " %")


def worst(run: dict[str, Any], key: str) -> float:
    """The worst (largest) value of ``key`` over the run's processes."""
    return max(process[key] for process in run["processes"])


def layout_rows(label: str, ours: dict[str, Any], before: dict[str, Any] | None) -> list[Row]:
    """The rows of one layout: this tree, and the earlier tree's figures in the anchor column (the ratio
    compares the worst process of each)."""

    def anchor(text: Any) -> str:
        return text(before) if before is not None else "-"

    def per_process(key: str, digits: int) -> Any:
        return lambda run: " / ".join(fmt(process[key], digits) for process in run["processes"])

    def compared(key: str) -> str:
        return fmt(ratio(worst(ours, key), worst(before, key)), 3) if before is not None else "-"

    unread = sum(process["unread_jobs"] for process in ours["processes"])
    return [
        Row(
            f"{label}: CPU per job read (µs), per process",
            per_process("cpu_us_per_read", 0)(ours),
            anchor(per_process("cpu_us_per_read", 0)),
            compared("cpu_us_per_read"),
        ),
        Row(
            f"{label}: event-loop lag p99 (ms), per process",
            per_process("lag_p99_ms", 1)(ours),
            anchor(per_process("lag_p99_ms", 1)),
            compared("lag_p99_ms"),
            f"< {LAG_TARGET_MS:g} ms",
            verdict(worst(ours, "lag_p99_ms") < LAG_TARGET_MS),
        ),
        Row(
            f"{label}: event-loop lag max (ms), per process",
            per_process("lag_max_ms", 0)(ours),
            anchor(per_process("lag_max_ms", 0)),
        ),
        Row(
            f"{label}: reads on cadence (gap <= {POLL_INTERVAL + ON_TIME_SLACK:g} s)",
            share(ours["on_cadence"]),
            anchor(lambda run: share(run["on_cadence"])),
            "-",
            f">= {ON_CADENCE_TARGET:.0%}",
            verdict(ours["on_cadence"] >= ON_CADENCE_TARGET),
        ),
        Row(
            f"{label}: gap between reads of a job p99 (s), per process",
            per_process("gap_p99_s", 2)(ours),
            anchor(per_process("gap_p99_s", 2)),
        ),
        Row(
            f"{label}: requests per minute at the vendor (jobs never read)",
            f"{fmt(ours['requests_per_minute'], 0)} ({unread})",
            anchor(
                lambda run: (
                    f"{fmt(run['requests_per_minute'], 0)} "
                    f"({sum(process['unread_jobs'] for process in run['processes'])})"
                )
            ),
        ),
        Row(
            f"{label}: all waits ended after a cancel of all (s), per process",
            per_process("cancel_s", 2)(ours),
            anchor(per_process("cancel_s", 2)),
            "-",
            f"< {CANCEL_TARGET_S:g} s, none left",
            verdict(
                worst(ours, "cancel_s") < CANCEL_TARGET_S
                and not any(process["survivors"] for process in ours["processes"])
            ),
        ),
    ]


def run(quick: bool = False, before: Path | None = None) -> Result:
    """Run every layout (on this tree, and on ``before`` when given); return the table."""
    settings: dict[str, Any] = {"warmup": WARMUP, "window": WINDOW} if not quick else dict(QUICK)
    layouts = []
    for waits, processes in LAYOUTS:
        waits //= QUICK_DIVISOR if quick else 1
        label = f"{waits:,} waits, " + ("one process" if processes == 1 else f"{processes} processes")
        layouts.append((label, waits, processes))
    print(
        f"(h) scale: {', '.join(label for label, _, _ in layouts)} at {POLL_INTERVAL:g} s, window "
        f"{settings['window']:g} s after {settings['warmup']:g} s"
        + (f"; before: {before}" if before else ""),
        flush=True,
    )
    runs: dict[str, dict[str, Any]] = {}
    load: dict[str, str] = {}
    with Workdir("h") as workdir, Sandbox(tls=True) as sandbox:
        for label, waits, processes in layouts:
            sides = [("ours", None)] + ([("before", before)] if before else [])
            for side, provider in sides:
                key = f"{side}: {label}"
                load[key] = f"{os.getloadavg()[0]:.2f}"
                runs[key] = run_layout(sandbox, workdir, waits, processes, settings, side, provider)
                print(f"  {key}: {summary(runs[key])}", flush=True)
    rows = [
        row
        for label, _, _ in layouts
        for row in layout_rows(label, runs[f"ours: {label}"], runs.get(f"before: {label}"))
    ]
    sandbox_cpu = ", ".join(f"{key} {run['sandbox_cpu_s']:.1f} s" for key, run in runs.items())
    notes = [
        "Waits on one Zendesk connection, each on its own job of 100 items lasting longer than the run, at a "
        f"fixed {POLL_INTERVAL:g} s cadence (poll_interval = max_poll_interval), through JobTrigger's public "
        f"constructor and run() only; each wait starts after a random delay below {POLL_INTERVAL:g} s. One "
        "process: all in one event loop; two processes: half each, two fresh interpreters started together "
        "against the same sandbox (two triggerers). The sandbox runs in its own process, over TLS; the "
        f"connection's extra requests_per_minute is {UNTHROTTLED['requests_per_minute']:,}, so the rate "
        "budget never stretches the cadence.",
        f"Measured in a window of {settings['window']:g} s starting {settings['warmup']:g} s after the waits "
        "start (the same monotonic window in every process). CPU per job read = the process's CPU time in "
        "the window (all threads) / the reads of its jobs the sandbox logged in the window (a show_many of "
        "k jobs counts k reads). Lag: a task sleeping 10 ms in a loop; each oversleep is one sample.",
        "On cadence: a gap between two consecutive reads of a job (sandbox times) of at most poll_interval "
        f"+ {ON_TIME_SLACK:g} s, over every job of the layout. Requests per minute: every request the "
        "sandbox logged in the window (one show_many call reads 100 jobs). Cancel: after the window every "
        "wait is cancelled at once (as a triggerer shutting down does); the time until the last ended.",
        "Each cell of a per-process row gives one figure per process. The anchor column, when filled, is "
        "the same layout run on a copy of the tree before the change, in the same run of this benchmark "
        "(same sandbox, same machine, minutes apart); the ratio compares the worst process of each.",
        f"Sandbox CPU per run (the vendor side, its own process): {sandbox_cpu}.",
    ]
    if before:
        notes.append(f"Before: the airflow_jobstatus package in {before}.")
    notes.append(f"Load average (1 min) at the start of each run: {load}.")
    result = Result(
        key="h",
        anchor="before the change" if before else "-",
        title=(
            f"(h) Scale: up to 10,000 waits on one connection at {POLL_INTERVAL:g} s, in one triggerer "
            "and in two"
        ),
        rows=rows,
        notes=notes,
        raw={"settings": settings, "runs": runs},
    )
    result.show()
    return result


def summary(run: dict[str, Any]) -> str:
    """One console line of a layout's figures."""
    processes = ", ".join(
        f"[{p['label']}: {p['cpu_us_per_read']:.0f} µs/read, lag p99 {p['lag_p99_ms']:.1f} ms, "
        f"on cadence {p['on_cadence']:.1%}, cancel {p['cancel_s']:.2f} s, {p['survivors']} left]"
        for p in run["processes"]
    )
    return (
        f"{run['requests_per_minute']:.0f} requests/min, on cadence {run['on_cadence']:.1%}, "
        f"sandbox CPU {run['sandbox_cpu_s']:.1f} s; {processes}"
    )


def main() -> None:
    """Command line."""
    import argparse

    from benchmarks.throughput import section

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help=f"1/{QUICK_DIVISOR} of the waits, short window (a smoke run)"
    )
    parser.add_argument(
        "--before", type=Path, help="a folder holding an earlier airflow_jobstatus package, run side by side"
    )
    parser.add_argument("--section", type=Path, help="write the RESULTS.md section of this run here")
    args = parser.parse_args()
    if args.before and not (args.before / "airflow_jobstatus" / "__init__.py").exists():
        parser.error(f"{args.before} holds no airflow_jobstatus package")
    result = run(args.quick, args.before.resolve() if args.before else None)
    if args.section:
        args.section.write_text(section(result))
        print(f"wrote {args.section}", flush=True)


if __name__ == "__main__":
    main()
