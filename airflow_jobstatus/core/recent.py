"""LastReads: the job each job status last read was turned into, to skip building it again unchanged.

A triggerer polling 10,000 jobs a second reads mostly statuses that did not change since the last read
(a job "queued", or "working" at the same count). Validating each into a new
:class:`~airflow_jobstatus.core.models.Job` costs tens of microseconds, and every new Job lives until the
next read: the garbage collector then walks it, pausing the shared event loop. A hook's wait parser keeps
a LastReads and hands back the Job built last time when the fields that made it are the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_jobstatus.core.models import Job

#: A job not read for this long (at most twice as long) is forgotten: the longest a wait waits between
#: reads (the largest max_poll_interval by default).
KEEP_SECONDS = 600.0


class LastReads:
    """The Job built from each job's last status, by job id, for the jobs read lately.

    Two generations of entries, each :data:`KEEP_SECONDS` long: every read puts its job's entry in the new
    one; when the new one is that old, the old one is dropped and the new one becomes the old one. So a
    job read at least every KEEP_SECONDS keeps its entry, and what is kept is the jobs read in the last one
    or two periods. Safe to use from the event loop and the parser thread (a race at worst misses a hit).
    """

    def __init__(self, fields: Sequence[str], keep: float = KEEP_SECONDS) -> None:
        #: The fields of a status that the Job is built from (its other fields are ignored by the parse).
        self.fields = tuple(fields)
        self.keep = keep
        self._new: dict[str, tuple[tuple[Any, ...], Job]] = {}
        self._old: dict[str, tuple[tuple[Any, ...], Job]] = {}
        self._since = time.monotonic()
        self.hits = 0

    def job(self, raw: Any, build: Callable[[Any], Job], status: Mapping[str, Any] | None = None) -> Job:
        """``build(raw)``, or the Job built from the last status of this job id when ``status`` (the job
        status object within ``raw``; default ``raw``) has the same values in :attr:`fields`. A status with
        item results is always built (it is a job's last read, and its results are large)."""
        status = raw if status is None else status
        job_id = status.get("id") if isinstance(status, dict) else None
        if not isinstance(job_id, str) or status.get("results"):
            return build(raw)
        key = tuple(map(status.get, self.fields))
        last = self._new.get(job_id) or self._old.get(job_id)
        if last is not None and last[0] == key:
            self.hits += 1
            entry = last
        else:
            entry = (key, build(raw))
        self._new[job_id] = entry
        now = time.monotonic()
        if now - self._since >= self.keep:
            self._old, self._new, self._since = self._new, {}, now
        return entry[1]

    def __len__(self) -> int:
        """How many entries are kept."""
        return len(self._new) + len(self._old)
