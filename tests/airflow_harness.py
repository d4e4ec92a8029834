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

Where task logs go and how they are captured:

* In ``dag.test()`` nothing is written to task log files. Task loggers (``structlog``, e.g. operator
  ``self.log``) render through structlog's processor chain and write straight to the process' stdout via
  a ``WriteLogger``; stdlib ``logging`` records propagate to the root ``StreamHandler`` whose
  ``ProcessorFormatter`` uses the very same renderer. ``print()`` goes to ``sys.stdout`` unmodified.
* :func:`run_dag` wraps the final renderer in both places (the shared structlog processor list and every
  root-handler ``ProcessorFormatter``) so every rendered line is recorded *and still printed*, and patches
  ``builtins.print`` to record printed text. Lines are attributed to the task instance that is currently
  executing by wrapping ``airflow.sdk.definitions.dag._run_task`` (dag.test runs task instances one at a
  time; the inline trigger runs inside that call, so trigger logs belong to the task too).
* ``dag.test()`` does NOT apply Airflow's secrets masker to these logs (in production the supervisor
  process masks them). The captured text is therefore the raw, unmasked output - the strictest check for
  "a secret never appears in logs". Pass ``mask_secrets=True`` to emulate the production masker.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import functools
import itertools
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DagImportError",
    "DagRunResult",
    "configure_session",
    "migrate_db",
    "prepare_airflow_home",
    "run_dag",
]

#: Marker env var: the harness home of this session (lets configure_session detect an earlier setup).
HARNESS_HOME_ENV = "AIRFLOW_HARNESS_HOME"
#: The name of the bundle that owns ``[core] dags_folder`` in the default bundle config.
DAGS_FOLDER_BUNDLE = "dags-folder"

_TESTS_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _TESTS_DIR.parent
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
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

TIKey = tuple[str, int, int]  # (task_id, map_index, try_number)


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
# Log capture
# ---------------------------------------------------------------------------------------------------------


class _Capture:
    """Collects rendered log lines / printed text, attributed to the running task instance."""

    def __init__(self, mask_secrets: bool) -> None:
        self.mask_secrets = mask_secrets
        self.current: TIKey | None = None
        self.chunks: list[tuple[TIKey | None, str]] = []

    def record(self, text: str) -> None:
        if self.mask_secrets:
            from airflow.sdk._shared.secrets_masker import redact

            text = str(redact(text))
        if not text.endswith("\n"):
            text += "\n"
        self.chunks.append((self.current, _ANSI_RE.sub("", text)))


class _RecordingRenderer:
    """Wraps structlog's final renderer: records what it renders, returns it unchanged."""

    def __init__(self, inner: Callable[..., Any], capture: _Capture) -> None:
        self.inner = inner
        self.capture = capture

    def __call__(self, logger: Any, method_name: str, event_dict: Any) -> Any:
        if self.capture.mask_secrets:
            from airflow.sdk._shared.secrets_masker import redact

            event_dict = redact(event_dict)
        out = self.inner(logger, method_name, event_dict)
        with contextlib.suppress(Exception):  # never break logging because of the harness
            self.capture.record(out.decode() if isinstance(out, bytes) else str(out))
        return out


