"""The Zendesk job store: config knobs, the job model, and how a job's state follows the clock.

No task moves a job along: `ZendeskJob.render()` computes the state from the clock each time it is read.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

from .ratelimit import SlidingWindow
from .store import VendorStore, timed_status
from .zendesk_results import CREATE, JOB_TYPES, PURGE, UPDATE, UPSERT, JobItem, JobType, final_results

T = TypeVar("T")

OUTCOMES = ("completed", "failed", "killed")


@dataclass
class ZendeskSandboxConfig:
    """Knobs of the emulated Zendesk account; `reset()` returns to the config the state was built with."""

    email: str = "agent@example.com"
    api_token: str = "sandbox-token"
    password: str = "sandbox-password"
    oauth_token: str = "sandbox-oauth-token"
    job_seconds: float = 3.0
    #: Durations of new jobs in turn, cycling (jobs of varied length); empty: every job `job_seconds`.
    job_seconds_cycle: list[float] = field(default_factory=list)
    queued_fraction: float = 0.2
    max_active_jobs: int = 30
    job_limit_retry_after: float = 1
    requests_per_minute: int | None = None
    retention_seconds: float = 86400.0
    max_items: int = 100
    fail_ids: set[int] = field(default_factory=set)


class _Knob(Generic[T]):
    """Exposes one field of `ZendeskState.config` as an attribute of the state itself."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> T:
        value: T = getattr(obj.config, self.name)
        return value

    def __set__(self, obj: Any, value: T) -> None:
        setattr(obj.config, self.name, value)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ZendeskJob:
    """One job. `created` is on the state's clock (monotonic), `created_wall` is `time.time()`."""

    id: str
    job_type: str
    total: int | None
    created: float
    created_wall: float
    duration: float
    queued_for: float
    outcome: str
    results: list[dict[str, Any]] | dict[str, Any]
    stop_at: int
    message: str | None = None
    unknown_status: str | None = None
    expires_after: float | None = None
    bare: bool = False

    def status_at(self, now: float) -> str:
        """Return the status the job reports at `now`."""
        running = self.unknown_status or "working"
        return timed_status(now - self.created, self.duration, self.queued_for, running, self.outcome)

    def is_active(self, now: float) -> bool:
        """Tell whether the job is queued or running at `now` (it counts toward the job limit)."""
        return now - self.created < self.duration

    def is_expired(self, now: float) -> bool:
        """Tell whether the status data is gone at `now` (the status endpoint then answers 404)."""
        return self.expires_after is not None and now - self.created >= self.expires_after

    def render(self, now: float, base_url: str, as_submitted: bool = False) -> dict[str, Any]:
        """Return the job-status JSON object as read at `now` (`as_submitted`: the queued answer of a
        submit, which Zendesk always gives, even for a job set to finish at once)."""
        status = "queued" if as_submitted else self.status_at(now)
        progress: int | None = None
        results: Any = None
        message: str | None = None
        if status == "completed":
            progress, results = self.total, self.results
            message = f"Completed at {_iso(self.created_wall + self.duration)}"
        elif status in ("failed", "killed"):
            progress = None if self.total is None else self.stop_at
            if status == "failed" and isinstance(self.results, list) and self.stop_at:
                results = self.results[: self.stop_at]
            default = "Job failed: sandbox injected failure" if status == "failed" else "Killed by system"
            message = self.message or default
        elif status != "queued" and self.total is not None:
            span = max(self.duration - self.queued_for, 1e-9)
            progress = min(self.total, math.floor(self.total * (now - self.created - self.queued_for) / span))
        return {
            "id": self.id,
            "url": f"{base_url}/api/v2/job_statuses/{self.id}.json",
            "total": self.total,
            "progress": progress,
            "status": status,
            "message": message,
            "results": results,
            "job_type": self.job_type,
        }


@dataclass(frozen=True)
class Submit:
    """One accepted job-creating request: method, path, number of items, and the job it created."""

    method: str
    path: str
    count: int
    job_id: str


