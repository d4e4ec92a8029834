"""Progress lines for task logs: one line per step of progress or change of status, never a secret."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Protocol

from airflow_jobstatus.core.models import Job


class InfoLogger(Protocol):
    """Anything with ``info(msg, *args)``: a logging.Logger, Airflow's structlog logger..."""

    def info(self, event: Any, *args: Any, **kw: Any) -> Any:
        """Log at INFO."""


#: A progress line is logged when the job's status changes, or when its progress moved by at least this
#: many percentage points, or moved at all and this many seconds passed since its last line.
PROGRESS_STEP_PERCENT = 10.0
PROGRESS_QUIET_SECONDS = 30.0


class ProgressReporter:
    """Logs ``job <id>: 412/1000 (41%) [working]`` as a job moves: at each change of status, and as its
    progress changes, at most one line per 10 points of progress or 30 seconds (a triggerer holding a
    thousand waits would otherwise spend most of its time writing logs)."""

    def __init__(self, logger: InfoLogger) -> None:
        self._log = logger
        self._seen: dict[str, tuple[str, float | None, float, tuple[object, ...]]] = {}

    def report(self, jobs: Iterable[Job]) -> None:
        """Log the jobs that moved enough since their last line."""
        now = time.monotonic()
        for job in jobs:
            fraction = job.fraction_done()
            done = None if fraction is None else fraction * 100.0
            key = (job.vendor_status, job.progress, job.total, job.percent)
            last = self._seen.get(job.id)
            if last is not None:
                status, logged_done, logged_at, last_key = last
                if last_key == key:
                    continue
                if status == job.vendor_status and not job.state.is_terminal:
                    stepped = (
                        done is not None
                        and logged_done is not None
                        and done - logged_done >= (PROGRESS_STEP_PERCENT)
                    )
                    if not stepped and now - logged_at < PROGRESS_QUIET_SECONDS:
                        continue
            self._seen[job.id] = (job.vendor_status, done, now, key)
            self._log.info(progress_line(job))

    def describe(self, jobs: Iterable[Job]) -> str:
        """The last known progress of these jobs, for a timeout message."""
        return "; ".join(progress_line(job) for job in jobs)


def progress_line(job: Job) -> str:
    """``job 7: 412/1000 (41%) [working]``, or ``job 7: started`` when the vendor reports no progress."""
    progress = job.progress_text()
    if progress == job.vendor_status:
        return f"job {job.id}: {progress}"
    return f"job {job.id}: {progress} [{job.vendor_status}]"
