"""(g) Throughput (issue 17, item 7): how well the bulk operator keeps the vendor's job slots full.

10,000 ticket updates through ``ZendeskBulkOperator`` (``update_many`` with one change, 100 items per job:
100 jobs), ``max_jobs_in_flight=30`` on a sandbox account whose job limit is 30 (a 31st job is refused with
429 and ``Retry-After``), the jobs of varied length: a seeded draw, most of 2-5 s and about one in seven
3-5 times longer. The DAG runs with ``dag.test()`` in a fresh interpreter (:mod:`benchmarks.bulk_dag`),
deferrable (the triggers in-process) and with ``deferrable=False`` (polling in the worker), polling every
0.25 s at a fixed interval.

The ideal the limit allows: the same jobs, with the same durations, scheduled greedily on 30 slots in
submit (input) order with no overhead at all (list scheduling); its makespan. Measured: the wall time from
the first submit reaching the sandbox to the task's end, its ratio to the ideal (target: within 15 %), the
429 refusals the sandbox logged, and the mean number of busy slots (job-seconds / wall time). The run is
also checked: every item's result present and succeeded, in input order, naming the job that covered it,
and every chunk of input submitted (accepted) exactly once.

The sandbox runs in this process (a thread; this process does nothing else meanwhile), over TLS, with
the per-job durations of :mod:`benchmarks.timed_sandbox` (the sandbox has no such knob for submitted jobs).

``python -m benchmarks.throughput [--quick] [--section FILE] [--provider DIR]``: ``--section`` writes the
run's RESULTS.md section to FILE; ``--provider`` runs the task on the ``airflow_jobstatus`` package in DIR
(another checkout, e.g. the engine before the sliding window) to compare engines on the same schedule.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import (
    REPO,
    ZENDESK_CONN,
    ZENDESK_EMAIL,
    ZENDESK_TOKEN,
    Result,
    Row,
    Workdir,
    fmt,
    ratio,
    run_worker,
    verdict,
    worker_env,
)

ITEMS = 10_000
PER_JOB = 100
SLOTS = 30
FIRST_ID = 100_000  # the tickets FIRST_ID .. FIRST_ID + ITEMS - 1
POLL_INTERVAL = 0.25
SEED = 1
#: Most jobs last SHORT seconds; LONG_SHARE of them SHORT times LONG_FACTOR.
SHORT = (2.0, 5.0)
LONG_SHARE = 0.15
LONG_FACTOR = (3.0, 5.0)
TARGET = 1.15
#: (label, deferrable)
MODES = (("deferrable", True), ("deferrable=False", False))
#: --quick: a smoke run of the harness (items, slots, duration scale, modes).
QUICK_ITEMS, QUICK_SLOTS, QUICK_SCALE, QUICK_MODES = 2_000, 10, 0.3, MODES[:1]
SUBMIT_PATH = "/api/v2/tickets/update_many"
#: The connection's own request budget (default 100 a minute for Zendesk) would pace 0.25 s polls.
REQUESTS_PER_MINUTE = 60_000
TASK_TIMEOUT = 900.0
ENGINE_FILES = ("airflow_jobstatus/operators/base.py", "airflow_jobstatus/operators/engine.py")


def draw_durations(count: int, seed: int = SEED, scale: float = 1.0) -> list[float]:
    """Seeded job durations (seconds): uniform in ``SHORT``, a ``LONG_SHARE`` of them ``LONG_FACTOR`` times
    longer; ``scale`` multiplies them all."""
    rng = random.Random(seed)
    durations = []
    for _ in range(count):
        seconds = rng.uniform(*SHORT)
        if rng.random() < LONG_SHARE:
            seconds *= rng.uniform(*LONG_FACTOR)
        durations.append(round(seconds * scale, 3))
    return durations


def list_schedule(durations: Sequence[float], slots: int) -> list[tuple[float, float]]:
    """Greedy list scheduling in the given order with no overhead: each job starts on the slot that frees
    first. The (start, end) of each job, from 0."""
    free = [0.0] * slots
    spans = []
    for seconds in durations:
        start = heapq.heappop(free)
        heapq.heappush(free, start + seconds)
        spans.append((start, start + seconds))
    return spans


def waves_makespan(durations: Sequence[float], slots: int) -> float:
    """The makespan of waves of ``slots`` jobs in the given order, each wave waiting for its slowest job
    before the next is sent, with no overhead (a reference: what waiting for the slowest job costs)."""
    return sum(max(durations[start : start + slots]) for start in range(0, len(durations), slots))


def busy_seconds(spans: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Slot-seconds the jobs of ``spans`` were running within ``[start, end]``."""
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)


