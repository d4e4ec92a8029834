"""The normalized background job that every vendor's job status maps onto."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from airflow_jobstatus.core.checks import MAX_JOB_ID_CHARS


class JobState(str, Enum):
    """Where a background job stands, whatever the vendor calls it."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """True when the job will not change any more."""
        return self not in (JobState.QUEUED, JobState.RUNNING)


#: The values of the terminal states, in JobState's order (what a trigger's ``end_early_on`` may name).
TERMINAL_STATE_VALUES = tuple(state.value for state in JobState if state.is_terminal)


class ItemResult(BaseModel):
    """The outcome of one item of a bulk job (one ticket, one user, one media...)."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    index: int | None = None
    id: int | str | None = None
    success: bool = True
    action: str | None = None
    status: str | None = None
    error: str | None = None
    details: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    def describe(self) -> str:
        """One line naming the item and, for a failed item, what went wrong."""
        where = []
        if self.index is not None:
            where.append(f"index {self.index}")
        if self.id is not None:
            where.append(f"id {self.id}")
        name = ", ".join(where) or "item"
        if self.success:
            return f"{name}: {self.status or self.action or 'ok'}"
        reason = ": ".join(part for part in (self.error, self.details) if part) or "failed"
        return f"{name}: {reason}"


class Job(BaseModel):
    """One vendor background job, normalized.

    ``vendor_status`` keeps the vendor's own word; ``state`` is what it means.
    ``progress``/``total`` count items where the vendor reports them, ``percent`` is 0-100.
    ``extra`` keeps other fields the vendor sent with the job (e.g. a submit answer's destination).
    """

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    vendor: str
    id: str = Field(min_length=1, max_length=MAX_JOB_ID_CHARS)
    state: JobState
    vendor_status: str
    progress: int | None = Field(default=None, ge=0)
    total: int | None = Field(default=None, ge=0)
    percent: float | None = None
    message: str | None = None
    results: list[ItemResult] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    result_url: str | None = None
    raw_result: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("percent")
    @classmethod
    def _finite_percent(cls, value: float | None) -> float | None:
        """A percentage is finite (NaN is refused) and clipped to 0-100 (a vendor's 100.0001 is done)."""
        if value is None:
            return None
        if not math.isfinite(value):
            raise ValueError("percent must be a finite number")
        return min(max(value, 0.0), 100.0)

    @property
    def failed_items(self) -> list[ItemResult]:
        """The items of this job that did not succeed, in the vendor's order."""
        return [item for item in self.results if not item.success]

    def for_waiting(self) -> Job:
        """This job as a wait in the triggerer holds it: states, progress, messages and the failed items,
        without the succeeded items' results and the inline result (which the task reads itself).

        A triggerer holding thousands of waits keeps far fewer objects and bytes this way, and its
        garbage collector (which pauses the shared event loop) has far less to walk.
        """
        if self.raw_result is None and all(not item.success for item in self.results):
            return self
        return self.model_copy(update={"results": self.failed_items, "raw_result": None})

    def fraction_done(self) -> float | None:
        """How much of the job is done, 0 to 1, from its item counts or its percentage; None when the vendor
        reports neither (or a count that makes no number)."""
        if self.progress is not None and self.total:
            # (``progress / total`` of two ints beyond float range raises OverflowError: a count at or past
            # the total is done, and a smaller count over a larger one always fits a float.)
            done = 1.0 if self.progress >= self.total else self.progress / self.total
        elif self.percent is not None:
            done = self.percent / 100.0
        else:
            return None
        return min(max(done, 0.0), 1.0) if math.isfinite(done) else None

    def progress_text(self) -> str:
        """Short progress for logs, e.g. ``412/1000 (41%)``, ``57%`` or ``queued``."""
        if self.progress is not None and self.total:
            return f"{self.progress}/{self.total} ({self.progress * 100 // self.total}%)"
        if self.percent is not None:
            return f"{self.percent:g}%"
        return self.vendor_status

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict (for XCom)."""
        return self.model_dump(mode="json")


def percent_of(progress: int | None, total: int | None) -> float | None:
    """Percentage done from item counts, or None when it cannot be known."""
    if progress is None or not total:
        return None
    return round(min(progress, total) * 100.0 / total, 1)


_warned_statuses: set[tuple[str, str]] = set()


def map_status(vendor: str, status_map: dict[str, JobState], vendor_status: str) -> JobState:
    """The JobState for a vendor status; an unknown value counts as RUNNING, with one warning per value.

    Vendors add status values over time: an unknown one must keep a wait going (until its deadline)
    rather than crash it.
    """
    state = status_map.get(vendor_status) or status_map.get(vendor_status.lower())
    if state is not None:
        return state
    if (vendor, vendor_status) not in _warned_statuses:
        _warned_statuses.add((vendor, vendor_status))
        logging.getLogger(__name__).warning(
            "%s reported an unknown job status %r: treating it as running until the job ends or the "
            "wait times out",
            vendor,
            vendor_status,
        )
    return JobState.RUNNING
