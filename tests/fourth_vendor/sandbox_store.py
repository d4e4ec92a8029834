"""The Acme store of the sandbox: config knobs, jobs whose state follows the clock, accepted submits.

An item whose key contains ``itemfail`` fails (the job still ends ``done``); a request carrying
``jobfail`` anywhere makes its job end ``failed``, with no item results.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from airflow_jobstatus.sandbox.store import VendorStore, timed_status

ITEM_FAIL_MARKER = "itemfail"
JOB_FAIL_MARKER = "jobfail"
OUTCOMES = ("done", "failed")


@dataclass
class AcmeSandboxConfig:
    """Knobs of the emulated Acme account; ``reset()`` returns to the config the state was built with."""

    api_token: str = "sandbox-acme-token"
    job_seconds: float = 3.0
    queued_fraction: float = 0.2
    max_items: int = 50


@dataclass
class AcmeJob:
    """One bulk job; ``created`` is on the state's clock."""

    id: str
    created: float
    duration: float
    queued_for: float
    keys: list[str]
    outcome: str
    unknown_status: str | None = None

    def render(self, now: float, as_submitted: bool = False) -> dict[str, Any]:
        """The job as ``GET /v1/bulk_jobs/{id}`` shows it at ``now`` (``as_submitted``: as created)."""
        elapsed, total = now - self.created, len(self.keys)
        running = self.unknown_status or "working"
        state = timed_status(elapsed, self.duration, self.queued_for, running, self.outcome)
        if as_submitted:
            state, elapsed = "queued", 0.0
        share = min(elapsed / self.duration, 1.0) if self.duration > 0 else 1.0
        processed = total if state in OUTCOMES else int(total * share)
        job: dict[str, Any] = {"id": self.id, "state": state, "processed": processed, "total": total}
        if state == "done":
            job["results"] = [
                {"index": i, "key": key, "ok": True}
                if ITEM_FAIL_MARKER not in key
                else {"index": i, "key": key, "ok": False, "error": "rejected: the item is marked to fail"}
                for i, key in enumerate(self.keys)
            ]
        if state == "failed":
            job["error"] = "the job failed (sandbox marker)"
        return job


@dataclass(frozen=True)
class AcmeSubmit:
    """One accepted ``POST /v1/bulk_jobs``: its operation, number of items, job and body."""

    operation: str
    count: int
    job_id: str
    body: Any = field(repr=False)


class AcmeState(VendorStore[AcmeSandboxConfig]):
    """The emulated Acme account: jobs and accepted submits."""

    def clear(self) -> None:
        """Forget every job and submit."""
        with self.lock:
            self.jobs: dict[str, AcmeJob] = {}
            self.submits: list[AcmeSubmit] = []
            self._next = 1

    def get(self, job_id: str) -> AcmeJob | None:
        """A job, or None for an unknown id."""
        with self.lock:
            return self.jobs.get(job_id)

    def create_job(
        self,
        keys: list[str] | None = None,
        outcome: str = "done",
        duration: float | None = None,
        queued_for: float | None = None,
        unknown_status: str | None = None,
    ) -> str:
        """Store a job directly (no submit) and return its id: ``keys`` are its items (default three),
        ``unknown_status`` a word it reports instead of "working"."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        with self.lock:
            duration = self.config.job_seconds if duration is None else duration
            queued = duration * self.config.queued_fraction if queued_for is None else queued_for
            job = AcmeJob(
                id=f"bj_{self._next:06d}",
                created=self.clock(),
                duration=duration,
                queued_for=queued,
                keys=list(keys) if keys is not None else ["item-1", "item-2", "item-3"],
                outcome=outcome,
                unknown_status=unknown_status,
            )
            self._next += 1
            self.jobs[job.id] = job
        return job.id

    def submit(self, operation: str, keys: list[str], body: Any) -> AcmeJob:
        """Create the job of an accepted submit (failed in the end if the body carries ``jobfail``)."""
        with self.lock:
            outcome = "failed" if JOB_FAIL_MARKER in repr(body) else "done"
            job = self.jobs[self.create_job(keys=keys, outcome=outcome)]
            self.submits.append(AcmeSubmit(operation, len(keys), job.id, copy.deepcopy(body)))
        return job