def most_at_once(spans: Sequence[tuple[float, float]]) -> int:
    """The most jobs of ``spans`` running at one time (a job ending as another starts: not both)."""
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda e: (e[0], e[1]))
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


@dataclass
class Schedule:
    """The plan of one benchmark run: the input, the job limit and each chunk's duration."""

    items: int
    slots: int
    durations: list[float]

    @property
    def jobs(self) -> int:
        """Chunks of input, so jobs."""
        return len(self.durations)

    def ideal(self) -> dict[str, float]:
        """The list-scheduling ideal: makespan, mean busy slots, mean busy slots until the last start."""
        spans = list_schedule(self.durations, self.slots)
        makespan = max(end for _, end in spans)
        last_start = max(start for start, _ in spans)
        return {
            "makespan_s": makespan,
            "busy_mean": sum(self.durations) / makespan,
            "busy_mean_submitting": busy_seconds(spans, 0.0, last_start) / last_start if last_start else 0.0,
            "job_seconds": sum(self.durations),
            "waves_makespan_s": waves_makespan(self.durations, self.slots),
        }


def engine_digest(root: Path = REPO) -> dict[str, str]:
    """sha256 (12 hex) of the engine's files under ``root``, to tell the runs of different engines apart."""
    digests = {}
    for name in ENGINE_FILES:
        path = root / name
        digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.exists() else "missing"
    return digests


def check_run(schedule: Schedule, out: dict[str, Any], accepted: list[Any]) -> list[str]:
    """What is wrong with a run (nothing: an empty list): every result present, succeeded, in input order
    and naming the job that covered it; every chunk accepted once with its planned duration, every item in
    exactly one job."""
    problems = []
    chunks = Counter(job.chunk for job in accepted)
    if sorted(chunks) != list(range(schedule.jobs)) or any(n != 1 for n in chunks.values()):
        twice = sorted(chunk for chunk, n in chunks.items() if n > 1 and chunk is not None)
        missing = sorted(set(range(schedule.jobs)) - set(chunks))
        problems.append(
            f"chunks submitted more than once {twice[:10]}, never {missing[:10]}, {chunks[None]} stray"
        )
    unplanned = [
        job.id for job in accepted if job.chunk is not None and job.duration != schedule.durations[job.chunk]
    ]
    if unplanned:  # the sandbox gave a duration of its own (see benchmarks/timed_sandbox.py)
        problems.append(f"{len(unplanned)} jobs did not get their planned duration")
    owner: dict[int | None, str] = {}
    covered: Counter[int | None] = Counter()
    for job in accepted:
        covered.update(job.record_ids)
        owner.update(dict.fromkeys(job.record_ids, job.id))
    wanted = range(FIRST_ID, FIRST_ID + schedule.items)
    if set(covered) != set(wanted) or any(n != 1 for n in covered.values()):
        problems.append(
            f"items in no job: {len(set(wanted) - set(covered))}, in more than one: "
            f"{sum(1 for n in covered.values() if n > 1)}"
        )
    rows = out["rows"]
    if len(rows) != schedule.items:
        problems.append(f"{len(rows)} results for {schedule.items} items")
    bad = [
        index
        for position, (index, record_id, success, job_id) in enumerate(rows)
        if index != position
        or record_id != FIRST_ID + position
        or not success
        or job_id != owner.get(record_id)
    ]
    if bad:
        problems.append(f"{len(bad)} results missing, failed, out of order or naming another job: {bad[:10]}")
    manifest = out.get("manifest") or {}
    expected = {"rows": schedule.items, "succeeded": schedule.items, "failed": 0, "job_count": schedule.jobs}
    got = {key: manifest.get(key) for key in expected}
    if got != expected:
        problems.append(f"the manifest says {got}, expected {expected}")
    return problems


