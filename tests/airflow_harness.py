"""Run Airflow DAGs end-to-end with ``dag.test()`` from pytest.

This module must stay importable *before* Airflow is configured: it never imports ``airflow`` at module
level. Airflow reads ``AIRFLOW_HOME`` / ``[core] dags_folder`` / the DB URL once, at import time, so the
environment from :func:`prepare_airflow_home` has to be in ``os.environ`` before anything imports
``airflow``.

Typical conftest usage (at conftest *import* time, i.e. module level)::

    from airflow_harness import configure_session

    configure_session(Path(tempfile.mkdtemp(prefix="airflow-tests-")))

or, split in two steps::

    os.environ.update(prepare_airflow_home(home))  # module level, before any airflow import
    ...
    @pytest.fixture(scope="session", autouse=True)
    def _airflow_db():
        migrate_db()

How ``dag.test()`` is driven (Airflow 3.3):

* ``dag.test()`` re-parses the whole ``dags-folder`` bundle and writes it to the metadata DB before it
  creates the run ("the dag is not serialized" otherwise). :func:`run_dag` therefore writes the DAG source
  to a uniquely named file in the dags folder, parses that file with ``DagBag`` to get the ``DAG``
  object, calls ``dag.test()`` and then moves the file out of the dags folder (to ``<home>/dags_done``),
  so each run parses exactly one file and re-used ``dag_id`` values never collide.
* Tasks run in-process (``run_task_in_process``) against an in-process Execution API server; deferred
  tasks get their trigger run inline (``asyncio.run(anext(trigger.run()))``) and are then resumed.
  Because of that ``asyncio.run`` :func:`run_dag` must be called from a *sync* test.
* Task logs are captured (and pytest-timeout kept armed) by :mod:`harness_capture`; its docstring explains
  where task logs go, how they are attributed to task instances and what ``mask_secrets=True`` does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness_capture import Capture, SigalrmGuard, TIKey, instrument_dag_test

__all__ = [
    "DAG_ARGS_ENV",
    "DagImportError",
    "DagRunResult",
    "configure_session",
    "dag_arguments",
    "migrate_db",
    "prepare_airflow_home",
    "run_dag",
    "run_dag_module",
]

#: Marker env var: the harness home of this session (lets configure_session detect an earlier setup).
HARNESS_HOME_ENV = "AIRFLOW_HARNESS_HOME"
#: The pytest-xdist worker that configured that home (each worker gets its own).
HARNESS_WORKER_ENV = "AIRFLOW_HARNESS_WORKER"
#: The name of the bundle that owns ``[core] dags_folder`` in the default bundle config.
DAGS_FOLDER_BUNDLE = "dags-folder"
#: The arguments :func:`run_dag_module` gives a DAG module (JSON), read there by :func:`dag_arguments`.
DAG_ARGS_ENV = "HARNESS_DAG_ARGS"
#: The DAG modules of the tests (real Python, linted like the rest): ``tests/dags/``.
DAGS_DIR = Path(__file__).resolve().parent / "dags"

_TESTS_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _TESTS_DIR.parent
_counter = itertools.count(1)
_migrated = False


class DagImportError(RuntimeError):
    """The DAG source could not be parsed, or it does not define the requested ``dag_id``."""


# ---------------------------------------------------------------------------------------------------------
# Session setup
# ---------------------------------------------------------------------------------------------------------


def prepare_airflow_home(path: Path) -> dict[str, str]:
    """Create an isolated AIRFLOW_HOME under ``path`` and return the env vars that configure it.

    The returned variables must be put into ``os.environ`` before ``airflow`` is imported.
    """
    home = Path(path).resolve()
    dags = home / "dags"
    for d in (home, dags, home / "dags_done", home / "plugins", home / "logs"):
        d.mkdir(parents=True, exist_ok=True)
    return {
        HARNESS_HOME_ENV: str(home),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Without a key Airflow warns and stores e.g. a deferred task's next_kwargs unencrypted.
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        # Not unit_test_mode: it swaps in airflow's own unit_tests.cfg (random fernet key, LocalExecutor,
        # load_examples=True...) and disables ExecutorSafeguard - further from production, no speed gain.
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # 0 = no DagBag import timeout. The timeout is a SIGALRM timer that replaces pytest-timeout's
        # SIGALRM handler and disarms its timer, silently disabling pytest-timeout for the test.
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "0",
        "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACK_DEPTH": "20",
        # Captured log text must be plain (no ANSI colours) and must contain the tasks' INFO lines.
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
        "AIRFLOW__SECRETS__USE_CACHE": "False",
    }


def migrate_db() -> float:
    """Create/upgrade the metadata DB in-process, once per process; return the seconds it took.

    In-process ``airflow.utils.db.initdb()`` (ORM ``create_all`` + alembic stamp for a new DB) is ~3x faster
    than an ``airflow db migrate`` subprocess, which has to import Airflow a second time.
    """
    global _migrated
    if _migrated:
        return 0.0
    start = time.perf_counter()
    from airflow.utils import db

    db.initdb()
    _migrated = True
    return time.perf_counter() - start


def configure_session(tmp_root: Path) -> None:
    """Point Airflow at a fresh home under ``tmp_root`` and migrate its DB (idempotent per process).

    If a harness home was configured already (``AIRFLOW_HARNESS_HOME`` is set, e.g. by a conftest), that
    home is kept and only the migration is ensured. Raises if Airflow was imported with another config.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and os.environ.get(HARNESS_WORKER_ENV) != worker:
        # A pytest-xdist worker inherits the controller's environment: it needs a home and DB of its own.
        os.environ.pop(HARNESS_HOME_ENV, None)
        os.environ[HARNESS_WORKER_ENV] = worker
    if not os.environ.get(HARNESS_HOME_ENV):
        if "airflow" in sys.modules:
            raise RuntimeError(
                "airflow was imported before configure_session(): its settings (AIRFLOW_HOME, dags folder, "
                "DB URL) are already fixed. Call configure_session() before anything imports airflow."
            )
        os.environ.update(prepare_airflow_home(Path(tmp_root)))
    _ensure_import_paths()
    migrate_db()


