"""(f) Ledger cost: the bookkeeping of one bulk submission of 10^4, 10^5 and 10^6 items (100 per job, so up
to 10,000 jobs, 10 in flight): bytes written to the task state store, to XCom (``job_ids``) and into the
trigger's ``resume``, and the CPU it takes. No HTTP: this measures our bookkeeping, not a vendor.

Ours: the real operator flow (``SubmitJobOperator.execute`` -> submit waves -> ``defer`` ->
``execute_complete`` ...) against a fake vendor whose jobs end at once, a task state store and a task
instance in memory that count what is written (JSON, as Airflow stores it), each deferral's trigger
serialized and resumed as a triggerer would. Anchor: the bookkeeping of the release before issue 15 (a
copy of its ledger, driven with its call pattern: the whole ledger written twice per submit and carried
by each deferral, ``job_ids`` pushed whole after each submit, owners recomputed per chunk).

``python -m benchmarks.ledger_cost [--quick]``
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import Result, Row, command_line, fmt, ratio, verdict

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
ANCHOR_SIZES = (10_000, 100_000)  # the anchor at 10^6 writes ~10 GB and takes ~20 min
QUICK_ANCHOR_SIZES = (10_000,)
IN_FLIGHT = 10
#: Ours is flat when the bytes per item at the largest size are at most this times those at the smallest.
FLAT = 1.5


QUIET = logging.getLogger("benchmarks.ledger_cost.operator")
QUIET.setLevel(logging.WARNING)


@dataclass
class Meter:
    """What one run wrote, by destination (bytes and writes), and its CPU time."""

    store_bytes: int = 0
    store_writes: int = 0
    store_keys: set[str] = field(default_factory=set)  # see figures()
    job_ids_bytes: int = 0
    job_ids_writes: int = 0
    waves_bytes: int = 0
    resume_bytes: int = 0
    resume_max: int = 0
    deferrals: int = 0
    seconds: float = 0.0
    finish_seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        """Plain JSON (the number of keys for the set of them)."""
        return {**vars(self), "store_keys": len(self.store_keys)}

    def per_item(self, items: int) -> dict[str, float]:
        """The figures per input item."""
        return {
            "store": self.store_bytes / items,
            "job_ids": self.job_ids_bytes / items,
            "resume": self.resume_bytes / items,
        }


class CountingStore:
    """A task state store in memory that keeps values as JSON text and counts what is written."""

    def __init__(self, meter: Meter) -> None:
        self.meter, self.values = meter, {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        text = json.dumps(value)
        self.values[key] = text
        self.meter.store_bytes += len(text)
        self.meter.store_writes += 1
        self.meter.store_keys.add(key)


class CountingTi:
    """The task instance the operator sees: its try number and an XCom that counts what is pushed."""

    try_number = 1
    map_index = -1
    task_id = "bench"

    def __init__(self, meter: Meter) -> None:
        self.meter, self.values = meter, {}

    def xcom_push(self, key: str, value: Any) -> None:
        text = json.dumps(value)
        self.values[key] = text
        if key == "job_ids":
            self.meter.job_ids_bytes += len(text)
            self.meter.job_ids_writes += 1
        elif key.startswith("jobs_wave_"):
            self.meter.waves_bytes += len(text)

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int | None = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else None


def bench_operator(count: int, meter: Meter) -> Any:
    """A SubmitJobOperator over ``count`` items whose vendor is a function: submits answer queued jobs
    with fresh 32-hex ids, status reads answer them completed. It notes when ``_finish`` starts."""
    from airflow_jobstatus.core.models import Job, JobState
    from airflow_jobstatus.hooks.zendesk import ZendeskJobHook
    from airflow_jobstatus.operators.base import SubmitJobOperator

    def job(number: int | str, state: JobState) -> Job:
        return Job(vendor="bench", id=str(number), state=state, vendor_status=state.value)

    class FakeVendor:
        submitted = 0
        transport = None  # what the operator resolves before a submit counts as sent

        def get_jobs(self, job_ids: Sequence[str]) -> list[Job]:
            return [job(job_id, JobState.SUCCEEDED) for job_id in job_ids]

    vendor, items = FakeVendor(), list(range(count))

    class BenchOperator(SubmitJobOperator):
        hook_class = ZendeskJobHook  # its class path and its XCom form of jobs; never called
        log = QUIET  # type: ignore[assignment]

        @property
        def hook(self) -> Any:  # type: ignore[override]
            return vendor

        def prepare_items(self) -> list[Any]:
            return items

        def submit_items(self, chunk: list[Any]) -> Job:
            vendor.submitted += 1
            return job(f"{vendor.submitted:032x}", JobState.QUEUED)

        def _finish(self, context: Any, items: list[Any], ledger: Any) -> Any:
            meter.finish_seconds = time.process_time()
            return super()._finish(context, items, ledger)

    operator = BenchOperator(task_id="bench", max_jobs_in_flight=IN_FLIGHT, poll_interval=1.0)
    return operator


def run_ours(count: int) -> Meter:
    """The operator's flow over ``count`` items, deferral after deferral, until it returns."""
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_jobstatus.triggers.job import WaitEvent

    # The figure is the ledger's: every result stays in XCom here, however many (no object storage).
    os.environ["AIRFLOW__JOBSTATUS__MAX_XCOM_ITEMS"] = str(10**9)
    meter = Meter()
    operator = bench_operator(count, meter)
    context: Any = {"ti": CountingTi(meter), "task_state_store": CountingStore(meter)}
    started = time.process_time()
    event: dict[str, Any] | None = None
    while True:
        try:
            result = operator.execute(context) if event is None else operator.execute_complete(context, event)
            break
        except TaskDeferred as deferred:
            _, kwargs = deferred.trigger.serialize()
            text = json.dumps(kwargs)  # what the triggerer keeps, and hands back in the event
            resume = json.loads(text)["resume"]
            size = len(json.dumps(resume))
            meter.deferrals += 1
            meter.resume_bytes += size
            meter.resume_max = max(meter.resume_max, size)
            event = WaitEvent("ended", "wave ended", [], resume).to_payload()
    ended = time.process_time()
    meter.seconds, meter.finish_seconds = meter.finish_seconds - started, ended - meter.finish_seconds
    assert len(result) == count and all(row["success"] for row in result), "the run went wrong"
    return meter


