"""The submission ledger: which input items went to which vendor job, kept so a retry never submits twice.

An operator that submits bulk jobs writes its ledger to ``context["task_state_store"]`` (Airflow >= 3.3)
before and after every submit, and carries it through each deferral. A later try of the same task
instance reads it back and reattaches to the jobs already submitted instead of sending their items again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_jobstatus.models import ItemResult, Job, JobState

#: The key under which an operator's ledger lives in its task state store.
LEDGER_KEY = "airflow_jobstatus.ledger"


@dataclass
class JobRecord:
    """One submitted job: its id, the input indexes it was sent (in request order), its end state.

    ``submitted`` keeps what the submit's answer said that the job status will not say again
    (see :func:`submit_details`): a message, items refused at submit, other fields.
    """

    id: str
    items: list[int]
    state: str | None = None
    submitted: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str | None:
        """The submit answer's message, if it had one."""
        return self.submitted.get("message")

    @property
    def rejected(self) -> list[ItemResult]:
        """Items the vendor refused in the submit's answer (e.g. a 207's partial errors)."""
        return [ItemResult.model_validate(raw) for raw in self.submitted.get("rejected", [])]

    @property
    def ended(self) -> bool:
        """True once the job is known to have reached a terminal state."""
        return self.state is not None and JobState(self.state).is_terminal


@dataclass
class Ledger:
    """Everything a task instance has sent to the vendor, across its tries.

    ``unconfirmed`` holds the input indexes of a submit whose answer never came (sent, but the vendor
    may or may not have accepted it); ``redo`` the indexes a retry must send again because their
    earlier job reported them failed; ``waves`` how many result batches this try has stored in XCom.
    """

    fingerprint: str
    try_number: int
    jobs: list[JobRecord] = field(default_factory=list)
    unconfirmed: list[int] = field(default_factory=list)
    redo: list[int] = field(default_factory=list)
    waves: int = 0

    # --- questions --------------------------------------------------------------------------
    def owners(self) -> dict[int, JobRecord]:
        """The job that answers for each input index: the last one it was sent in."""
        owner: dict[int, JobRecord] = {}
        for record in self.jobs:
            for index in record.items:
                owner[index] = record
        return owner

    def pending(self, count: int) -> list[int]:
        """Input indexes (of ``count``) still to submit: never sent, or to redo after a failed try."""
        owned = self.owners()
        redo = set(self.redo)
        blocked = set(self.unconfirmed)
        return [i for i in range(count) if (i not in owned or i in redo) and i not in blocked]

    def answering(self) -> list[JobRecord]:
        """The jobs that still answer for at least one item (not wholly resent since), in submit order."""
        live = {record.id for record in self.owners().values()}
        return [record for record in self.jobs if record.id in live]

    def active_ids(self) -> list[str]:
        """Ids of the answering jobs not yet known to have ended."""
        return [record.id for record in self.answering() if not record.ended]

    def job_ids(self) -> list[str]:
        """Ids of every job submitted, in submit order."""
        return [record.id for record in self.jobs]

    def record(self, job_id: str) -> JobRecord:
        """The record of one job."""
        for record in self.jobs:
            if record.id == job_id:
                return record
        raise KeyError(job_id)

    # --- changes ----------------------------------------------------------------------------
    def add(self, job_id: str, indexes: Sequence[int], submitted: dict[str, Any] | None = None) -> None:
        """Note an accepted submit: ``job_id`` now answers for ``indexes`` (``submitted``: see JobRecord)."""
        self.jobs.append(JobRecord(job_id, list(indexes), submitted=dict(submitted or {})))
        sent = set(indexes)
        self.redo = [i for i in self.redo if i not in sent]
        self.unconfirmed = []

    def set_state(self, job_id: str, state: JobState) -> None:
        """Note a job's state (only terminal states are kept)."""
        self.record(job_id).state = state.value if state.is_terminal else None

    # --- storage form -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A compact JSON form (index lists as ranges), small enough for the task state store."""
        return {
            "fingerprint": self.fingerprint,
            "try": self.try_number,
            "jobs": [_record_json(r) for r in self.jobs],
            "unconfirmed": to_ranges(self.unconfirmed),
            "redo": to_ranges(self.redo),
            "waves": self.waves,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ledger:
        """Rebuild a ledger from :meth:`to_json`."""
        return cls(
            fingerprint=str(data["fingerprint"]),
            try_number=int(data.get("try", 0)),
            jobs=[
                JobRecord(str(r["id"]), from_ranges(r["items"]), r.get("state"), r.get("submitted") or {})
                for r in data.get("jobs", [])
            ],
            unconfirmed=from_ranges(data.get("unconfirmed", [])),
            redo=from_ranges(data.get("redo", [])),
            waves=int(data.get("waves", 0)),
        )


def _record_json(record: JobRecord) -> dict[str, Any]:
    data: dict[str, Any] = {"id": record.id, "items": to_ranges(record.items), "state": record.state}
    if record.submitted:
        data["submitted"] = record.submitted
    return data


def submit_details(job: Job) -> dict[str, Any]:
    """What a submit's answer says that later status reads will not: its message, the items it refused
    (``rejected``, as ItemResult dicts) and its other fields (``extra``); empty parts left out."""
    details: dict[str, Any] = {}
    if job.message:
        details["message"] = job.message
    rejected = [item.model_dump(mode="json") for item in job.results if not item.success]
    if rejected:
        details["rejected"] = rejected
    if job.extra:
        details["extra"] = job.extra
    return details


def fingerprint(value: Any) -> str:
    """A stable digest of an operator's input: a retry with other input does not reuse earlier jobs."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def to_ranges(indexes: Iterable[int]) -> list[list[int]]:
    """``[0, 1, 2, 5]`` -> ``[[0, 3], [5, 6]]`` (half-open ranges, order kept)."""
    ranges: list[list[int]] = []
    for index in indexes:
        if ranges and ranges[-1][1] == index:
            ranges[-1][1] = index + 1
        else:
            ranges.append([index, index + 1])
    return ranges


def from_ranges(ranges: Iterable[Sequence[int]]) -> list[int]:
    """The inverse of :func:`to_ranges`."""
    return [index for start, stop in ranges for index in range(start, stop)]


def describe_indexes(indexes: Iterable[int]) -> str:
    """Input indexes for messages: ``items 0-99``, ``item 7``, ``items 3, 10-12``."""
    ordered = sorted(set(indexes))
    parts = [f"{a}" if b - a == 1 else f"{a}-{b - 1}" for a, b in to_ranges(ordered)]
    noun = "item" if len(ordered) == 1 else "items"
    return f"{noun} {', '.join(parts)}" if parts else "no items"


class StateStore(Protocol):
    """The part of Airflow's ``task_state_store`` accessor the ledger uses."""

    def get(self, key: str, default: Any = None) -> Any:
        """Read a key."""

    def set(self, key: str, value: Any) -> None:
        """Write a key."""
