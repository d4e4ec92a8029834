"""Airflow's metadata tables as tests/cluster reads them: the triggers, with the task deferred on each,
and the triggerers' jobs, on the cluster's PostgreSQL (``scripts/cluster.py``: :class:`Cluster` is a
:class:`MetadataTables`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Airflow's table of deferred tasks' triggers (``airflow/models/trigger.py``): one row per trigger,
#: deleted once no deferred task uses it.
TRIGGER_TABLE = "trigger"
#: The task state store's table in Airflow 3.3 (``airflow/models/task_state_store.py``).
TASK_STATE_STORE_TABLE = "task_state_store"


@dataclass
class TriggerRow:
    """One row of the ``trigger`` table, with the task instance deferred on it (if any)."""

    id: int
    triggerer_id: int | None
    queue: str | None
    classpath: str
    kwargs: str  #: the decrypted kwargs, as JSON text
    dag_id: str | None
    run_id: str | None
    task_id: str | None
    map_index: int | None
    try_number: int | None


@dataclass
class TriggererJob:
    """One triggerer's row of the ``job`` table."""

    id: int
    state: str | None
    age: float  #: seconds since its latest heartbeat
    ended: bool


class MetadataTables:
    """Reads of the metadata DB, for a deployment with ``services`` (:class:`Services` of
    ``scripts/services.py``) and ``fernet_key`` (``[core] fernet_key``)."""

    services: Any
    fernet_key: str

    def connect(self) -> Any:
        """A new psycopg2 connection to the metadata DB, in autocommit (close it when done)."""
        return self.services.connect()

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *, db: Any = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement on the metadata DB and return its rows (:meth:`Services.query`)."""
        rows: list[tuple[Any, ...]] = self.services.query(sql, params, db=db)
        return rows

    def decrypt(self, encrypted: str) -> str:
        """A trigger's ``kwargs`` column in clear (Fernet, ``[core] fernet_key``)."""
        from cryptography.fernet import Fernet

        if encrypted.startswith("{"):
            return encrypted
        return Fernet(self.fernet_key.encode()).decrypt(encrypted.encode()).decode()

    def triggers(self, *, db: Any = None) -> list[TriggerRow]:
        """Every row of the trigger table now, with the task instance deferred on it (on ``db`` if given)."""
        rows = self.query(
            f"SELECT t.id, t.triggerer_id, t.queue, t.classpath, t.kwargs, ti.dag_id, ti.run_id, ti.task_id,"
            f" ti.map_index, ti.try_number FROM {TRIGGER_TABLE} t"
            " LEFT JOIN task_instance ti ON ti.trigger_id = t.id ORDER BY t.id",
            db=db,
        )
        return [TriggerRow(*row[:4], self.decrypt(row[4]), *row[5:]) for row in rows]

    def triggerer_jobs(self) -> list[TriggererJob]:
        """Every triggerer's row of the ``job`` table (a restarted triggerer is a new job)."""
        rows = self.query(
            "SELECT id, state, EXTRACT(EPOCH FROM (now() - latest_heartbeat)), end_date IS NOT NULL FROM job"
            " WHERE job_type = 'TriggererJob' ORDER BY id"
        )
        return [TriggererJob(int(i), s, float(age or 0), bool(ended)) for i, s, age, ended in rows]
