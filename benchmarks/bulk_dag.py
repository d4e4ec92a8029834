"""Worker of benchmark (g): one DAG of one ``ZendeskBulkOperator`` task, run with ``dag.test()`` as the
tests run DAGs (``tests/airflow_harness.py``: a fresh AIRFLOW_HOME and SQLite DB, triggers run in-process).
Run by :mod:`benchmarks.throughput` in a fresh interpreter:
``python -m benchmarks.bulk_dag --spec SPEC.json --out OUT.json``.

The task updates the tickets ``first_id`` .. ``first_id + items - 1`` (``update_many`` with one change) on
the connection ``zendesk_bench`` (``AIRFLOW_CONN_ZENDESK_BENCH``); its results go to object storage
(``[jobstatus] result_base_path``), as they do for any input of more than 1,000 items. The worker writes
when ``dag.test()`` started and ended and when the task started and ended (monotonic, the clock of every
process of the machine), each inline trigger run, and the rows the task returned (read through the
manifest, as a downstream task would): index, record id, success and job id of each.

``spec["provider"]``: a folder holding another ``airflow_jobstatus`` package (another checkout's), put
first on ``sys.path``: the DAG then runs on that code (the sandbox and the harness stay this tree's).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, ZENDESK_CONN

DAG_ID = "bench_throughput"
TASK_ID = "bulk"

DAG_SOURCE = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    ZendeskBulkOperator(
        task_id={task_id!r},
        resource="tickets",
        action="update_many",
        items=list(range({first_id}, {first_id} + {items})),
        change={{"status": "solved"}},
        zendesk_conn_id={conn_id!r},
        poll_interval={poll_interval!r},
        max_poll_interval={max_poll_interval!r},
        max_jobs_in_flight={max_jobs_in_flight},
        timeout={timeout!r},
        deferrable={deferrable!r},
    )
"""


def dag_source(spec: dict[str, Any]) -> str:
    """The DAG file a user would write for ``spec``."""
    return DAG_SOURCE.format(
        dag_id=DAG_ID,
        task_id=TASK_ID,
        first_id=spec["first_id"],
        items=spec["items"],
        conn_id=ZENDESK_CONN,
        poll_interval=spec["poll_interval"],
        max_poll_interval=spec["max_poll_interval"],
        max_jobs_in_flight=spec["max_jobs_in_flight"],
        timeout=spec["timeout"],
        deferrable=spec["deferrable"],
    )


def count_trigger_runs(spans: list[list[float]]) -> None:
    """Wrap ``dag.test()``'s inline trigger run so that each run's (start, end) lands in ``spans``."""
    import airflow.sdk.definitions.dag as sdk_dag

    real = sdk_dag._run_inline_trigger

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return real(*args, **kwargs)
        finally:
            spans.append([started, time.monotonic()])

    sdk_dag._run_inline_trigger = timed


def task_span(run_id: str) -> tuple[float | None, float | None]:
    """The task's start and end (its TaskInstance dates), as monotonic times."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    offset = time.time() - time.monotonic()
    with create_session() as session:
        start, end = session.execute(
            select(TaskInstance.start_date, TaskInstance.end_date).where(
                TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run_id, TaskInstance.task_id == TASK_ID
            )
        ).one()
    return (
        None if start is None else start.timestamp() - offset,
        None if end is None else end.timestamp() - offset,
    )


def main() -> None:
    """Command line: run the DAG of ``--spec``, write the figures to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text())

    provider = spec.get("provider")
    if provider:  # another copy of the provider (e.g. an earlier engine): before this tree's
        sys.path.insert(0, provider)
    sys.path.append(str(REPO / "tests"))  # the harness the tests run DAGs with
    from airflow_harness import configure_session, run_dag

    configure_session(Path(spec["home"]))
    import airflow_jobstatus
    from airflow_jobstatus.operators.row_store import load_rows

    package = Path(airflow_jobstatus.__file__).resolve().parent.parent
    if provider and package != Path(provider).resolve():
        raise SystemExit(f"airflow_jobstatus was imported from {package}, not from {provider}")

    spans: list[list[float]] = []
    count_trigger_runs(spans)
    started = time.monotonic()
    result = run_dag(dag_source(spec), DAG_ID)
    ended = time.monotonic()
    task_started, task_ended = task_span(result.run_id)
    value = result.xcom(TASK_ID)
    rows = list(load_rows(value)) if result.state == "success" else []
    out = {
        "provider": str(package),
        "state": result.state,
        "task_states": result.task_states,
        "dag_started": started,
        "dag_ended": ended,
        "task_started": task_started,
        "task_ended": task_ended,
        "trigger_runs": spans,
        "manifest": {k: v for k, v in value.items() if k != "sha256"} if isinstance(value, dict) else None,
        "rows": [[r.get("index"), r.get("id"), r.get("success") is True, r.get("job_id")] for r in rows],
        "log_tail": "" if result.state == "success" else result.output[-4000:],
    }
    args.out.write_text(json.dumps(out))


if __name__ == "__main__":
    main()
