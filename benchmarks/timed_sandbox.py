"""The sandbox of benchmark (g), with a duration per submitted Zendesk job.

The sandbox gives every job submitted through the vendor API the config's ``job_seconds``: it has no knob
for the duration of one submitted job (only jobs made through ``create_job`` or ``POST
/_sandbox/zendesk/jobs`` take a ``duration``). Benchmark (g) needs jobs of varied length, the same ones
run after run, so it emulates that knob here without touching the sandbox: :class:`TimedZendeskState`
overrides ``ZendeskState.add_job`` (which the bulk submit handler calls without a duration) and gives a
job the duration planned for the chunk of input it covers, found from its first item's record id. The
chunk, not the order of arrival, decides the duration: an engine that submits in another order or sends a
refused request again still gets the same job lengths. It also notes every accepted job (its chunk, the
record ids it covers, when it was created and how long it lasts) for the benchmark's figures.

The knob the sandbox would need instead: a per-job duration for submitted jobs, e.g. a config field
``ZendeskSandboxConfig.job_duration: Callable[[str, list[JobItem]], float | None]`` (job type and items ->
seconds, None for ``job_seconds``), or a body marker such as ``[sandbox:seconds=12.5]`` (which the
``change`` form of ``update_many``, ids only, could not carry per job).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_jobstatus.sandbox.state import SandboxState
from airflow_jobstatus.sandbox.zendesk_jobs import ZendeskJob, ZendeskSandboxConfig, ZendeskState
from airflow_jobstatus.sandbox.zendesk_results import JobItem


@dataclass(frozen=True)
class AcceptedJob:
    """One job the sandbox accepted: its id, the chunk it covers (None: not one of the plan's), the record
    ids of its items, its creation time (sandbox clock: monotonic) and its duration."""

    id: str
    chunk: int | None
    record_ids: tuple[int | None, ...]
    created: float
    duration: float

    @property
    def ends(self) -> float:
        """When the job stops counting toward the job limit (monotonic)."""
        return self.created + self.duration


class TimedZendeskState(ZendeskState):
    """``ZendeskState`` whose submitted jobs last the duration planned for their chunk of the input.

    Chunk ``k`` covers the records ``first_id + k * per_job`` up to ``first_id + (k + 1) * per_job - 1``;
    a job whose first item is not in the plan keeps ``job_seconds``.
    """

    durations: tuple[float, ...] = ()
    first_id: int = 0
    per_job: int = 1

    def clear(self) -> None:
        """Forget every job, submit and user, and the accepted jobs noted (the plan stays)."""
        with self.lock:
            super().clear()
            self.accepted: list[AcceptedJob] = []

    def plan(self, durations: list[float], *, first_id: int, per_job: int) -> None:
        """Give chunk ``k`` of the input the duration ``durations[k]`` from now on."""
        with self.lock:
            self.durations = tuple(durations)
            self.first_id = first_id
            self.per_job = per_job

    def chunk_of(self, items: list[JobItem]) -> int | None:
        """The chunk of the plan a job's items belong to (by the first item's record id), or None."""
        first = items[0].id if items else None
        if first is None or first < self.first_id:
            return None
        chunk = (first - self.first_id) // self.per_job
        return chunk if chunk < len(self.durations) else None

    def add_job(self, job_type: str, items: list[JobItem], **kwargs: Any) -> ZendeskJob:
        """Store a new job, with its chunk's duration when the caller gave none; note it as accepted."""
        chunk = self.chunk_of(items)
        if kwargs.get("duration") is None and chunk is not None:
            kwargs["duration"] = self.durations[chunk]
        job = super().add_job(job_type, items, **kwargs)
        with self.lock:
            self.accepted.append(
                AcceptedJob(job.id, chunk, tuple(item.id for item in items), job.created, job.duration)
            )
        return job


class TimedSandboxState(SandboxState):
    """``SandboxState`` whose Zendesk store is a :class:`TimedZendeskState` (give it to ``SandboxServer``
    as ``state``)."""

    def __init__(self, zendesk: ZendeskSandboxConfig) -> None:
        """Fresh state with the Zendesk account ``zendesk`` (what ``reset()`` returns to)."""
        super().__init__(zendesk=zendesk)
        timed = TimedZendeskState(zendesk, self.lock, self.clock)
        stores = getattr(self, "stores", None)
        if isinstance(stores, dict):  # a sandbox keeping its vendors' stores by name
            stores["zendesk"] = timed
        else:
            self.zendesk = timed
        assert self.zendesk is timed

    @property
    def timed(self) -> TimedZendeskState:
        """The Zendesk store, with its plan and its accepted jobs."""
        zendesk = self.zendesk
        assert isinstance(zendesk, TimedZendeskState)
        return zendesk