# ----- the anchor: the ledger of the release before issue 15, driven its way ------------------------------
@dataclass
class EarlierLedger:
    """A copy of that release's Ledger (what its operator called per submit and per wave)."""

    fingerprint: str
    try_number: int
    jobs: list[tuple[str, list[int], str | None]] = field(default_factory=list)
    unconfirmed: list[int] = field(default_factory=list)
    redo: list[int] = field(default_factory=list)
    waves: int = 0

    def owners(self) -> dict[int, tuple[str, list[int], str | None]]:
        owner = {}
        for record in self.jobs:
            for index in record[1]:
                owner[index] = record
        return owner

    def pending(self, count: int) -> list[int]:
        owned, redo, blocked = self.owners(), set(self.redo), set(self.unconfirmed)
        return [i for i in range(count) if (i not in owned or i in redo) and i not in blocked]

    def active_ids(self) -> list[str]:
        live = {record[0] for record in self.owners().values()}
        return [r[0] for r in self.jobs if r[0] in live and r[2] is None]

    def to_json(self) -> dict[str, Any]:
        from airflow_jobstatus.core.ledger import to_ranges

        return {
            "fingerprint": self.fingerprint,
            "try": self.try_number,
            "jobs": [{"id": i, "items": to_ranges(items), "state": s} for i, items, s in self.jobs],
            "unconfirmed": to_ranges(self.unconfirmed),
            "redo": to_ranges(self.redo),
            "waves": self.waves,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EarlierLedger:
        from airflow_jobstatus.core.ledger import from_ranges

        jobs = [(r["id"], from_ranges(r["items"]), r["state"]) for r in data["jobs"]]
        return cls(
            data["fingerprint"], data["try"], jobs, from_ranges(data["unconfirmed"]), [], data["waves"]
        )


def run_anchor(count: int) -> Meter:
    """The earlier release's bookkeeping calls, in its order, over ``count`` items (jobs end at once)."""
    meter = Meter()
    store, ti = CountingStore(meter), CountingTi(meter)
    started = time.process_time()
    ledger, submitted = EarlierLedger("f" * 32, 1), 0
    while True:
        pending = ledger.pending(count)
        for start in range(0, len(pending), 100):
            if len(ledger.active_ids()) >= IN_FLIGHT:
                break
            chunk = pending[start : start + 100]
            ledger.unconfirmed = list(chunk)
            store.set("ledger", ledger.to_json())
            submitted += 1
            ledger.jobs.append((f"{submitted:032x}", list(chunk), None))
            ledger.unconfirmed = []
            store.set("ledger", ledger.to_json())
            ti.xcom_push("job_ids", [record[0] for record in ledger.jobs])
        active = ledger.active_ids()
        if not active:
            break
        resume = json.dumps({"ledger": ledger.to_json(), "deadline": 0.0})
        meter.deferrals += 1
        meter.resume_bytes += len(resume)
        meter.resume_max = max(meter.resume_max, len(resume))
        ledger = EarlierLedger.from_json(json.loads(resume)["ledger"])
        done = set(ledger.active_ids())
        ledger.jobs = [(i, items, "succeeded" if i in done else s) for i, items, s in ledger.jobs]
        ledger.waves += 1
        store.set("ledger", ledger.to_json())
    meter.seconds = time.process_time() - started
    return meter


def mb(value: float) -> str:
    return fmt(value / 1e6, 2)


def run(quick: bool = False) -> Result:
    """Run ours and the anchor at each size; return the table."""
    sizes, anchor_sizes = (QUICK_SIZES, QUICK_ANCHOR_SIZES) if quick else (SIZES, ANCHOR_SIZES)
    print(
        f"(f) ledger cost: {', '.join(f'{n:,}' for n in sizes)} items, {IN_FLIGHT} jobs in flight", flush=True
    )
    ours: dict[int, Meter] = {}
    anchor: dict[int, Meter] = {}
    for count in sizes:
        ours[count] = run_ours(count)
        print(f"  ours {count:,}: {ours[count].figures()}", flush=True)
        if count in anchor_sizes:
            anchor[count] = run_anchor(count)
            print(f"  anchor {count:,}: {anchor[count].figures()}", flush=True)
    small, large = min(sizes), max(sizes)
    growth = ratio(ours[large].per_item(large)["store"], ours[small].per_item(small)["store"])
    rows: list[Row] = []

    def compared(label: str, ours_value: float, anchor_value: float | None, digits: int) -> Row:
        """A row with our figure, the anchor's (when it ran) and their ratio."""
        if anchor_value is None:
            return Row(label, fmt(ours_value, digits), "-", "-")
        return Row(
            label, fmt(ours_value, digits), fmt(anchor_value, digits), fmt(ratio(ours_value, anchor_value), 4)
        )

    for count in sizes:
        o, a = ours[count], anchor.get(count)
        per, aper = o.per_item(count), a.per_item(count) if a else None
        rows += [
            compared(
                f"task state store: bytes written per item ({count:,} items)",
                per["store"],
                aper["store"] if aper else None,
                1,
            ),
            Row(
                f"task state store: MB written, writes, keys ({count:,} items)",
                f"{mb(o.store_bytes)} MB, {o.store_writes:,}, {len(o.store_keys):,}",
                f"{mb(a.store_bytes)} MB, {a.store_writes:,}, {len(a.store_keys)}" if a else "-",
            ),
            compared(
                f"XCom job_ids: bytes pushed per item ({count:,} items)",
                per["job_ids"],
                aper["job_ids"] if aper else None,
                1,
            ),
            Row(
                f"trigger resume: largest, KB ({o.deferrals:,} deferrals, {count:,} items)",
                fmt(o.resume_max / 1e3, 1),
                fmt(a.resume_max / 1e3, 1) if a else "-",
            ),
            compared(
                f"CPU s, submit and wait bookkeeping ({count:,} items)",
                o.seconds,
                a.seconds if a else None,
                2,
            ),
            Row(f"CPU s, merging the results at the end ({count:,} items)", fmt(o.finish_seconds, 2)),
        ]
    rows.append(
        Row(
            f"store bytes per item, {large:,} / {small:,} items",
            fmt(growth, 2),
            target=f"<= {FLAT} (flat)",
            met=verdict(growth <= FLAT),
        )
    )
    result = Result(
        key="f",
        title=f"(f) Ledger cost: one submission of up to {large:,} items, bookkeeping only",
        anchor="before issue 15",
        rows=rows,
        notes=[
            "Ours drives the real SubmitJobOperator flow (execute, submit waves, defer, execute_complete, "
            "_finish) with a fake vendor: 100 items per job, 10 jobs in flight, every job ended by the next "
            "status read. Each deferral's trigger is serialized to JSON and its resume handed back as the "
            "triggerer would. Stores keep JSON text; bytes are the lengths of that text.",
            "The anchor replays the earlier release's bookkeeping with a copy of its ledger: the whole "
            "ledger written before and after each submit and carried by each deferral, job_ids pushed "
            "whole after each submit, pending/active recomputed from every record. Its CPU is a lower "
            "bound (no operator, no jobs built). It is not run at 10^6 items (~10 GB, ~20 min).",
            "jobs_wave_N XCom (the jobs' final states, results included) and the return value are the "
            "same for both and O(items); left out of the table.",
        ],
        raw={
            "ours": {n: m.figures() for n, m in ours.items()},
            "anchor": {n: m.figures() for n, m in anchor.items()},
        },
    )
    result.show()
    return result


def main() -> None:
    """Command line."""
    command_line(run, __doc__, f"{', '.join(map(str, QUICK_SIZES))} items (anchor: {QUICK_ANCHOR_SIZES[0]})")


if __name__ == "__main__":
    main()
