"""Progress lines for task logs: one line per change, never a secret."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from airflow_jobstatus.models import Job


class InfoLogger(Protocol):
    """Anything with ``info(msg, *args)``: a logging.Logger, Airflow's structlog logger..."""

    def info(self, event: Any, *args: Any, **kw: Any) -> Any:
        """Log at INFO."""


class ProgressReporter:
    """Logs ``job <id>: 412/1000 (41%) [working]`` each time a job's status or progress changes."""

    def __init__(self, logger: InfoLogger) -> None:
        self._log = logger
        self._seen: dict[str, tuple[object, ...]] = {}

    def report(self, jobs: Iterable[Job]) -> None:
        """Log the jobs whose state or progress differs from the last report."""
        for job in jobs:
            key = (job.vendor_status, job.progress, job.total, job.percent)
            if self._seen.get(job.id) == key:
                continue
            self._seen[job.id] = key
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
