"""The submission ledger: which input items went to which vendor job, kept so a retry never submits twice.

An operator that submits bulk jobs writes its ledger to ``context["task_state_store"]`` (Airflow >= 3.3)
before and after every submit, and carries it through each deferral. A later try of the same task
instance reads it back and reattaches to the jobs already submitted instead of sending their items again.

How it is stored, so that a run of N items writes O(N) bytes in all (:meth:`Ledger.save`):

- ``LEDGER_KEY`` holds a small *head*: counters, index ranges, the jobs not yet ended and a *tail* of at
  most ``SEGMENT_RECORDS`` ended jobs. It is all a deferral carries (:meth:`Ledger.head_json`).
- ``LEDGER_KEY.<n>`` (:func:`segment_key`) hold the other ended jobs, ``SEGMENT_RECORDS`` at a time,
  each written once, when the tail fills.

A ledger read from a head alone is *partial*: it answers what a wave needs (pending items, active jobs)
and :meth:`Ledger.load` reads the segments when every job is needed (results, a retry, job ids).
:meth:`Ledger.from_json` also reads the single-key form of earlier releases (:meth:`Ledger.to_json`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_jobstatus.core.index_ranges import (
    IndexRanges,
    from_ranges,
    normalized,
    normalized_ranges,
    subtract_ranges,
    to_ranges,
)
from airflow_jobstatus.core.index_ranges import (
    describe_indexes as describe_indexes,
)
from airflow_jobstatus.core.models import ItemResult, Job, JobState
from airflow_jobstatus.errors import DuplicateJobId, LedgerUnreadable

#: The key under which an operator's ledger lives in its task state store (its head, see above).
LEDGER_KEY = "airflow_jobstatus.ledger"
#: The storage form :meth:`Ledger.save` writes (the single-key form of earlier releases has no number).
LEDGER_FORMAT = 2
#: Ended jobs per segment key, and the size (bytes of JSON) at which a tail is sealed sooner.
SEGMENT_RECORDS = 32
SEGMENT_BYTES = 16_000
#: ``job_ids`` goes to XCom after every submit up to this many jobs, then each time it grew by 1/8:
#: pushing the whole list after each of 10,000 submits would write O(jobs^2) bytes.
PUBLISH_EVERY_SUBMIT_UP_TO = 100


def segment_key(number: int) -> str:
    """The task-state-store key of the ledger's segment ``number``."""
    return f"{LEDGER_KEY}.{number}"


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


@dataclass(eq=False)
class _Bookkeeping:
    """What a ledger derives from its records, kept up to date per change instead of per question."""

    generation: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    count: int = 0  # records, loaded or not
    seq: dict[str, int] = field(default_factory=dict)  # job id -> submit order, for loaded records
    by_id: dict[str, JobRecord] = field(default_factory=dict)
    ranges: dict[str, list[list[int]]] = field(default_factory=dict)  # job id -> its items as ranges
    sent: list[list[int]] = field(default_factory=list)  # every index some job was sent
    open: dict[str, JobRecord] = field(default_factory=dict)  # in the head's "open": not known ended
    tail: list[JobRecord] = field(default_factory=list)  # ended, in the head's "tail": not sealed yet
    segments: int = 0  # sealed segment keys
    published: int = 0  # job ids in XCom
    owners: dict[int, JobRecord] | None = None
    sizes: dict[tuple[str, str | None], int] = field(default_factory=dict)  # see Ledger._size