def _ensure_import_paths() -> None:
    """DAG files run in this process: let them import the project package and helper modules in tests/."""
    for path in (_REPO_ROOT, _TESTS_DIR):
        if str(path) not in sys.path:
            sys.path.append(str(path))


def _home() -> Path:
    home = os.environ.get(HARNESS_HOME_ENV)
    if not home:
        raise RuntimeError("Airflow harness not configured: call configure_session() first")
    return Path(home)


# ---------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------


@dataclass
class DagRunResult:
    """Outcome of one ``dag.test()`` run.

    ``task_states`` holds one state per task_id; for a mapped task it is the common state of all its map
    indexes, or ``"mixed:<s1>,<s2>"`` when they differ (see ``ti_states`` for the details). States are
    plain strings (``"success"``, ``"failed"``, ...); a task instance without a state is ``"none"``.
    ``logs[task_id]`` is all captured text of that task (all tries and map indexes, trigger included);
    ``ti_logs[(task_id, map_index, try_number)]`` splits it per try. ``output`` is everything captured
    during the run, including DAG-level lines outside any task.
    """

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]
    ti_states: dict[tuple[str, int], str]
    try_numbers: dict[str, int]
    logs: dict[str, str]
    ti_logs: dict[TIKey, str]
    output: str
    duration: float
    dag_file: Path
    xcoms: dict[tuple[str, int, str], Any] = field(repr=False)

    def xcom(self, task_id: str, key: str = "return_value", map_index: int | None = None) -> Any:
        """Return the deserialized XCom value, or None if absent.

        With ``map_index=None`` an unmapped task's value is returned; for a mapped task (no value at
        map_index -1) the list of the map indexes' values, in map_index order, is returned.
        """
        if map_index is not None:
            return self.xcoms.get((task_id, map_index, key))
        if (task_id, -1, key) in self.xcoms:
            return self.xcoms[(task_id, -1, key)]
        mapped = sorted((mi, v) for (t, mi, k), v in self.xcoms.items() if t == task_id and k == key)
        return [v for _, v in mapped] if mapped else None


