"""Per-item results of bulk jobs, merged back into the order of the operator's input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow_jobstatus.ledger import JobRecord, describe_indexes
from airflow_jobstatus.models import ItemResult, Job, JobState
from airflow_jobstatus.outcomes import OnPartial, Verdict, count_states

#: Job states in which a job did not finish its work.
UNFINISHED_ENDS = (JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED)


def job_level_results(job: Job, indexes: Sequence[int]) -> dict[int, ItemResult]:
    """Item results for vendors without per-item results: each item shares its job's outcome."""
    ok = job.state in (JobState.SUCCEEDED, JobState.PARTIAL)
    error = None if ok else f"job {job.vendor_status}"
    return {
        index: ItemResult(index=index, success=ok, status=job.vendor_status, error=error, details=job.message)
        for index in indexes
    }


def missing_result(job: Job, index: int) -> ItemResult:
    """The result of an item its job did not report on: a failure that says why."""
    if job.state in UNFINISHED_ENDS:
        return ItemResult(
            index=index,
            success=False,
            status=job.vendor_status,
            error=f"job {job.vendor_status}",
            details=job.message or "the job ended before reporting this item",
        )
    return ItemResult(
        index=index,
        success=False,
        status=job.vendor_status,
        error="NoResult",
        details=f"job {job.id} ended {job.vendor_status} without a result for this item",
    )


@dataclass
class MergedResults:
    """The outcome of every input item (in input order) and what it means for the task."""

    items: list[dict[str, Any]]
    verdict: Verdict


def merge_results(
    count: int,
    owners: dict[int, JobRecord],
    jobs: dict[str, Job],
    per_job: dict[str, dict[int, ItemResult]],
    on_partial: OnPartial,
) -> MergedResults:
    """One result per input index, taken from the job that answers for it; then judge them.

    ``per_job`` maps each job id to its results keyed by input index. A failed, killed or expired job
    always fails the task (naming the input items it covered); failed items of finished jobs follow
    ``on_partial``. Every failed item is listed, none is dropped.
    """
    out: list[dict[str, Any]] = []
    failed_items: list[str] = []
    for index in range(count):
        record = owners[index]
        job = jobs[record.id]
        item = per_job[record.id].get(index) or missing_result(job, index)
        row = {**item.model_dump(mode="json"), "index": index, "job_id": job.id}
        out.append(row)
        if not item.success:
            failed_items.append(f"job {job.id} {item.model_copy(update={'index': index}).describe()}")
    answering = {record.id: record for record in owners.values()}
    failures: list[str] = []
    for job_id, record in answering.items():
        job = jobs[job_id]
        if job.state in UNFINISHED_ENDS:
            covered = [i for i in record.items if owners.get(i) is record]
            reason = job.message or "; ".join(job.errors) or "no reason given"
            failures.append(
                f"job {job.id} ended {job.vendor_status} ({reason}); it covered {describe_indexes(covered)}"
            )
    warnings: list[str] = []
    if failures or on_partial == "fail":
        failures.extend(failed_items)
    else:
        warnings.extend(failed_items)
    summary = count_states([jobs[job_id] for job_id in answering])
    failed_count = sum(1 for row in out if not row["success"])
    summary += f"; {count - failed_count} of {count} items succeeded"
    return MergedResults(out, Verdict(ok=not failures, summary=summary, failures=failures, warnings=warnings))
