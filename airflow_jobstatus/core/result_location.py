"""Where a result goes when the task asks for no inline result (``inline_limit=0``) and names no
``output_path``: the task's default location. (A task's return value never depends on the size of the
result: without ``output_path`` and with ``inline_limit`` above 0, a result is always returned inline.)

The base is the first of these that is set:

1. ``[jobstatus] result_base_path`` (environment ``AIRFLOW__JOBSTATUS__RESULT_BASE_PATH``): any object
   storage URL, e.g. ``s3://aws_default@bucket/jobstatus``;
2. ``[common.io] xcom_objectstorage_path``: where the deployment already keeps large XCom values;
3. ``file://{AIRFLOW_HOME}/jobstatus_results``: the worker's own disk, with a warning, since a task on
   another worker cannot read it there.

Under it, one file per task and job: ``{base}/{dag_id}/{run_id}/{task_id}[/map_{index}]/{job_id}.json``.
The name does not depend on the try, so a retry that reattaches to the same job writes the same file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from typing import Any

log = logging.getLogger(__name__)

SECTION = "jobstatus"
OPTION = "result_base_path"
#: The Airflow setting of the Common IO provider for large XCom values, used when ours is not set.
XCOM_STORAGE = ("common.io", "xcom_objectstorage_path")
LOCAL_FOLDER = "jobstatus_results"

_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")


def airflow_setting(section: str, option: str) -> str:
    """An Airflow setting as stripped text ("" when unset), on every supported Airflow version."""
    try:
        from airflow.sdk import conf  # Airflow >= 3.2
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf  # type: ignore[no-redef,attr-defined,assignment,unused-ignore]
    return str(conf.get(section, option, fallback="") or "").strip()


def result_base_path() -> tuple[str, str | None]:
    """The base of the default location (results of ``inline_limit=0`` without ``output_path``), and the
    setting it came from (for the log); None for the default on the worker's own disk."""
    ours = airflow_setting(SECTION, OPTION)
    if ours:
        return ours, f"[{SECTION}] {OPTION}"
    xcom = airflow_setting(*XCOM_STORAGE)
    if xcom:
        return xcom, f"[{XCOM_STORAGE[0]}] {XCOM_STORAGE[1]}"
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return f"file://{os.path.join(home, LOCAL_FOLDER)}", None


#: The longest segment of a result path (file systems allow 255 bytes; object stores 1024 for a whole key).
MAX_PART_CHARS = 100


def path_part(text: Any) -> str:
    """One segment of a result path: characters object stores and file systems all accept, never ``.`` or
    ``..`` (a run id ``..`` must not climb out of the base), at most 100 characters (a longer one keeps its
    start and gets a digest of the whole, so two long ids never share a file)."""
    try:
        raw = str(text)
    except ValueError:  # an int too long to print in decimal: hex has no such limit, and stays unique
        raw = hex(text)
    part = _UNSAFE.sub("_", raw)
    if not part.strip("."):
        part = part.replace(".", "_") or "_"
    if len(part) > MAX_PART_CHARS:
        digest = hashlib.sha256(raw.encode("utf-8", errors="replace")).hexdigest()[:16]
        part = f"{part[: MAX_PART_CHARS - 17]}-{digest}"
    return part


def task_folder(context: Any, base: str) -> str:
    """``{base}/{dag_id}/{run_id}/{task_id}[/map_{index}]``: the task instance's own folder under
    ``base``, each part safe as a path segment (:func:`path_part`)."""
    ti = context["ti"]
    parts = [ti.dag_id, ti.run_id, ti.task_id]
    map_index = getattr(ti, "map_index", -1)
    if map_index is not None and map_index >= 0:
        parts.append(f"map_{map_index}")
    return "/".join([base.rstrip("/"), *(path_part(part) for part in parts)])


def default_result_path(context: Any, job_id: str) -> str:
    """The path a task's job result goes to with ``inline_limit=0`` and no ``output_path`` (see the
    module docstring); logs which setting chose the base."""
    base, source = result_base_path()
    path = f"{task_folder(context, base)}/{path_part(job_id)}.json"
    if source is None:
        log.warning(
            "no [%s] %s is set, so the result goes to %s on this worker's disk: set it (environment "
            "AIRFLOW__JOBSTATUS__RESULT_BASE_PATH) to shared object storage such as s3://bucket/results",
            SECTION,
            OPTION,
            path,
        )
    else:
        log.info("results of this task go under %s (from %s)", base, source)
    return path