def figures(schedule: Schedule, out: dict[str, Any], state: Any) -> dict[str, Any]:
    """One run's figures from the worker's output and the sandbox's request log and accepted jobs."""
    with state.lock:
        records = [r for r in state.requests if r.path == SUBMIT_PATH]
        accepted = list(state.timed.accepted)
    if not records or not accepted:
        raise RuntimeError("the sandbox saw no accepted submit")
    first_submit = min(r.at for r in records)
    task_end = out["task_ended"] or out["dag_ended"]
    spans = [(job.created, job.ends) for job in accepted]
    last_end, last_start = max(b for _, b in spans), max(a for a, _ in spans)
    job_seconds = sum(job.duration for job in accepted)
    wall = task_end - first_submit
    triggers = out["trigger_runs"]
    order = [job.chunk for job in accepted]
    problems = check_run(schedule, out, accepted)
    return {
        "wall_s": wall,
        "vendor_makespan_s": last_end - min(a for a, _ in spans),
        "busy_mean": job_seconds / wall,
        "busy_mean_submitting": (
            busy_seconds(spans, first_submit, last_start) / (last_start - first_submit)
            if last_start > first_submit
            else 0.0
        ),
        "busy_most": most_at_once(spans),
        "refusals_429": sum(1 for r in records if r.status == 429),
        "submits": len(records),
        "submits_other": sum(1 for r in records if r.status not in (200, 429)),
        "accepted": len(accepted),
        "input_order": order == sorted(order, key=lambda c: -1 if c is None else c),
        "tail_s": task_end - last_end,
        "before_first_submit_s": first_submit - out["task_started"] if out["task_started"] else None,
        "dag_test_s": out["dag_ended"] - out["dag_started"],
        "trigger_runs": len(triggers),
        "trigger_s": sum(b - a for a, b in triggers),
        "job_seconds": job_seconds,
        "problems": problems,
    }


def run_mode(
    server: Any,
    workdir: Workdir,
    schedule: Schedule,
    label: str,
    deferrable: bool,
    provider: Path | None = None,
) -> dict[str, Any]:
    """One ``dag.test()`` of the bulk task on a freshly reset sandbox (on the ``airflow_jobstatus`` package
    in ``provider``, if given, instead of this tree's); its figures."""
    server.reset()
    server.state.zendesk.max_active_jobs = schedule.slots
    server.state.timed.plan(schedule.durations, first_id=FIRST_ID, per_job=PER_JOB)
    slug = "deferrable" if deferrable else "worker"
    spec = {
        "label": slug,
        "home": str(workdir.path / f"airflow-{slug}"),
        "first_id": FIRST_ID,
        "items": schedule.items,
        "poll_interval": POLL_INTERVAL,
        "max_poll_interval": POLL_INTERVAL,
        "max_jobs_in_flight": schedule.slots,
        "timeout": TASK_TIMEOUT,
        "deferrable": deferrable,
        "provider": str(provider) if provider else None,
    }
    connection = {
        "conn_type": "jobstatus_zendesk",
        "host": server.url,
        "login": ZENDESK_EMAIL,
        "password": ZENDESK_TOKEN,
        "extra": {"requests_per_minute": REQUESTS_PER_MINUTE},
    }
    ca_file = str(server.ca_file)
    env = worker_env(
        {
            f"AIRFLOW_CONN_{ZENDESK_CONN.upper()}": json.dumps(connection),
            "AIRFLOW__JOBSTATUS__RESULT_BASE_PATH": f"file://{workdir.path / f'results-{slug}'}",
            "SSL_CERT_FILE": ca_file,
            "REQUESTS_CA_BUNDLE": ca_file,
        }
    )
    out = run_worker("benchmarks.bulk_dag", spec, env, workdir, timeout=TASK_TIMEOUT + 300)
    if out["state"] != "success":
        raise RuntimeError(f"the {label} run ended {out['state']} {out['task_states']}:\n{out['log_tail']}")
    result = figures(schedule, out, server.state)
    result["provider"] = out["provider"]
    print(
        f"  {label}: wall {result['wall_s']:.1f} s, vendor makespan {result['vendor_makespan_s']:.1f} s, "
        f"busy slots {result['busy_mean']:.1f} (at most {result['busy_most']}), "
        f"{result['refusals_429']} refusals (429), {result['accepted']} jobs, "
        f"{result['trigger_runs']} trigger runs, problems {result['problems'] or 'none'}",
        flush=True,
    )
    return result