# ---------------------------------------------------------------------------------------------------------
# Running a DAG
# ---------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _temp_environ(env: Mapping[str, str] | None) -> Iterator[None]:
    """Set ``env`` in os.environ for the duration, restoring previous values (or absence) afterwards."""
    if not env:
        yield
        return
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        yield
    finally:
        for k, old in saved.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old


def _state_str(state: Any) -> str:
    if state is None:
        return "none"
    return str(getattr(state, "value", state))


def _load_dag(dag_file: Path, dag_id: str) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.3
        from airflow.models.dagbag import DagBag

    kwargs: dict[str, Any] = {"bundle_path": dag_file.parent, "safe_mode": False}
    if "bundle_name" in DagBag.__init__.__code__.co_varnames:
        kwargs["bundle_name"] = DAGS_FOLDER_BUNDLE
    if "include_examples" in DagBag.__init__.__code__.co_varnames:
        kwargs["include_examples"] = False
    bag = DagBag(dag_folder=str(dag_file), **kwargs)
    if bag.import_errors:
        errors = "\n".join(f"{path}:\n{err}" for path, err in bag.import_errors.items())
        raise DagImportError(f"DAG file {dag_file.name} failed to import:\n{errors}")
    dag = bag.dags.get(dag_id)
    if dag is None:
        raise DagImportError(f"DAG {dag_id!r} not found in {dag_file.name}; found {sorted(bag.dags)}")
    return dag


def _collect(dag_id: str, run_id: str) -> tuple[dict[tuple[str, int], str], dict[str, int], dict]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.sdk.execution_time.xcom import resolve_xcom_backend
    from airflow.utils.session import create_session
    from sqlalchemy import select

    xcom_backend = resolve_xcom_backend()
    ti_states: dict[tuple[str, int], str] = {}
    try_numbers: dict[str, int] = {}
    xcoms: dict[tuple[str, int, str], Any] = {}
    with create_session() as session:
        tis = session.execute(
            select(
                TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state, TaskInstance.try_number
            ).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        for task_id, map_index, state, try_number in tis:
            ti_states[(task_id, map_index)] = _state_str(state)
            try_numbers[task_id] = max(try_numbers.get(task_id, 0), try_number or 0)
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run_id)
        ).all()
        for row in rows:
            xcoms[(row.task_id, row.map_index, row.key)] = xcom_backend.deserialize_value(row)
    return ti_states, try_numbers, xcoms


def _task_states(ti_states: dict[tuple[str, int], str]) -> dict[str, str]:
    per_task: dict[str, set[str]] = {}
    for (task_id, _), state in ti_states.items():
        per_task.setdefault(task_id, set()).add(state)
    return {t: s.pop() if len(s) == 1 else "mixed:" + ",".join(sorted(s)) for t, s in per_task.items()}


