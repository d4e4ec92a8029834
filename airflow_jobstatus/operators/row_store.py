"""Where an operator keeps its per-item results and its waves' jobs: XCom, or object storage.

Decided before the first submit from the arguments and the input's size, never from the output:

- ``results_path`` given: object storage, under that folder;
- else an input of at most ``[jobstatus] max_xcom_items`` items (default 1,000): XCom, as plain values;
- else object storage, under the deployment's result base (:func:`result_base_path`), in the task's
  own folder ``{base}/{dag_id}/{run_id}/{task_id}[/map_{index}]``.

In object storage the return value is a small manifest (:meth:`RowStore.deliver`) and the folder holds
``results.jsonl`` (one row per line, in input order), ``job_ids.json`` and ``waves/{n}.json`` (the ended
jobs of each wave, kept until the last wave ends because a vendor may forget a job by then). So a task's
XCom rows stay bounded whatever its input: at most ``max_xcom_items`` result rows, ``MAX_XCOM_JOB_IDS``
job ids, and the waves' jobs of at most ``max_xcom_items`` items.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_jobstatus.core.checks import loads_json, whole_number
from airflow_jobstatus.core.result_location import airflow_setting, result_base_path, task_folder
from airflow_jobstatus.core.results import object_storage_path_or_error, write_chunks
from airflow_jobstatus.errors import ConfigurationError

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)

SECTION, OPTION = "jobstatus", "max_xcom_items"
#: Inputs up to this many items keep their results in XCom unless the deployment says otherwise.
DEFAULT_MAX_XCOM_ITEMS = 1000
#: ``job_ids`` in XCom holds at most this many ids; beyond it the full list is in ``job_ids.json``.
MAX_XCOM_JOB_IDS = 1000
#: Bytes of JSON Lines handed to the object store at a time.
WRITE_CHUNK_BYTES = 1 << 20


def max_xcom_items() -> int:
    """``[jobstatus] max_xcom_items`` (environment ``AIRFLOW__JOBSTATUS__MAX_XCOM_ITEMS``), default 1,000."""
    text = airflow_setting(SECTION, OPTION)
    if not text:
        return DEFAULT_MAX_XCOM_ITEMS
    try:
        return whole_number(f"[{SECTION}] {OPTION}", int(text), minimum=0)
    except ValueError:
        raise ConfigurationError(
            f"[{SECTION}] {OPTION} must be a whole number of items, not {text!r}"
        ) from None


@dataclass(frozen=True)
class RowStore:
    """XCom (``folder`` None) or an object-storage folder, for one task instance (see the module doc)."""

    folder: str | None
    #: What set the folder, for errors: the argument or the deployment setting.
    named: str = "results_path"

    @classmethod
    def choose(cls, context: Context, item_count: int, results_path: str | None) -> RowStore:
        """The store for a task of ``item_count`` items (the same answer on every try and resume)."""
        if results_path:
            return cls(str(results_path).strip().rstrip("/"), "results_path")
        limit = max_xcom_items()
        if item_count <= limit:
            return cls(None)
        base, source = result_base_path()
        folder = task_folder(context, base)
        if source is None:
            log.warning(
                "%d items are more than [%s] %s (%d), so their results go to %s on this worker's disk: set "
                "results_path, or [jobstatus] result_base_path to shared object storage (s3://bucket/...)",
                item_count,
                SECTION,
                OPTION,
                limit,
                folder,
            )
        else:
            log.info(
                "%d items are more than [%s] %s (%d): their results go to %s (base from %s)",
                item_count,
                SECTION,
                OPTION,
                limit,
                folder,
                source,
            )
        return cls(folder, source or "[jobstatus] result_base_path")

    @property
    def in_xcom(self) -> bool:
        """True when results and waves go to XCom."""
        return self.folder is None

    def check(self) -> None:
        """Fail before any request when the folder cannot be used (named as ``results_path``)."""
        if self.folder is not None:
            object_storage_path_or_error(self.folder, self.named)

    def put_wave(self, context: Context, number: int, jobs: list[dict[str, Any]]) -> None:
        """Keep wave ``number``'s ended jobs until the task finishes."""
        if self.folder is None:
            context["ti"].xcom_push(key=f"jobs_wave_{number}", value=jobs)
            return
        self._write_json(f"waves/{number}.json", jobs)

    def get_wave(self, context: Context, task_id: str, number: int) -> list[dict[str, Any]]:
        """Wave ``number``'s jobs as :meth:`put_wave` kept them (this map index's own)."""
        if self.folder is None:
            ti = context["ti"]
            stored = ti.xcom_pull(task_ids=task_id, key=f"jobs_wave_{number}", map_indexes=ti.map_index)
            return list(stored or [])
        path = object_storage_path_or_error(f"{self.folder}/waves/{number}.json")
        if not path.exists():
            return []
        with path.open("rb") as source:
            return list(loads_json(source.read().decode("utf-8")))

    def xcom_job_ids(self, job_ids: Sequence[str]) -> list[str]:
        """The job ids for XCom ``job_ids``: all of them with XCom rows, else the first MAX_XCOM_JOB_IDS."""
        return list(job_ids if self.folder is None else job_ids[:MAX_XCOM_JOB_IDS])

    def deliver(self, rows: Any, job_ids: Sequence[str]) -> Any:
        """The return value: ``rows`` themselves with XCom rows; else ``rows`` written as JSON Lines and a
        manifest of them (path, size, sha256, counts, where the job ids are)."""
        if self.folder is None or not isinstance(rows, list):
            return rows
        destination = object_storage_path_or_error(f"{self.folder}/results.jsonl")
        stored = write_chunks(destination, _json_lines(rows), expected_size=None)
        ids_path = self._write_json("job_ids.json", list(job_ids))
        outcomes = [row.get("success") for row in rows if isinstance(row, dict)]
        manifest = {
            **stored.to_dict(),
            "format": "jsonl",
            "rows": len(rows),
            "succeeded": sum(1 for ok in outcomes if ok is True),
            "failed": sum(1 for ok in outcomes if ok is False),
            "job_count": len(job_ids),
            "job_ids_path": ids_path,
        }
        log.info(
            "%d result rows written to %s (%d bytes, sha256 %s)",
            len(rows),
            stored.path,
            stored.size,
            stored.sha256,
        )
        return manifest

    def _write_json(self, name: str, value: Any) -> str:
        destination = object_storage_path_or_error(f"{self.folder}/{name}")
        data = json.dumps(value, separators=(",", ":"), default=str).encode()
        return write_chunks(destination, [data], expected_size=len(data)).path


def _json_lines(rows: list[Any]) -> Iterator[bytes]:
    """``rows`` as JSON Lines, about WRITE_CHUNK_BYTES at a time."""
    buffer: list[bytes] = []
    size = 0
    for row in rows:
        line = json.dumps(row, separators=(",", ":"), default=str).encode() + b"\n"
        buffer.append(line)
        size += len(line)
        if size >= WRITE_CHUNK_BYTES:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


def load_rows(value: Any) -> Iterator[Any]:
    """The rows of an operator's return value, whichever form it took: the list itself, or the rows of
    the ``results.jsonl`` a manifest points to (read a line at a time). For downstream tasks::

        for row in load_rows(ti.xcom_pull(task_ids="solve")): ...
    """
    if isinstance(value, list):
        yield from value
        return
    if not (
        isinstance(value, dict) and value.get("format") == "jsonl" and isinstance(value.get("path"), str)
    ):
        raise ConfigurationError(
            f"not an operator's rows nor a manifest of them: {type(value).__name__} (expected a list, or a "
            "dict with format 'jsonl' and a path)"
        )
    path = object_storage_path_or_error(value["path"])
    with path.open("rb") as source:
        for line in source:
            if line.strip():
                yield loads_json(line.decode("utf-8"))