def mode_rows(label: str, run: dict[str, Any], ideal: dict[str, float], schedule: Schedule) -> list[Row]:
    """The table rows of one mode."""
    wall_ratio = ratio(run["wall_s"], ideal["makespan_s"])
    ok = not run["problems"]
    return [
        Row(
            f"{label}: wall, first submit to task end (s)",
            fmt(run["wall_s"], 1),
            fmt(ideal["makespan_s"], 1),
            fmt(wall_ratio, 2),
            f"<= {TARGET:.2f} (within 15 % of ideal)",
            verdict(wall_ratio <= TARGET),
        ),
        Row(
            f"{label}: vendor makespan, first job start to last job end (s)",
            fmt(run["vendor_makespan_s"], 1),
            fmt(ideal["makespan_s"], 1),
            fmt(ratio(run["vendor_makespan_s"], ideal["makespan_s"]), 2),
        ),
        Row(
            f"{label}: mean busy job slots (job-seconds / wall), of {schedule.slots}",
            fmt(run["busy_mean"], 1),
            fmt(ideal["busy_mean"], 1),
            fmt(ratio(run["busy_mean"], ideal["busy_mean"]), 2),
        ),
        Row(
            f"{label}: mean busy job slots until the last submit",
            fmt(run["busy_mean_submitting"], 1),
            fmt(ideal["busy_mean_submitting"], 1),
            fmt(ratio(run["busy_mean_submitting"], ideal["busy_mean_submitting"]), 2),
        ),
        Row(f"{label}: most jobs running at once", str(run["busy_most"]), str(schedule.slots)),
        Row(f"{label}: submits refused by the job limit (429)", f"{run['refusals_429']:,}", "0"),
        Row(
            f"{label}: results present and succeeded, each job submitted once",
            "yes" if ok else "; ".join(run["problems"]),
            f"{schedule.items:,} items, {schedule.jobs} jobs",
            "-",
            "all, once each",
            verdict(ok),
        ),
        Row(
            f"{label}: submits sent / accepted (in input order)",
            f"{run['submits']:,} / {run['accepted']:,} ({'yes' if run['input_order'] else 'no'})",
            f"{schedule.jobs} / {schedule.jobs}",
        ),
        Row(
            f"{label}: inline trigger runs (s in them)",
            f"{run['trigger_runs']} ({run['trigger_s']:.1f} s)" if run["trigger_runs"] else "0",
        ),
        Row(f"{label}: last job end to task end (s)", fmt(run["tail_s"], 2), "0"),
        Row(f"{label}: whole dag.test() (s)", fmt(run["dag_test_s"], 1)),
    ]


