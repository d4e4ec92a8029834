"""The ledger's cost grows with the items, not with their square (issue 15): the operator flow driven over
thousands of items with a vendor in memory, counting what goes to the task state store, XCom and the
trigger. ``benchmarks/ledger_cost.py`` measures the same up to 10^6 items."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_jobstatus.core.ledger import LEDGER_KEY, Ledger
from airflow_jobstatus.core.models import Job, JobState
from airflow_jobstatus.hooks.zendesk import ZendeskJobHook
from airflow_jobstatus.operators.base import SubmitJobOperator
from airflow_jobstatus.triggers.job import WaitEvent

QUIET = logging.getLogger("tests.ledger_scale")
QUIET.setLevel(logging.WARNING)


class CountingStore:
    """A task state store keeping JSON text, counting bytes written and keys read."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.written = 0
        self.reads: Counter[str] = Counter()

    def get(self, key: str, default: Any = None) -> Any:
        self.reads[key] += 1
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        self.values[key] = text = json.dumps(value)
        self.written += len(text)


@pytest.fixture(autouse=True)
def _rows_in_xcom(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests measure the ledger: every result stays in XCom (no object storage), however many."""
    monkeypatch.setenv("AIRFLOW__JOBSTATUS__MAX_XCOM_ITEMS", str(10**9))


class CountingTi:
    try_number = 1
    map_index = -1

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.pushed: Counter[str] = Counter()

    def xcom_push(self, key: str, value: Any) -> None:
        self.values[key] = text = json.dumps(value)
        self.pushed[key] += len(text)

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int | None = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else None


def job(job_id: str, state: JobState) -> Job:
    return Job(vendor="test", id=job_id, state=state, vendor_status=state.value)


class Vendor:
    """Submits answer queued jobs with fresh ids; reads answer them completed."""

    def __init__(self) -> None:
        self.submits = 0
        #: What the operator resolves before a submit counts as sent (a real hook's connection).
        self.transport = object()

    def get_jobs(self, job_ids: Sequence[str]) -> list[Job]:
        return [job(job_id, JobState.SUCCEEDED) for job_id in job_ids]


class MemoryOperator(SubmitJobOperator):
    hook_class = ZendeskJobHook  # its class path and XCom form only: the vendor is `vendor`
    log = QUIET  # type: ignore[assignment]

    def __init__(self, *, count: int, **kwargs: Any) -> None:
        super().__init__(task_id="bulk", poll_interval=1.0, **kwargs)
        self.count, self.vendor = count, Vendor()

    @property
    def hook(self) -> Any:  # type: ignore[override]
        return self.vendor

    def prepare_items(self) -> list[Any]:
        return list(range(self.count))

    def submit_items(self, items: list[Any]) -> Job:
        self.vendor.submits += 1
        return job(f"{self.vendor.submits:032x}", JobState.QUEUED)


def run(count: int, in_flight: int = 10) -> tuple[list[Any], CountingStore, CountingTi, list[int]]:
    """Execute, then resume after each deferral as a triggerer would, until the task returns."""
    operator = MemoryOperator(count=count, max_jobs_in_flight=in_flight)
    store, ti = CountingStore(), CountingTi()
    context: Any = {"ti": ti, "task_state_store": store}
    resumes: list[int] = []
    event: dict[str, Any] | None = None
    while True:
        try:
            rows = operator.execute(context) if event is None else operator.execute_complete(context, event)
            return rows, store, ti, resumes
        except TaskDeferred as deferred:
            _, kwargs = deferred.trigger.serialize()
            resume = json.loads(json.dumps(kwargs))["resume"]
            resumes.append(len(json.dumps(resume)))
            event = WaitEvent("ended", "ended", [], resume).to_payload()


def test_bytes_written_per_item_stay_flat_from_5000_to_50000_items() -> None:
    small_rows, small, small_ti, small_resumes = run(5_000)
    rows, large, ti, resumes = run(50_000)
    assert [row["index"] for row in rows] == list(range(50_000)) and all(row["success"] for row in rows)
    assert len({row["job_id"] for row in rows}) == 500 and len(small_rows) == 5_000
    per_item = (small.written / 5_000, large.written / 50_000)
    assert per_item[1] < 1.2 * per_item[0] and per_item[1] < 80, per_item  # before issue 15: ~5x more
    assert ti.pushed["job_ids"] / 50_000 <= small_ti.pushed["job_ids"] / 5_000  # job_ids: flat too
    assert len(resumes) == 50 and max(resumes) < 6_000 and max(resumes) < 1.2 * max(small_resumes)
    # the ended jobs are read back only to push job_ids as they grow by 1/8, and at the end: O(jobs)
    segments = [key for key in large.values if key != LEDGER_KEY]
    assert len(segments) == 500 // 32
    assert 0 < sum(large.reads[key] for key in segments) <= 10 * len(segments)
    # the whole ledger is still there, in the head and its segments, and reads back complete
    ledger = Ledger.from_json(json.loads(large.values[LEDGER_KEY]))
    assert not ledger.complete and ledger.active_ids() == []
    ledger.load(large)
    assert ledger.job_ids() == [row["job_id"] for row in rows[::100]]
    assert json.loads(ti.values["job_ids"]) == ledger.job_ids()  # all of them at the end


def test_job_ids_reach_xcom_after_each_submit_while_there_are_few() -> None:
    operator = MemoryOperator(count=1_000, max_jobs_in_flight=3, deferrable=False)
    ti = CountingTi()
    pushes: list[int] = []
    original = ti.xcom_push

    def push(key: str, value: Any) -> None:
        if key == "job_ids":
            pushes.append(len(value))
        original(key, value)

    ti.xcom_push = push  # type: ignore[method-assign]
    rows = operator.execute({"ti": ti, "task_state_store": CountingStore()})
    assert len(rows) == 1_000
    assert pushes == list(range(1, 11))  # one push per submit, each listing every job so far
