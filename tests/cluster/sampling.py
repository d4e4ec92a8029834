"""The trigger table's sampler of tests/cluster: what every trigger row held, read four times a second.

Airflow deletes a ``trigger`` row once no deferred task uses it, so a test that reads the table only at the
end sees nothing: :class:`TriggerSampler` reads it all along, in a thread, and keeps each trigger's queue,
every triggerer id it had (in order), its decrypted kwargs and when it was seen (``time.monotonic()``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sighting:
    """What the sampler saw of one trigger, over all its reads (times are ``time.monotonic()``)."""

    id: int
    classpath: str
    queue: str | None
    task: tuple[str, str, str, int] | None = None  #: (dag_id, run_id, task_id, map_index) deferred on it
    try_number: int | None = None
    triggerer_ids: list[int | None] = field(default_factory=list)  #: each change, in order
    kwargs: set[str] = field(default_factory=set)  #: every decrypted kwargs seen (JSON text)
    reads: int = 0
    first_seen: float = 0.0
    #: The first read that found it assigned to a triggerer (None: never).
    assigned_at: float | None = None
    #: The last read that found a task deferred on it (None: never).
    deferred_until: float | None = None


class TriggerSampler:
    """Reads the ``trigger`` table (with the task instance deferred on each row) every ``interval`` seconds
    in a thread, and keeps every trigger it saw (``seen``) and the latest read (``latest``)."""

    def __init__(self, cluster: Any, interval: float = 0.25) -> None:
        self.cluster = cluster
        self.interval = interval
        self.seen: dict[int, Sighting] = {}
        self.latest: list[Any] = []
        self.reads = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self._db: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trigger-sampler", daemon=True)

    def start(self) -> TriggerSampler:
        """Start sampling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(10)
        with self.lock:
            if self._db is not None:
                with contextlib.suppress(Exception):
                    self._db.close()
                self._db = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception as error:  # a lost connection...
                self.errors.append(repr(error))
                with self.lock:
                    self._db = None
            self._stop.wait(self.interval)

    def sample(self) -> list[Any]:
        """Read the table once, record what it holds, and return the rows."""
        with self.lock:
            if self._db is None or self._db.closed:
                self._db = self.cluster.connect()
            rows = self.cluster.triggers(db=self._db)
            now = time.monotonic()
            self.reads += 1
            self.latest = rows
            for row in rows:
                sighting = self.seen.setdefault(
                    row.id, Sighting(row.id, row.classpath, row.queue, first_seen=now)
                )
                sighting.reads += 1
                if row.task_id is not None:
                    sighting.deferred_until = now
                    if sighting.task is None:
                        sighting.task = (row.dag_id, row.run_id, row.task_id, row.map_index)
                        sighting.try_number = row.try_number
                if row.triggerer_id is not None and sighting.assigned_at is None:
                    sighting.assigned_at = now
                if not sighting.triggerer_ids or sighting.triggerer_ids[-1] != row.triggerer_id:
                    sighting.triggerer_ids.append(row.triggerer_id)
                sighting.kwargs.add(row.kwargs)
        return rows

    def of_run(self, dag_id: str, run_id: str) -> dict[str, list[Sighting]]:
        """The triggers seen for each task of one run (task id -> its triggers, one per deferral)."""
        found: dict[str, list[Sighting]] = {}
        with self.lock:
            for sighting in self.seen.values():
                if sighting.task is not None and sighting.task[:2] == (dag_id, run_id):
                    found.setdefault(sighting.task[2], []).append(sighting)
        return found

    def wait_until(
        self, check: Callable[[list[Any]], bool], failure: str, timeout: float = 60.0
    ) -> list[Any]:
        """Wait until ``check(rows of a fresh read)`` is true; return those rows."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.sample()
            if check(rows):
                return rows
            assert time.monotonic() < deadline, f"{failure} (after {timeout:g} s): {rows}"
            time.sleep(0.2)