@contextlib.contextmanager
def _instrument_dag_test(capture: _Capture, guard: _SigalrmGuard) -> Iterator[None]:
    """Install the renderer wrappers, the print() hook and the per-task hooks for the duration."""
    from unittest import mock

    import airflow.sdk.definitions.dag as sdk_dag
    import structlog
    from structlog.stdlib import ProcessorFormatter

    undo: list[Callable[[], None]] = []

    # 1. structlog-native loggers: all bound loggers (cached ones too) share this very list object.
    procs = structlog.get_config()["processors"]
    if isinstance(procs, list) and procs:
        wrapper = _RecordingRenderer(procs[-1], capture)
        procs[-1] = wrapper

        def unwrap_structlog() -> None:
            for i, proc in enumerate(procs):
                if proc is wrapper:
                    procs[i] = wrapper.inner

        undo.append(unwrap_structlog)

    # 2. stdlib logging: root handlers with a structlog ProcessorFormatter, else an extra handler.
    wrapped_stdlib = False
    for handler in logging.getLogger().handlers:
        fmt = handler.formatter
        if isinstance(fmt, ProcessorFormatter) and fmt.processors:
            original = fmt.processors
            fmt.processors = (*original[:-1], _RecordingRenderer(original[-1], capture))
            undo.append(functools.partial(setattr, fmt, "processors", original))
            wrapped_stdlib = True
    if not wrapped_stdlib:
        extra = _RecordHandler(capture)
        logging.getLogger().addHandler(extra)
        undo.append(lambda: logging.getLogger().removeHandler(extra))

    # 3. print(): dag.test does not redirect the task's stdout; record it like the real task log would.
    real_print = builtins.print

    def recording_print(*args: Any, **kwargs: Any) -> None:
        target = kwargs.get("file")
        if target is None or target in (sys.stdout, sys.stderr):
            sep = kwargs.get("sep") or " "
            end = kwargs.get("end")
            capture.record(sep.join(str(a) for a in args) + ("\n" if end is None else end))
        real_print(*args, **kwargs)

    # 4. Attribute everything logged while a task instance runs (trigger included) to that TI, and
    #    re-arm pytest-timeout after each task / before each inline trigger (see _SigalrmGuard).
    real_run_task = sdk_dag._run_task
    real_run_inline_trigger = sdk_dag._run_inline_trigger

    def attributed_run_task(*, ti: Any, **kwargs: Any) -> Any:
        previous = capture.current
        capture.current = (ti.task_id, ti.map_index, ti.try_number)
        try:
            return real_run_task(ti=ti, **kwargs)
        finally:
            capture.current = previous
            guard.restore()

    def guarded_run_inline_trigger(*args: Any, **kwargs: Any) -> Any:
        guard.restore()
        return real_run_inline_trigger(*args, **kwargs)

    try:
        with (
            mock.patch.object(builtins, "print", recording_print),
            mock.patch.object(sdk_dag, "_run_task", attributed_run_task),
            mock.patch.object(sdk_dag, "_run_inline_trigger", guarded_run_inline_trigger),
        ):
            yield
    finally:
        for fn in reversed(undo):
            fn()


class _RecordHandler(logging.Handler):
    """Fallback stdlib handler (only used when the root logger has no structlog ProcessorFormatter)."""

    def __init__(self, capture: _Capture) -> None:
        super().__init__(level=logging.NOTSET)
        self.capture = capture
        self.setFormatter(logging.Formatter("[%(levelname)s] %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.capture.record(self.format(record))


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


class _SigalrmGuard:
    """Keeps pytest-timeout (SIGALRM + ITIMER_REAL) working across Airflow's own signal timeouts.

    Airflow's signal based timeouts (DagBag import timeout, a task's ``execution_timeout``) install their
    own SIGALRM handler and disarm ITIMER_REAL on exit without restoring the previous ones, which silently
    disables pytest-timeout for the rest of the test. :meth:`restore` re-installs the handler that was
    active when the guard was created and re-arms the timer with the time that is left - unless that
    handler has fired already (the test timed out; re-arming would fire it a second time).
    """

    def __init__(self) -> None:
        self.active = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
        self.fired = False
        if not self.active:
            return
        self.original = signal.getsignal(signal.SIGALRM)
        remaining, self.interval = signal.getitimer(signal.ITIMER_REAL)
        self.deadline = time.monotonic() + remaining if remaining > 0 else None
        self.handler: Any = self.original
        if callable(self.original):
            original = self.original

            def handler(signum: int, frame: Any) -> Any:
                self.fired = True
                return original(signum, frame)

            self.handler = handler
            signal.signal(signal.SIGALRM, handler)

    def restore(self, final: bool = False) -> None:
        if not self.active:
            return
        wanted = self.original if final else self.handler
        if wanted is not None and signal.getsignal(signal.SIGALRM) is not wanted:
            signal.signal(signal.SIGALRM, wanted)
        if self.deadline is not None and not self.fired and signal.getitimer(signal.ITIMER_REAL)[0] == 0:
            left = self.deadline - time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), self.interval)


def _state_str(state: Any) -> str:
    if state is None:
        return "none"
    return str(getattr(state, "value", state))


def _load_dag(dag_file: Path, dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(
        dag_folder=str(dag_file),
        bundle_path=dag_file.parent,
        bundle_name=DAGS_FOLDER_BUNDLE,
        safe_mode=False,
    )
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

    capture = _Capture(mask_secrets=mask_secrets)
    guard = _SigalrmGuard()
    start = time.perf_counter()
    try:
        with _temp_environ(env):
            dag = _load_dag(dag_file, dag_id)
            guard.restore()
            with _instrument_dag_test(capture, guard):
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