def run(quick: bool = False, provider: Path | None = None) -> Result:
    """Run every mode against the same schedule of jobs; return the table. ``provider``: a folder holding
    another ``airflow_jobstatus`` package to run the task on (e.g. a checkout of an earlier engine)."""
    from airflow_jobstatus.sandbox import SandboxServer
    from airflow_jobstatus.sandbox.zendesk_jobs import ZendeskSandboxConfig
    from benchmarks.timed_sandbox import TimedSandboxState

    items, slots, scale, modes = (
        (QUICK_ITEMS, QUICK_SLOTS, QUICK_SCALE, QUICK_MODES) if quick else (ITEMS, SLOTS, 1.0, MODES)
    )
    schedule = Schedule(items, slots, draw_durations(-(-items // PER_JOB), SEED, scale))
    ideal = schedule.ideal()
    engine = engine_digest(provider or REPO)
    print(
        f"(g) throughput: {items:,} items, {schedule.jobs} jobs on {slots} slots, jobs of "
        f"{min(schedule.durations):.1f}-{max(schedule.durations):.1f} s "
        f"({ideal['job_seconds']:.0f} job-seconds), ideal makespan {ideal['makespan_s']:.1f} s; "
        f"engine {engine}",
        flush=True,
    )
    config = ZendeskSandboxConfig(max_active_jobs=slots, job_limit_retry_after=1)
    runs: dict[str, dict[str, Any]] = {}
    with Workdir("g") as workdir, SandboxServer(state=TimedSandboxState(config), tls=True) as server:
        for label, deferrable in modes:
            runs[label] = run_mode(server, workdir, schedule, label, deferrable, provider)
    rows = [row for label, figures_ in runs.items() for row in mode_rows(label, figures_, ideal, schedule)]
    if engine != engine_digest(provider or REPO):
        print("  warning: the engine's files changed during the run", flush=True)
    notes = [
        f"{items:,} ticket updates (update_many with one change, {PER_JOB} items per job: {schedule.jobs} "
        f"jobs) through ZendeskBulkOperator with max_jobs_in_flight={slots}, on a sandbox account whose job "
        f"limit is {slots} (more are refused with 429, Retry-After 1 s). Run with dag.test() in a fresh "
        "interpreter (tests/airflow_harness.py; SQLite, triggers in-process), poll_interval = "
        f"max_poll_interval = {POLL_INTERVAL:g} s (a fixed interval: polling granularity stays small), the "
        f"connection's request budget raised to {REQUESTS_PER_MINUTE:,} a minute; results to object "
        "storage (a local folder), as for any input of more than 1,000 items.",
        f"Job durations: a seeded draw (seed {SEED}), uniform in {SHORT[0]:g}-{SHORT[1]:g} s, about "
        f"{LONG_SHARE:.0%} of them {LONG_FACTOR[0]:g}-{LONG_FACTOR[1]:g} times longer"
        + (f", all times {scale:g}" if scale != 1.0 else "")
        + f": {min(schedule.durations):.1f}-{max(schedule.durations):.1f} s, "
        f"{ideal['job_seconds']:.0f} job-seconds in all. Each chunk of input gets its own duration "
        "whatever the order of submits (benchmarks/timed_sandbox.py: the sandbox has no per-job duration "
        "for submitted jobs, so the benchmark overrides its ZendeskState.add_job).",
        f"Ideal (the anchor column): the same jobs scheduled greedily on {slots} slots in input order with "
        "no overhead (list scheduling): its makespan, and its job-seconds / makespan as busy slots. For "
        f"reference, waves of {slots} jobs in input order, each waiting for its slowest job, with no "
        f"overhead: {ideal['waves_makespan_s']:.1f} s "
        f"({ratio(ideal['waves_makespan_s'], ideal['makespan_s']):.2f} x the ideal).",
        "Wall: from the first submit's arrival at the sandbox to the task's end (its TaskInstance "
        "end_date), monotonic times shared by both processes; it leaves out Airflow's start-up and DAG "
        "parse, and keeps everything the engine does (submits, waits, resumes, the final merge and "
        "write of the results). Vendor makespan: first job created to last job ended.",
        "Busy slots: the sandbox's jobs (created, created + duration) while they count toward the job "
        "limit; the mean is job-seconds / wall, and, until the last submit, the busy slot-seconds up to "
        "the last job's creation / that span (the draining at the end left out).",
        "Checked: the DAG run succeeded; every result present, in input order, succeeded and naming the "
        "job whose request held that ticket; every chunk accepted once, every ticket in exactly one "
        "job (the sandbox's record of accepted jobs); the manifest's counts.",
        f"Engine measured: {provider or 'this tree'} ("
        + ", ".join(f"{name.rsplit('/', 1)[-1]} sha256 {digest}" for name, digest in engine.items())
        + ").",
    ]
    result = Result(
        key="g",
        anchor=f"ideal ({slots} slots, no overhead)",
        title=(
            f"(g) Throughput: {items:,} Zendesk items through ZendeskBulkOperator, {slots} job slots, "
            "jobs of varied length"
        ),
        rows=rows,
        notes=notes,
        raw={
            "durations": schedule.durations,
            "ideal": ideal,
            "runs": runs,
            "engine_sha256": engine,
            "provider": str(provider or REPO),
            "settings": {"items": items, "slots": slots, "poll_interval": POLL_INTERVAL, "seed": SEED},
        },
    )
    result.show()
    return result


def section(result: Result) -> str:
    """The RESULTS.md section of ``result`` alone, as ``benchmarks.report`` renders it (no summary)."""
    from benchmarks.report import table

    data = result.to_dict()
    lines = [f"## {data['title']}", "", *table(data), ""]
    lines += [f"- {note}" for note in data["notes"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Command line; ``--section FILE`` also writes the RESULTS.md section of the run there."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="2,000 items on 10 slots, short jobs, deferrable"
    )
    parser.add_argument("--section", type=Path, help="write the RESULTS.md section of this run here")
    parser.add_argument(
        "--provider",
        type=Path,
        help="a folder holding another airflow_jobstatus package (another checkout's) to run the task on",
    )
    args = parser.parse_args()
    if args.provider and not (args.provider / "airflow_jobstatus" / "__init__.py").exists():
        parser.error(f"{args.provider} holds no airflow_jobstatus package")
    result = run(args.quick, args.provider.resolve() if args.provider else None)
    if args.section:
        args.section.write_text(section(result))
        print(f"wrote {args.section}", flush=True)


if __name__ == "__main__":
    main()
