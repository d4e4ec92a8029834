"""Per-item results of bulk jobs, merged back into the order of the operator's input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_jobstatus.core.ledger import JobRecord, describe_indexes
from airflow_jobstatus.core.models import ItemResult, Job, JobState
from airflow_jobstatus.core.outcomes import (
    UNFINISHED_ENDS,
    OnPartial,
    Verdict,
    count_states,
    end_reason,
    headline,
    job_failure,
    unfinished_headline,
)
from airflow_jobstatus.core.wording import plural


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
    failed_by_job: dict[str, list[str]] = {}  # for the headline: each failed item, by its job
    for index in range(count):
        record = owners[index]
        job = jobs[record.id]
        item = per_job[record.id].get(index) or missing_result(job, index)
        row = {**item.model_dump(mode="json"), "index": index, "job_id": job.id}
        out.append(row)
        if not item.success:
            described = item.model_copy(update={"index": index}).describe()
            failed_items.append(f"job {job.id} {described}")
            failed_by_job.setdefault(job.id, []).append(described)
    answering = {record.id: record for record in owners.values()}
    failures: list[str] = []
    unfinished: list[str] = []
    for job_id, record in answering.items():
        job = jobs[job_id]
        if job.state in UNFINISHED_ENDS:
            covered = describe_indexes([i for i in record.items if owners.get(i) is record])
            reason = end_reason(job)
            failures.append(f"job {job.id} ended {job.vendor_status} ({reason}); it covered {covered}")
            unfinished.append(f"{job_failure(job)} (it covered {covered})")
    warnings: list[str] = []
    if failures or on_partial == "fail":
        failures.extend(failed_items)
    else:
        warnings.extend(failed_items)
    summary = count_states([jobs[job_id] for job_id in answering])
    failed_count = sum(1 for row in out if not row["success"])
    summary += f"; {count - failed_count} of {plural(count, 'item')} succeeded"
    if unfinished:
        why = unfinished_headline(unfinished, len(answering))
    elif failures:
        why = _failed_items_headline(failed_count, count, failed_by_job, jobs)
    else:
        why = ""
    verdict = Verdict(ok=not failures, summary=summary, failures=failures, warnings=warnings, headline=why)
    return MergedResults(out, verdict)


def _failed_items_headline(
    failed_count: int, count: int, failed_by_job: dict[str, list[str]], jobs: dict[str, Job]
) -> str:
    """``2 of 5 items failed (job 7 partial): index 1, id 2: RecordInvalid: ...; ...``."""
    if len(failed_by_job) == 1:
        ((job_id, reasons),) = failed_by_job.items()
        where = f"job {job_id} {jobs[job_id].state.value}"
    else:
        where = f"in {plural(len(failed_by_job), 'job')}"
        reasons = [f"job {job_id} {line}" for job_id, lines in failed_by_job.items() for line in lines]
    return headline(f"{failed_count} of {plural(count, 'item')} failed ({where})", reasons)


@dataclass
class JobOutcome:
    """How one job of a task ended, for vendors whose jobs report no per-item results.

    ``covered`` are the input indexes this job answers for; ``rejected`` the items the vendor refused
    in the submit's answer (they were never part of the job's work).
    """

    record: JobRecord
    job: Job
    covered: list[int]

    @property
    def rejected(self) -> list[ItemResult]:
        """Items refused at submit (e.g. a 207's partial errors)."""
        return self.record.rejected

    @property
    def finished(self) -> bool:
        """True when the job did its work (SUCCEEDED or PARTIAL)."""
        return self.job.state not in UNFINISHED_ENDS

    @property
    def success(self) -> bool:
        """True when the job finished and refused nothing."""
        return self.finished and not self.rejected and self.job.state is not JobState.PARTIAL


def job_outcomes(
    owners: dict[int, JobRecord], answering: Sequence[JobRecord], jobs: dict[str, Job]
) -> list[JobOutcome]:
    """One outcome per job that still answers for items, in submit order."""
    return [
        JobOutcome(record, jobs[record.id], [i for i in record.items if owners.get(i) is record])
        for record in answering
    ]


def judge_job_outcomes(
    outcomes: Sequence[JobOutcome],
    on_partial: OnPartial,
    describe: Callable[[list[int]], str],
    noun: tuple[str, str] = ("item", "items"),
) -> Verdict:
    """Judge jobs without per-item results: a failed job names the items it covered (``describe``;
    ``noun``: what an item is called, singular and plural, for the headline's counts).

    When every job failed the task fails. Otherwise failed jobs and refused items follow
    ``on_partial``: listed as failures (``"fail"``), or as warnings (``"warn"``). None is dropped.
    """
    lines: list[str] = []
    unfinished: list[str] = []
    refused: list[str] = []
    for outcome in outcomes:
        job = outcome.job
        if not outcome.finished:
            reason = end_reason(job)
            lines.append(
                f"job {job.id} ended {job.vendor_status} ({reason}); it covered {describe(outcome.covered)}"
            )
            unfinished.append(f"{job_failure(job)} (it covered {plural(len(outcome.covered), *noun)})")
        lines += [f"job {job.id} refused {item.describe()}" for item in outcome.rejected]
        refused += [
            f"{item.id}: {item_reason(item)}" if item.id is not None else item.describe()
            for item in outcome.rejected
        ]
    all_failed = bool(outcomes) and not any(outcome.finished for outcome in outcomes)
    fail = all_failed or on_partial == "fail"
    summary = count_states([outcome.job for outcome in outcomes])
    why = ""
    if fail and lines:
        total = sum(len(outcome.covered) for outcome in outcomes)
        why = _outcomes_headline(outcomes, unfinished, refused, plural(total, *noun))
    return Verdict(
        ok=not (fail and lines),
        summary=summary,
        failures=lines if fail else [],
        warnings=[] if fail else lines,
        headline=why,
    )


def item_reason(item: ItemResult) -> str:
    """What went wrong with a failed item: its error and details, e.g. ``Media not found``."""
    return ": ".join(part for part in (item.error, item.details) if part) or "failed"


def _outcomes_headline(
    outcomes: Sequence[JobOutcome], unfinished: list[str], refused: list[str], total: str
) -> str:
    """Why jobs without per-item results fail the task: the jobs that did not finish first, then the items
    refused at submit (``1 of 2 media refused at submit (job 7): abc: Media not found``)."""
    if unfinished and not refused:
        return unfinished_headline(unfinished, len(outcomes))
    refusing = [outcome.job.id for outcome in outcomes if outcome.rejected]
    where = f"job {refusing[0]}" if len(refusing) == 1 else plural(len(refusing), "job")
    parts = [f"{len(refused)} of {total} refused at submit ({where})"]
    if unfinished:
        parts.insert(0, f"{len(unfinished)} of {plural(len(outcomes), 'job')} did not finish")
    return headline(" and ".join(parts), [*unfinished, *refused])