class ZendeskState(VendorStore[ZendeskSandboxConfig]):
    """The emulated Zendesk account: config knobs, jobs, accepted submits, and known users."""

    job_seconds: _Knob[float] = _Knob()
    max_active_jobs: _Knob[int] = _Knob()
    job_limit_retry_after: _Knob[float] = _Knob()
    requests_per_minute: _Knob[int | None] = _Knob()
    fail_ids: _Knob[set[int]] = _Knob()

    def clear(self) -> None:
        """Forget every job, submit and user."""
        with self.lock:
            self.jobs: dict[str, ZendeskJob] = {}
            self.submits: list[Submit] = []
            self.emails: dict[str, int] = {}
            self.external_ids: dict[str, int] = {}
            self.rate_window = SlidingWindow(60.0)
            self._next_id = 10001
            self._jobs_made = 0

    def _next_duration(self) -> float:
        """The duration of a new job given none: the next of `job_seconds_cycle`, else `job_seconds`."""
        cycle = self.config.job_seconds_cycle
        with self.lock:
            self._jobs_made += 1
            return float(cycle[(self._jobs_made - 1) % len(cycle)]) if cycle else self.config.job_seconds

    def new_id(self) -> int:
        """Return a fresh record id."""
        with self.lock:
            self._next_id += 1
            return self._next_id

    def id_for_external(self, external_id: str) -> int:
        """Return the stable record id standing for an `external_id`."""
        with self.lock:
            if external_id not in self.external_ids:
                self.external_ids[external_id] = self.new_id()
            return self.external_ids[external_id]

    def active_jobs(self) -> int:
        """Count jobs that are queued or running now."""
        now = self.clock()
        with self.lock:
            return sum(1 for j in self.jobs.values() if j.is_active(now))

    def get(self, job_id: str) -> ZendeskJob | None:
        """Return a job unless it is unknown or its status data has expired."""
        with self.lock:
            job = self.jobs.get(job_id)
        return None if job is None or job.is_expired(self.clock()) else job

    def newest_first(self) -> list[ZendeskJob]:
        """Return the jobs whose status data is still available, newest first."""
        now = self.clock()
        with self.lock:
            jobs = [j for j in self.jobs.values() if not j.is_expired(now)]
        return jobs[::-1]

    def add_job(
        self,
        job_type: str,
        items: list[JobItem],
        *,
        outcome: str = "completed",
        duration: float | None = None,
        queued_for: float | None = None,
        unknown_status: str | None = None,
        expires_after: float | None = None,
        bare: bool = False,
        message: str | None = None,
        stop_at: int | None = None,
    ) -> ZendeskJob:
        """Store a new job over `items` and return it (no job-limit check: see `create_job`)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        kind = JOB_TYPES.get(job_type, JobType(UPDATE)).kind
        duration = self._next_duration() if duration is None else duration
        queued = duration * self.config.queued_fraction if queued_for is None else min(queued_for, duration)
        job = ZendeskJob(
            id=uuid.uuid4().hex,
            job_type=job_type,
            total=None if kind == PURGE else len(items),  # Zendesk reports no total for permanent deletion
            created=self.clock(),
            created_wall=time.time(),
            duration=duration,
            queued_for=queued,
            outcome=outcome,
            results=final_results(kind, items),
            stop_at=len(items) // 2 if stop_at is None else max(0, min(stop_at, len(items))),
            message=message,
            unknown_status=unknown_status,
            expires_after=self.config.retention_seconds if expires_after is None else expires_after,
            bare=bare,
        )
        with self.lock:
            self.jobs[job.id] = job
        return job

    def create_job(
        self,
        total: int = 1,
        outcome: str = "completed",
        failed_indexes: Iterable[int] = (),
        duration: float | None = None,
        queued_for: float | None = None,
        unknown_status: str | None = None,
        expires_after: float | None = None,
        bare: bool = False,
        job_type: str = "bulk_update_tickets",
        message: str | None = None,
        stop_at: int | None = None,
    ) -> str:
        """Create a job directly (no submit, no job-limit check) and return its id.

        Items get fresh ids; `failed_indexes` fail with the job type's usual error (see `JOB_TYPES`).
        A failed or killed job stops at item `stop_at` (default half of `total`).
        """
        jt = JOB_TYPES.get(job_type, JobType(UPDATE))
        failing = set(failed_indexes)
        items = [
            JobItem(
                index=i,
                id=None if i in failing and jt.kind == CREATE else self.new_id(),  # a failed create has no id
                email=f"user{i}@example.com" if jt.kind == UPSERT else None,
                error=jt.fail_error if i in failing else None,
                details=f"Item {i} failed (sandbox failed_indexes)" if i in failing else None,
            )
            for i in range(total)
        ]
        return self.add_job(
            job_type,
            items,
            outcome=outcome,
            duration=duration,
            queued_for=queued_for,
            unknown_status=unknown_status,
            expires_after=expires_after,
            bare=bare,
            message=message,
            stop_at=stop_at,
        ).id
