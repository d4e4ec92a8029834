"""Judging finished jobs: what succeeded, what failed, and what a PARTIAL result does.

A failure message (:meth:`Verdict.error_message`) starts with its headline: one line that says why the
task failed (``job 42 failed: <the vendor's reason>``, ``2 of 5 items failed (job 7 partial): id 3:
RecordInvalid: ...``); the counts follow on the next line, then every failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_jobstatus.core.models import Job, JobState
from airflow_jobstatus.core.wording import plural
from airflow_jobstatus.errors import ConfigurationError

OnPartial = Literal["fail", "warn"]
ON_PARTIAL_CHOICES: tuple[OnPartial, ...] = ("fail", "warn")
#: How many failed items an exception message lists; the task log always lists all of them.
MESSAGE_ITEM_LIMIT = 20
#: About the most characters of a headline: the reasons that fit, then how many more there are.
HEADLINE_CHARS = 300


def check_on_partial(value: str) -> OnPartial:
    """Validate an ``on_partial`` argument before anything runs."""
    if value not in ON_PARTIAL_CHOICES:
        raise ConfigurationError(f"on_partial must be 'fail' or 'warn', not {value!r}")
    return value


@dataclass
class Verdict:
    """What a set of finished jobs means for the task: ``ok``, with every line worth logging.

    ``headline`` says in one line why the task fails (empty when it does not).
    """

    ok: bool
    summary: str
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    headline: str = ""

    def log_to(self, log: Any) -> None:
        """Write every warning and failure line to ``log`` and, when the task succeeds, the summary."""
        for line in self.warnings:
            log.warning("%s", line)
        for line in self.failures:
            log.error("%s", line)
        if self.ok:
            log.info("%s", self.summary)

    def error_message(self) -> str:
        """The exception message: the headline (why), the summary (counts), then the first failures (all
        of them are in the log)."""
        shown = self.failures[:MESSAGE_ITEM_LIMIT]
        more = len(self.failures) - len(shown)
        first = self.headline or (self.failures[0] if self.failures else self.summary)
        lines = [one_line(first), *([self.summary] if self.summary != first else []), *shown]
        if more:
            lines.append(f"... and {more} more (every one is listed in the task log)")
        return "\n".join(lines)


#: Job states in which a job did not finish its work.
UNFINISHED_ENDS = (JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED)
#: How a headline says a job ended.
ENDED_AS = {
    JobState.FAILED: "failed",
    JobState.CANCELLED: "was cancelled",
    JobState.EXPIRED: "expired",
    JobState.PARTIAL: "partly failed",
}


def end_reason(job: Job) -> str:
    """Why a job ended as it did, for failure lines: its message, else its errors."""
    return job.message or "; ".join(job.errors) or "no reason given"


def partial_reason(job: Job) -> str:
    """Why a PARTIAL job that reports no failed items is partial: its errors, else its message."""
    return "; ".join(job.errors) or job.message or "some of its work failed"


def job_failure(job: Job) -> str:
    """A job that did not do all its work, for a headline: ``job 42 failed: <reason>``."""
    ended = ENDED_AS.get(job.state, f"ended {job.vendor_status}")
    reason = partial_reason(job) if job.state is JobState.PARTIAL else end_reason(job)
    return f"job {job.id} {ended}: {reason}"


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (line breaks too) made one space."""
    return " ".join(text.split())


def headline(what: str, reasons: Sequence[str], limit: int = HEADLINE_CHARS) -> str:
    """``what: reason; reason`` on one line: the reasons that fit in about ``limit`` characters (the first
    always, shortened if need be), then ``; and N more``."""
    text = one_line(what)
    if not reasons:
        return text
    shown: list[str] = []
    for reason in reasons:
        reason = one_line(reason)
        if shown and len(text) + 2 + len("; ".join([*shown, reason])) > limit:
            break
        shown.append(reason)
    if len(shown) == 1 and len(text) + 2 + len(shown[0]) > limit:
        shown[0] = shown[0][: max(limit - len(text) - 5, 40)] + "..."
    more = len(reasons) - len(shown)
    return f"{text}: {'; '.join(shown)}" + (f"; and {more} more" if more else "")


def unfinished_headline(unfinished: Sequence[str], job_count: int) -> str:
    """The headline for jobs that did not finish (``unfinished``: one :func:`job_failure`-style line each,
    of ``job_count`` jobs): that line for a task of one job, else ``2 of 5 jobs did not finish: ...``."""
    if job_count == 1 and len(unfinished) == 1:
        return headline(unfinished[0], [])
    return headline(f"{len(unfinished)} of {plural(job_count, 'job')} did not finish", unfinished)


def count_states(jobs: Sequence[Job]) -> str:
    """How many jobs ended in each state, e.g. ``3 jobs ended: 2 succeeded, 1 partial``."""
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.state.value] = counts.get(job.state.value, 0) + 1
    return f"{plural(len(jobs), 'job')} ended: " + ", ".join(f"{n} {state}" for state, n in counts.items())


def judge(jobs: Sequence[Job], on_partial: OnPartial) -> Verdict:
    """Decide whether finished jobs succeed, listing every failed job and failed item."""
    failures: list[str] = []
    warnings: list[str] = []
    for job in jobs:
        if job.state in UNFINISHED_ENDS:
            failures.append(f"job {job.id} ended {job.vendor_status}: {end_reason(job)}")
        item_lines = [f"job {job.id} item {item.describe()}" for item in job.failed_items]
        if job.state is JobState.PARTIAL and not item_lines:  # a vendor that reports errors, not items
            item_lines = [f"job {job.id} ended {job.vendor_status}: {partial_reason(job)}"]
        if job.state is JobState.PARTIAL and on_partial == "fail":
            failures.extend(item_lines)
        else:
            warnings.extend(item_lines)
    return Verdict(
        ok=not failures,
        summary=count_states(jobs),
        failures=failures,
        warnings=warnings,
        headline=_judged_headline(jobs) if failures else "",
    )


def _judged_headline(jobs: Sequence[Job]) -> str:
    unfinished = [job_failure(job) for job in jobs if job.state in UNFINISHED_ENDS]
    if unfinished:
        return unfinished_headline(unfinished, len(jobs))
    partial = [job for job in jobs if job.state is JobState.PARTIAL]
    items = [(job, item) for job in partial for item in job.failed_items]
    if not items:  # jobs that report errors, not items
        if len(jobs) == 1:
            return headline(job_failure(partial[0]), [])
        return headline(
            f"{len(partial)} of {plural(len(jobs), 'job')} partly failed",
            [f"job {job.id}: {partial_reason(job)}" for job in partial],
        )
    totals = [job.total for job in partial]
    if all(totals):
        counted = f"{len(items)} of {plural(sum(t or 0 for t in totals), 'item')}"
    else:
        counted = plural(len(items), "item")
    if len(partial) == 1:
        where = f"job {partial[0].id} partial"
        reasons = [item.describe() for _, item in items]
    else:
        where = f"{plural(len(partial), 'job')} partial"
        reasons = [f"job {job.id} {item.describe()}" for job, item in items]
    return headline(f"{counted} failed ({where})", reasons)