@dataclass
class Ledger:
    """Everything a task instance has sent to the vendor, across its tries.

    ``unconfirmed`` holds the input indexes of a submit whose answer never came (sent, but the vendor
    may or may not have accepted it); ``redo`` the indexes a retry must send again because their
    earlier job reported them failed; ``waves`` how many result batches this try has stored in XCom.
    ``jobs`` are the records in submit order: all of them, unless the ledger is partial (read from a
    head alone; see the module docstring and :attr:`complete`). ``max_tries`` is the task instance's
    ``max_tries`` when the ledger was last written: Airflow raises it on every clear, never on a retry,
    so a later try can tell "cleared: run again" from "retried: carry on" (None: not known).
    """

    fingerprint: str
    try_number: int
    jobs: list[JobRecord] = field(default_factory=list)
    unconfirmed: list[int] = field(default_factory=list)
    redo: list[int] = field(default_factory=list)
    waves: int = 0
    max_tries: int | None = None
    _book: _Bookkeeping = field(default_factory=_Bookkeeping, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        records, self.jobs = self.jobs, []
        for record in records:
            self._index(record, self._book.count)
            self._book.count += 1
            self.jobs.append(record)
            if record.ended:  # a save writes it to a segment
                self._book.tail.append(record)
            else:
                self._book.open[record.id] = record

    # --- questions --------------------------------------------------------------------------
    @property
    def complete(self) -> bool:
        """False for a ledger read from a head alone: :meth:`load` reads the rest."""
        return len(self.jobs) == self._book.count

    def owners(self) -> dict[int, JobRecord]:
        """The job that answers for each input index: the last one it was sent in."""
        return dict(self._owner_map())

    def pending(self, count: int) -> IndexRanges:
        """Input indexes (of ``count``) still to submit: never sent, or to redo after a failed try.

        Computed from index ranges: a few operations whatever the number of items."""
        todo = subtract_ranges([[0, count]], self._book.sent)
        if self.redo:
            todo = normalized_ranges([*todo, *normalized(i for i in self.redo if 0 <= i < count)])
        if self.unconfirmed:
            todo = subtract_ranges(todo, normalized(self.unconfirmed))
        return IndexRanges(todo)

    def answering(self) -> list[JobRecord]:
        """The jobs that still answer for at least one item (not wholly resent since), in submit order."""
        live = {id(record) for record in self._owner_map().values()}
        return [record for record in self.jobs if id(record) in live]

    def active_ids(self) -> list[str]:
        """Ids of the jobs not yet known to have ended, in submit order (a job still running always
        answers for its items: only items of ended jobs are sent again)."""
        self._settle()
        return [record.id for record in sorted(self._book.open.values(), key=self._position)]

    def job_ids(self) -> list[str]:
        """Ids of every job submitted, in submit order."""
        self._need_all("job_ids")
        return [record.id for record in self.jobs]

    def record(self, job_id: str) -> JobRecord:
        """The record of one job (of a partial ledger: one not ended, or among the last ended)."""
        return self._book.by_id[job_id]

    def find(self, job_id: str) -> JobRecord | None:
        """The record of ``job_id`` if this ledger holds it (see :meth:`record`), else None."""
        return self._book.by_id.get(job_id)

    @property
    def job_count(self) -> int:
        """How many jobs were submitted (of a partial ledger too)."""
        return self._book.count

    def publish_due(self, final: bool = False) -> bool:
        """Whether ``job_ids`` should go to XCom now: after each submit up to ``PUBLISH_EVERY_SUBMIT_UP_TO``
        jobs, then when 1/8 more were submitted, and (``final``) whenever some are not there yet."""
        count, published = self._book.count, self._book.published
        if count <= published:
            return False
        return final or count <= PUBLISH_EVERY_SUBMIT_UP_TO or count - published >= max(published // 8, 1)

    def note_published(self, count: int | None = None) -> None:
        """Note that ``job_ids`` in XCom now lists ``count`` jobs (default: all; 0 after a new try)."""
        self._book.published = self._book.count if count is None else count

    # --- changes ----------------------------------------------------------------------------
    def add(self, job_id: str, indexes: Sequence[int], submitted: dict[str, Any] | None = None) -> None:
        """Note an accepted submit: ``job_id`` now answers for ``indexes`` (``submitted``: see JobRecord).

        Raises :class:`DuplicateJobId` when a job of this ledger (of a partial one: a job not ended or
        among the last ended; :meth:`load` checks the others) already has that id."""
        record = JobRecord(job_id, list(indexes), submitted=dict(submitted or {}))
        self._index(record, self._book.count)
        self._book.count += 1
        self.jobs.append(record)
        self._book.open[job_id] = record
        if self.redo:
            sent = set(indexes)
            self.redo = [i for i in self.redo if i not in sent]
        self.unconfirmed = []

    def set_state(self, job_id: str, state: JobState) -> None:
        """Note a job's state (only terminal states are kept)."""
        record = self.record(job_id)
        value = state.value if state.is_terminal else None
        if record.state == value:
            return
        record.state = value
        book = self._book
        if job_id not in book.open:  # ended before: the head takes it again, with its new state
            book.tail = [r for r in book.tail if r is not record]
            book.open[job_id] = record

    # --- storage ------------------------------------------------------------------------------
    def save(self, store: StateStore | None) -> None:
        """Write what changed since the last save: a full tail as a new segment, then the head."""
        self._settle()
        if store is None:
            return
        book = self._book
        while book.tail:
            take, size = 0, 0
            while take < min(len(book.tail), SEGMENT_RECORDS) and size < SEGMENT_BYTES:
                size += self._size(book.tail[take])
                take += 1
            if take < SEGMENT_RECORDS and size < SEGMENT_BYTES:
                break  # not full: it stays in the head
            records = [self._record_json(record) for record in book.tail[:take]]
            store.set(segment_key(book.segments), {"generation": book.generation, "records": records})
            book.segments += 1
            del book.tail[:take]
        store.set(LEDGER_KEY, self.head_json())

    def load(self, store: StateStore | None) -> None:
        """Read the segments of a partial ledger, so that it holds every job (no-op when complete)."""
        if self.complete:
            return
        if store is None:
            raise LedgerUnreadable("a partial ledger needs the task state store to read its other jobs")
        book, found = self._book, {}
        for number in range(book.segments):
            data = store.get(segment_key(number))
            if not isinstance(data, dict) or data.get("generation") != book.generation:
                raise LedgerUnreadable(
                    f"the task state store key '{segment_key(number)}' is missing or belongs to another "
                    f"ledger, so which items went to which job is lost. Delete the key '{LEDGER_KEY}' "
                    "(and its numbered keys) and clear the task to submit everything again"
                )
            for raw in data["records"]:
                found[int(raw["n"])] = _record_from_json(raw)
        found.update((book.seq[record.id], record) for record in self.jobs)  # newer than the segments
        if len(found) != book.count:
            raise LedgerUnreadable(f"the ledger lists {book.count} jobs but its keys hold {len(found)}")
        self.jobs, book.seq, book.by_id, book.ranges, book.sent = [], {}, {}, {}, []
        for number in sorted(found):  # open and tail keep their records: the same objects
            self._index(found[number], number)
            self.jobs.append(found[number])

    def head_json(self) -> dict[str, Any]:
        """The head (see the module docstring): small whatever the number of jobs."""
        self._settle()
        book = self._book
        return {
            "format": LEDGER_FORMAT,
            "fingerprint": self.fingerprint,
            "try": self.try_number,
            "max_tries": self.max_tries,
            "jobs": None,  # a release before format 2 reading this fails instead of submitting again
            "generation": book.generation,
            "count": book.count,
            "segments": book.segments,
            "published": book.published,
            "sent": [list(r) for r in book.sent],
            "open": [self._record_json(r) for r in sorted(book.open.values(), key=self._position)],
            "tail": [self._record_json(r) for r in book.tail],
            "unconfirmed": to_ranges(self.unconfirmed),
            "redo": to_ranges(self.redo),
            "waves": self.waves,
        }

    def to_json(self) -> dict[str, Any]:
        """The whole ledger in one JSON value (index lists as ranges): the form of earlier releases,
        what a deferral carries where there is no task state store."""
        self._need_all("to_json")
        return {
            "fingerprint": self.fingerprint,
            "try": self.try_number,
            "jobs": [_record_json(r, self._book.ranges[r.id]) for r in self.jobs],
            "unconfirmed": to_ranges(self.unconfirmed),
            "redo": to_ranges(self.redo),
            "waves": self.waves,
            **({} if self.max_tries is None else {"max_tries": self.max_tries}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ledger:
        """Rebuild a ledger from :meth:`to_json` (complete) or :meth:`head_json` (partial until loaded)."""
        fingerprint, try_number = str(data["fingerprint"]), int(data.get("try", 0))
        unconfirmed = from_ranges(data.get("unconfirmed", []))
        redo, waves = from_ranges(data.get("redo", [])), int(data.get("waves", 0))
        raw_max_tries = data.get("max_tries")  # absent from the ledgers of earlier releases
        max_tries = raw_max_tries if type(raw_max_tries) is int else None
        if data.get("format") != LEDGER_FORMAT:  # one key holds it all (earlier releases, to_json)
            jobs = [_record_from_json(raw) for raw in data.get("jobs") or []]
            return cls(fingerprint, try_number, jobs, unconfirmed, redo, waves, max_tries)
        ledger = cls(fingerprint, try_number, [], unconfirmed, redo, waves, max_tries)
        book = ledger._book
        book.generation, book.count = str(data["generation"]), int(data["count"])
        book.segments, book.published = int(data["segments"]), int(data.get("published", 0))
        held = [(int(raw["n"]), key, _record_from_json(raw)) for key in ("open", "tail") for raw in data[key]]
        for number, key, record in sorted(held, key=lambda entry: entry[0]):
            ledger._index(record, number)
            ledger.jobs.append(record)
            if key == "open":
                book.open[record.id] = record
            else:
                book.tail.append(record)
        book.sent = normalized_ranges(data["sent"])  # every job's items, loaded or not
        return ledger

    # --- inside -------------------------------------------------------------------------------
    def _index(self, record: JobRecord, number: int) -> None:
        book = self._book
        earlier = book.by_id.get(record.id)
        if earlier is not None:
            raise DuplicateJobId(record.id, earlier.items, record.items)
        book.seq[record.id], book.by_id[record.id] = number, record
        book.ranges[record.id] = ranges = to_ranges(record.items)
        book.sent = normalized_ranges([*book.sent, *ranges])  # one range, as submits go in order
        book.owners = None

    def _settle(self) -> None:
        """Move the records of ``open`` that have ended to the tail, in submit order."""
        book = self._book
        ended = [record for record in book.open.values() if record.ended]
        for record in sorted(ended, key=self._position):
            del book.open[record.id]
            book.tail.append(record)

    def _position(self, record: JobRecord) -> int:
        return self._book.seq[record.id]

    def _owner_map(self) -> dict[int, JobRecord]:
        self._need_all("owners")
        if self._book.owners is None:
            owner: dict[int, JobRecord] = {}
            for record in self.jobs:
                for index in record.items:
                    owner[index] = record
            self._book.owners = owner
        return self._book.owners

    def _need_all(self, what: str) -> None:
        if not self.complete:
            raise RuntimeError(f"Ledger.{what}() needs every job: call load(task_state_store) first")

    def _size(self, record: JobRecord) -> int:
        """Bytes of the record's JSON (kept: a tail is measured at every save)."""
        key = (record.id, record.state)
        if key not in self._book.sizes:
            self._book.sizes[key] = len(json.dumps(self._record_json(record), separators=(",", ":")))
        return self._book.sizes[key]

    def _record_json(self, record: JobRecord) -> dict[str, Any]:
        return {**_record_json(record, self._book.ranges[record.id]), "n": self._book.seq[record.id]}


def _record_json(record: JobRecord, ranges: list[list[int]]) -> dict[str, Any]:
    data: dict[str, Any] = {"id": record.id, "items": ranges, "state": record.state}
    if record.submitted:
        data["submitted"] = record.submitted
    return data


def _record_from_json(raw: dict[str, Any]) -> JobRecord:
    return JobRecord(str(raw["id"]), from_ranges(raw["items"]), raw.get("state"), raw.get("submitted") or {})


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


class StateStore(Protocol):
    """The part of Airflow's ``task_state_store`` accessor the ledger uses."""

    def get(self, key: str, default: Any = None) -> Any:
        """Read a key."""

    def set(self, key: str, value: Any) -> None:
        """Write a key."""