def run_dag(
    dag_source: str,
    dag_id: str,
    *,
    env: dict[str, str] | None = None,
    conf: dict[str, Any] | None = None,
    mask_secrets: bool = False,
) -> DagRunResult:
    """Write ``dag_source`` into the dags folder, run ``dag_id`` with ``dag.test()`` and collect the result.

    ``env`` (e.g. ``AIRFLOW_CONN_*``) is set in ``os.environ`` for the duration of the parse and run and
    restored afterwards; ``conf`` becomes the run's ``dag_run.conf``. Task failures do not raise: check
    ``result.state`` / ``result.task_states``. Raises :class:`DagImportError` if the DAG does not parse.
    Must be called from a synchronous test (``dag.test`` uses ``asyncio.run`` for inline triggers).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("run_dag() uses asyncio.run() internally; call it from a sync test, not async")

    home = _home()
    _ensure_import_paths()
    from airflow import settings
    from airflow.utils.file import get_unique_dag_module_name

    dags_folder = Path(settings.DAGS_FOLDER)  # what the "dags-folder" bundle (LocalDagBundle) walks
    safe_id = re.sub(r"\W", "_", dag_id)
    dag_file = dags_folder / f"harness_{safe_id}_{next(_counter)}_{uuid.uuid4().hex[:8]}.py"
    dag_file.write_text(dag_source)

    capture = Capture(mask_secrets=mask_secrets)
    guard = SigalrmGuard()
    start = time.perf_counter()
    try:
        with _temp_environ(env):
            dag = _load_dag(dag_file, dag_id)
            guard.restore()
            with instrument_dag_test(capture, guard):
                dag_run = dag.test(run_conf=conf)
            state = _state_str(dag_run.state)
            run_id = dag_run.run_id
    finally:
        # Keep the file for debugging, but out of the dags folder: dag.test() parses the whole folder.
        with contextlib.suppress(OSError):
            shutil.move(str(dag_file), home / "dags_done" / dag_file.name)
        # Each parse registered the file as module "unusual_prefix_<sha1(path)>_<stem>"; drop it.
        sys.modules.pop(get_unique_dag_module_name(str(dag_file)), None)
        guard.restore(final=True)
    duration = time.perf_counter() - start

    ti_states, try_numbers, xcoms = _collect(dag_id, run_id)
    ti_logs: dict[TIKey, list[str]] = {}
    per_task: dict[str, list[str]] = {}
    for key, text in capture.chunks:
        if key is not None:
            ti_logs.setdefault(key, []).append(text)
            per_task.setdefault(key[0], []).append(text)
    task_states = _task_states(ti_states)
    return DagRunResult(
        dag_id=dag_id,
        run_id=run_id,
        state=state,
        task_states=task_states,
        ti_states=ti_states,
        try_numbers=try_numbers,
        # Every task_id has an entry; tasks that never ran (e.g. upstream_failed) have "".
        logs={t: "".join(per_task.get(t, ())) for t in {*task_states, *per_task}},
        ti_logs={k: "".join(chunks) for k, chunks in ti_logs.items()},
        output="".join(text for _, text in capture.chunks),
        duration=duration,
        dag_file=home / "dags_done" / dag_file.name,
        xcoms=xcoms,
    )


def run_dag_module(
    module: str,
    dag_id: str,
    *,
    args: Mapping[str, Any] | None = None,
    env: dict[str, str] | None = None,
    conf: dict[str, Any] | None = None,
    mask_secrets: bool = False,
) -> DagRunResult:
    """:func:`run_dag` with the DAG file ``tests/dags/<module>.py``, a real module rather than a template.

    ``args`` (JSON: lists, dicts, strings, numbers, booleans, None) reach the module in the environment
    variable ``DAG_ARGS_ENV`` while it is parsed and run; it reads them with :func:`dag_arguments` and
    passes them to its DAG factory::

        if (arguments := dag_arguments()) is not None:
            dag = bulk_dag(**arguments)
    """
    source = (DAGS_DIR / f"{module}.py").read_text()
    full_env = {**(env or {}), DAG_ARGS_ENV: json.dumps(dict(args or {}))}
    return run_dag(source, dag_id, env=full_env, conf=conf, mask_secrets=mask_secrets)


def dag_arguments() -> dict[str, Any] | None:
    """In a DAG module run by :func:`run_dag_module`: the arguments it was given (``{}`` when none); None
    when the module is parsed some other way (it then builds no DAG)."""
    given = os.environ.get(DAG_ARGS_ENV)
    if given is None:
        return None
    arguments: dict[str, Any] = json.loads(given)
    return arguments
