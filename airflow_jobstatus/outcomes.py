"""Judging finished jobs: what succeeded, what failed, and what a PARTIAL result does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.models import Job, JobState

OnPartial = Literal["fail", "warn"]
ON_PARTIAL_CHOICES: tuple[OnPartial, ...] = ("fail", "warn")
#: How many failed items an exception message lists; the task log always lists all of them.
MESSAGE_ITEM_LIMIT = 20


def check_on_partial(value: str) -> OnPartial:
    """Validate an ``on_partial`` argument before anything runs."""
    if value not in ON_PARTIAL_CHOICES:
        raise ConfigurationError(f"on_partial must be 'fail' or 'warn', not {value!r}")
    return value


@dataclass
class Verdict:
    """What a set of finished jobs means for the task: ``ok``, with every line worth logging."""

    ok: bool
    summary: str
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error_message(self) -> str:
        """The exception message: the summary and the first failures (all of them are in the log)."""
        shown = self.failures[:MESSAGE_ITEM_LIMIT]
        more = len(self.failures) - len(shown)
        lines = [self.summary, *shown]
        if more:
            lines.append(f"... and {more} more (every one is listed in the task log)")
        return "\n".join(lines)


#: Job states in which a job did not finish its work.
UNFINISHED_ENDS = (JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED)


def end_reason(job: Job) -> str:
    """Why a job ended as it did, for failure lines: its message, else its errors."""
    return job.message or "; ".join(job.errors) or "no reason given"


def count_states(jobs: Sequence[Job]) -> str:
    """How many jobs ended in each state, e.g. ``3 jobs ended: 2 succeeded, 1 partial``."""
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.state.value] = counts.get(job.state.value, 0) + 1
    noun = "job" if len(jobs) == 1 else "jobs"
    return f"{len(jobs)} {noun} ended: " + ", ".join(f"{n} {state}" for state, n in counts.items())


def judge(jobs: Sequence[Job], on_partial: OnPartial) -> Verdict:
    """Decide whether finished jobs succeed, listing every failed job and failed item."""
    failures: list[str] = []
    warnings: list[str] = []
    for job in jobs:
        if job.state in UNFINISHED_ENDS:
            failures.append(f"job {job.id} ended {job.vendor_status}: {end_reason(job)}")
        item_lines = [f"job {job.id} item {item.describe()}" for item in job.failed_items]
        if job.state is JobState.PARTIAL and not item_lines:  # a vendor that reports errors, not items
            reason = "; ".join(job.errors) or job.message or "some of its work failed"
            item_lines = [f"job {job.id} ended {job.vendor_status}: {reason}"]
        if job.state is JobState.PARTIAL and on_partial == "fail":
            failures.extend(item_lines)
        else:
            warnings.extend(item_lines)
    return Verdict(
        ok=not failures,
        summary=count_states(jobs),
        failures=failures,
        warnings=warnings,
    )
