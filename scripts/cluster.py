"""`make cluster`: a production-like Airflow: PostgreSQL, Redis, the CeleryExecutor, several workers and
triggerers, the sandbox, the example DAGs.

Everything lives in one temporary directory, removed on stop: PostgreSQL (the metadata DB and Celery's
result backend) and Redis (Celery's broker, database 0; the provider's rate-limit storage, database 1) from
Debian's packages (``scripts/install_services.sh``), each started on a free 127.0.0.1 port by an
unprivileged user (PostgreSQL refuses root: as root, the servers run as ``SERVICE_USER``, created with
``useradd --system`` when missing), and Airflow 3 with two Celery workers, two triggerers, the scheduler,
the dag-processor and the api-server, each its own process group (:class:`LocalAirflow` of
``scripts/local_airflow.py``, which ``make airflow`` uses too), so that one worker or one triggerer can be
SIGKILLed and started again.

Triggerer queues are enabled (``[triggerer] queues_enabled``) with one pinned queue, ``zendesk_pinned``:
``triggerer-1`` takes ``default`` and the pinned queue, ``triggerer-2`` only ``default``; ``worker-1``
listens on both, ``worker-2`` on ``default``. With queues enabled a task's trigger carries the task's own
``queue`` ("default" unless set), and a triggerer started without ``--queues`` takes only triggers without
a queue (``Trigger.get_sorted_triggers`` in ``airflow/models/trigger.py``): every triggerer is started with
``--queues``. It prints the UI address and the login; Ctrl-C (or SIGTERM) stops everything.

tests/cluster starts the same deployment with :class:`Cluster`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_airflow import (
    ROOT,
    LocalAirflow,
    _die_with_parent,
    _signal_group,
    free_port,
    sandbox_connections,
)

#: The queue of every task that sets none (``[operators] default_queue``).
DEFAULT_QUEUE = "default"
#: The queue ``make cluster`` pins to ``triggerer-1`` (and ``worker-1``).
PINNED_QUEUE = "zendesk_pinned"
#: Airflow's table of deferred tasks' triggers (``airflow/models/trigger.py``): one row per trigger,
#: deleted once no deferred task uses it.
TRIGGER_TABLE = "trigger"
#: The task state store's table in Airflow 3.3 (``airflow/models/task_state_store.py``).
TASK_STATE_STORE_TABLE = "task_state_store"
#: The unprivileged user the servers run as when we are root.
SERVICE_USER = os.environ.get("JOBSTATUS_SERVICE_USER", "jobstatus-svc")
DB_NAME = "airflow"
DB_USER = "airflow"


def postgres_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``postgres`` (Debian's layout), or the
    directory of ``postgres`` on PATH; None when PostgreSQL is not installed."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("postgres")
    return Path(on_path).parent if on_path else None


def redis_server_bin() -> Path | None:
    """``redis-server``, None when Redis is not installed."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    return Path(found) if found else None


def missing_services() -> list[str]:
    """The Debian packages missing for a cluster (``postgresql``, ``redis-server``); [] when both are in."""
    missing = [] if postgres_bin_dir() else ["postgresql"]
    return missing + ([] if redis_server_bin() else ["redis-server"])


def service_account() -> tuple[int, int] | None:
    """(uid, gid) the servers run as: ``SERVICE_USER`` (created if missing) when we are root, else None
    (they run as we do)."""
    if os.geteuid() != 0:
        return None
    for attempt in range(10):
        with contextlib.suppress(KeyError):
            user = pwd.getpwnam(SERVICE_USER)
            return user.pw_uid, user.pw_gid
        # Another process may create it at the same time (exit 9) or hold the lock on /etc/passwd (10).
        done = subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode not in (0, 9, 10):
            raise RuntimeError(f"useradd {SERVICE_USER} failed: {done.stderr.strip()}")
        time.sleep(0.2 * attempt)
    raise RuntimeError(f"could not create the user {SERVICE_USER}")


@dataclass
class Service:
    """One server process (PostgreSQL or Redis), in a process group of its own."""

    name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def running(self) -> bool:
        """Whether the server still runs."""
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int, timeout: float = 15.0) -> None:
        """Send ``sig`` to the server; SIGKILL its whole process group if it still runs after ``timeout``."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        _signal_group(self.process.pid, signal.SIGKILL)  # whatever is left of its group
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)

    def tail(self, lines: int = 30) -> str:
        """The last lines of the server's output."""
        if not self.log.exists():
            return f"({self.log} does not exist)"
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"{self.name} | {line}" for line in text)


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


class Cluster:
    """PostgreSQL, Redis and Airflow on the CeleryExecutor, every file under one temporary directory.

    :param dags_folders: folders of DAG files, each loaded as its own local DAG bundle.
    :param connections: conn id -> connection as JSON (an ``AIRFLOW_CONN_*`` value).
    :param workers: how many Celery workers (``worker-1``...; ``worker-1`` also listens on ``pinned_queues``).
    :param triggerers: how many triggerers (``triggerer-1``...; ``triggerer-1`` also takes ``pinned_queues``).
    :param pinned_queues: queues only ``triggerer-1`` and ``worker-1`` take; non-empty enables
        ``[triggerer] queues_enabled``, and then every triggerer is started with ``--queues``.
    :param triggerer_capacity: ``airflow triggerer --capacity`` (None: Airflow's default, 1000).
    :param worker_concurrency: task slots of each Celery worker.
    :param api_port: the api-server (UI and REST API) port; 0 picks a free one.
    :param password: the ``admin`` password; None generates one.
    :param store_connections: save the connections in the metadata DB (listed in the UI).
    :param extra_env: more ``AIRFLOW__...`` settings for every component.
    :param tmp: the directory to use (created, and removed on stop); None makes a fresh temporary one.
    """

    def __init__(
        self,
        *,
        dags_folders: Sequence[Path],
        connections: Mapping[str, str],
        workers: int = 2,
        triggerers: int = 2,
        pinned_queues: Sequence[str] = (PINNED_QUEUE,),
        triggerer_capacity: int | None = None,
        worker_concurrency: int = 4,
        api_port: int = 0,
        password: str | None = None,
        store_connections: bool = False,
        extra_env: Mapping[str, str] | None = None,
        tmp: Path | None = None,
    ) -> None:
        self.tmp = Path(tmp) if tmp is not None else Path(tempfile.mkdtemp(prefix="jobstatus-cluster-"))
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.services_dir = self.tmp / "services"
        self.pinned_queues = list(pinned_queues)
        self.worker_names = [f"worker-{index}" for index in range(1, workers + 1)]
        self.triggerer_names = [f"triggerer-{index}" for index in range(1, triggerers + 1)]
        self.fernet_key = _fernet_key()
        self.db_password = secrets.token_urlsafe(16)
        self.redis_password = secrets.token_urlsafe(16)
        self.postgres = Service("postgres", free_port(), self.services_dir / "postgres.log")
        self.redis = Service("redis", free_port(), self.services_dir / "redis.log")
        self._job_ids: dict[str, int] = {}
        self._starting: dict[str, set[int]] = {}  # triggerer -> the job ids before it started, until known
        self._account = service_account()

        queues = {name: [DEFAULT_QUEUE] for name in [*self.worker_names, *self.triggerer_names]}
        for first in (self.worker_names[:1], self.triggerer_names[:1]):
            for name in first:
                queues[name] += self.pinned_queues
        commands: dict[str, list[str]] = {"api-server": ["api-server"], "scheduler": ["scheduler"]}
        commands["dag-processor"] = ["dag-processor"]
        component_env: dict[str, dict[str, str]] = {}
        for name in self.worker_names:
            commands[name] = ["celery", "worker", "--queues", ",".join(queues[name])]
            commands[name] += [
                "--concurrency",
                str(worker_concurrency),
                "--celery-hostname",
                self.celery_hostname(name),
            ]
            # Each serves its task logs on a port of its own (they share the machine).
            component_env[name] = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
        for name in self.triggerer_names:
            commands[name] = ["triggerer"]
            if self.pinned_queues:
                commands[name] += ["--queues", ",".join(queues[name])]
            if triggerer_capacity is not None:
                commands[name] += ["--capacity", str(triggerer_capacity)]
            component_env[name] = {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
        self.queues = queues

        settings = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "32",
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            **self._service_settings(),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_concurrency),
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": DEFAULT_QUEUE,
            "AIRFLOW__TRIGGERER__QUEUES_ENABLED": str(bool(self.pinned_queues)),
            # A killed triggerer's triggers go to a live one once its heartbeat (every second) is this old.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
        }
        settings.update(extra_env or {})
        self.airflow = LocalAirflow(
            self.tmp / "home",
            dags_folders=dags_folders,
            connections=connections,
            api_port=api_port,
            password=password,
            store_connections=store_connections,
            extra_env=settings,
            commands=commands,
            component_env=component_env,
        )

    def _service_settings(self) -> dict[str, str]:
        """The settings that name the servers (their ports are known for sure once they run)."""
        return {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            "AIRFLOW__CELERY__BROKER_URL": self.redis_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{self.database_url}",
            # The provider's shared rate budgets (``[jobstatus] rate_limit_storage``).
            "AIRFLOW__JOBSTATUS__RATE_LIMIT_STORAGE": self.rate_limit_storage_url,
        }

    # --- what the tests use -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The UI and REST API address."""
        return self.airflow.url

    @property
    def password(self) -> str:
        """The ``admin`` user's password."""
        return self.airflow.password

    @property
    def psql_url(self) -> str:
        """The metadata DB as a libpq URL (``psql``, ``psycopg2.connect``)."""
        return f"postgresql://{DB_USER}:{self.db_password}@127.0.0.1:{self.postgres.port}/{DB_NAME}"

    @property
    def database_url(self) -> str:
        """The metadata DB as a SQLAlchemy URL (``[database] sql_alchemy_conn``)."""
        return self.psql_url.replace("postgresql://", "postgresql+psycopg2://", 1)

    @property
    def redis_url(self) -> str:
        """Redis database 0: the Celery broker."""
        return f"redis://:{self.redis_password}@127.0.0.1:{self.redis.port}/0"

    @property
    def rate_limit_storage_url(self) -> str:
        """Redis database 1: ``[jobstatus] rate_limit_storage`` of every component."""
        return f"redis://:{self.redis_password}@127.0.0.1:{self.redis.port}/1"

    @property
    def logs(self) -> dict[str, Path]:
        """The output file of every component and server, by name."""
        found = {name: self.airflow.component_logs / f"{name}.log" for name in self.airflow.commands}
        return {**found, "postgres": self.postgres.log, "redis": self.redis.log}

    def celery_hostname(self, worker: str) -> str:
        """A worker's Celery node name (``--celery-hostname``)."""
        return f"{worker}@jobstatus-cluster"

    def token(self) -> str:
        """A JWT for the REST API."""
        return self.airflow.token()

    def connect(self) -> Any:
        """A new psycopg2 connection to the metadata DB, in autocommit (close it when done)."""
        import psycopg2

        db = psycopg2.connect(self.psql_url, connect_timeout=10)
        db.autocommit = True
        return db

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *, db: Any = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement on the metadata DB (autocommit) and return its rows ([] for none): on ``db``
        (a connection from ``connect``) if given, else on a connection of its own."""
        with contextlib.ExitStack() as stack:
            if db is None:
                db = stack.enter_context(contextlib.closing(self.connect()))
            with db.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall()) if cursor.description else []

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

    @property
    def triggerer_job_ids(self) -> dict[str, int]:
        """The triggerer job id of each running triggerer, by name (waiting for a restarted one's job)."""
        for name in list(self._starting):
            self._await_triggerer_job(name, 120.0)
        running = {name for name, process in self.airflow.processes.items() if process.poll() is None}
        return {name: job for name, job in self._job_ids.items() if name in running}

    def triggerer_of_job(self, job_id: int | None) -> str | None:
        """The triggerer (name) that runs, or ran, as ``job_id``."""
        return next((name for name, job in self._job_ids.items() if job == job_id), None)

    def worker_of_pid(self, pid: int) -> str | None:
        """The Celery worker whose session holds process ``pid`` (a task process), if any."""
        return next((name for name in self.worker_names if pid in self.airflow.component_pids(name)), None)

    def kill(self, name: str) -> None:
        """SIGKILL one component (a triggerer, a worker...): its process group and everything its session
        still runs, task processes included."""
        self.airflow.kill_component(name)

    def restart(self, name: str, *, wait: bool = True, timeout: float = 120.0) -> None:
        """Start a component again (after ``kill``); with ``wait``, until it is ready (a triggerer's new job
        heartbeats, a worker answers Celery's ping). Without, a triggerer's new job id is known once
        ``wait_ready`` or ``triggerer_job_ids`` has seen it."""
        self._start(name)
        if wait:
            self.wait_ready(timeout, [name])

    def ensure_running(self, names: Sequence[str] | None = None, timeout: float = 120.0) -> None:
        """Start again whatever component is not running; wait until the cluster is ready (of the
        triggerers and workers, only ``names`` if given)."""
        for name, process in self.airflow.processes.items():
            if process.poll() is not None:
                self._start(name)
        self.wait_ready(timeout, names)

    def _start(self, name: str) -> None:
        if name in self.triggerer_names:
            for other in list(self._starting):  # one at a time: a new triggerer job is the one just started
                self._await_triggerer_job(other, 120.0)
            self._starting[name] = {job.id for job in self.triggerer_jobs()}
            self._job_ids.pop(name, None)
        self.airflow.start_component(name)

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 240.0) -> Cluster:
        """Start the servers, migrate the DB, start every component; wait until all are ready."""
        if importlib.util.find_spec("asyncpg") is None:
            raise RuntimeError(
                "Airflow 3 on PostgreSQL needs asyncpg too ([database] sql_alchemy_conn_async defaults to"
                " postgresql+asyncpg://): pip install 'asyncpg>=0.30'"
            )
        try:
            self.start_services()
            self.airflow.prepare()
            for name in self.airflow.commands:
                self._start(name)  # each triggerer once the previous one's job is known
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = 120.0, names: Sequence[str] | None = None) -> None:
        """Wait until the API reports the scheduler, dag-processor and triggerer healthy, every triggerer's
        job heartbeats and every Celery worker answers a ping (of those, only ``names`` if given)."""
        deadline = time.monotonic() + timeout
        self.airflow.wait_healthy(timeout)
        names = list(names) if names is not None else [*self.triggerer_names, *self.worker_names]
        for name in [name for name in names if name in self._starting]:
            self._await_triggerer_job(name, max(deadline - time.monotonic(), 1.0))
        workers = [name for name in names if name in self.worker_names]
        while True:
            self._check_alive()
            fresh = {job.id for job in self.triggerer_jobs() if not job.ended and job.age < 5}
            waiting = [name for name in names if name in self._job_ids and self._job_ids[name] not in fresh]
            answering = self.ping() if workers else set()
            waiting += [name for name in workers if self.celery_hostname(name) not in answering]
            if not waiting:
                return
            if time.monotonic() > deadline:
                digest = "\n".join(self.airflow.log_tail(name) for name in waiting)
                raise TimeoutError(f"not ready after {timeout:g} s: {waiting}\n{digest}")
            time.sleep(0.5)

    def ping(self, timeout: float = 1.0) -> set[str]:
        """The Celery node names that answer a ping now."""
        from celery import Celery

        app = Celery(broker=self.redis_url)
        try:
            replies = app.control.ping(timeout=timeout)
        except Exception:
            return set()
        finally:
            app.close()
        return {name for reply in replies for name in reply}

    def _await_triggerer_job(self, name: str, timeout: float) -> None:
        """Record the job id of the triggerer ``name`` (re)started last: the one running triggerer job that
        was not there before it started."""
        known = self._starting[name]
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            new = [job.id for job in self.triggerer_jobs() if job.id not in known and not job.ended]
            if len(new) > 1:
                raise RuntimeError(f"{name}: several new triggerer jobs at once: {new}")
            if new:
                self._job_ids[name] = new[0]
                del self._starting[name]
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{name} made no triggerer job in {timeout:g} s\n{self.airflow.log_tail(name)}"
                )
            time.sleep(0.3)

    def _check_alive(self) -> None:
        for service in (self.postgres, self.redis):
            if not service.running():
                raise RuntimeError(f"{service.name} is not running:\n{service.tail()}")
        for name, process in self.airflow.processes.items():
            if process.poll() is not None and name not in self._killed():
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.airflow.log_tail(name)}")

    def _killed(self) -> set[str]:
        """Components stopped on purpose (``kill``) and not started again (negative return code)."""
        return {name for name, process in self.airflow.processes.items() if (process.returncode or 0) < 0}

    def start_services(self) -> None:
        """Initialise and start PostgreSQL and Redis, unprivileged, on free ports; create the DB."""
        self.services_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.tmp, 0o711)  # the service user goes through, to its own directory only
        self._own(self.services_dir)
        self._start_postgres()
        self._start_redis()
        # A server may have moved to another port (its first one was taken meanwhile): before any
        # component starts (LocalAirflow computes their environment once, in ``prepare``).
        self.airflow.extra_env.update(self._service_settings())

    def _own(self, path: Path) -> None:
        if self._account is not None:
            os.chown(path, *self._account)

    def _service_popen(self, argv: Sequence[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a server as the service user (when we are root), in a session of its own."""
        account = self._account
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.services_dir),
            "LANG": "C.UTF-8",
        }
        with log.open("ab") as out:
            return subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.services_dir,
                env=env,
                start_new_session=True,
                user=account[0] if account else None,
                group=account[1] if account else None,
                extra_groups=[] if account else None,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                **kwargs,
            )

    def _start_postgres(self) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed: run `bash scripts/install_services.sh`")
        data = self.services_dir / "pgdata"
        password_file = self.services_dir / "pgpass"
        password_file.write_text(self.db_password + "\n")
        os.chmod(password_file, 0o600)
        self._own(password_file)
        init = self._service_popen(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                DB_USER,
                f"--pwfile={password_file}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            self.services_dir / "initdb.log",
        )
        if init.wait(120) != 0:
            raise RuntimeError(f"initdb failed:\n{(self.services_dir / 'initdb.log').read_text()}")
        password_file.unlink()
        for attempt in range(3):
            self.postgres.process = self._service_popen(
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(data),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.postgres.port),
                    "-k",
                    "",  # no Unix socket (its path could be too long): TCP on 127.0.0.1 only
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=300",
                    "-c",
                    "shared_buffers=64MB",
                ],
                self.postgres.log,
            )
            if self._wait_postgres():
                break
            self.postgres.stop(signal.SIGINT)
            if attempt == 2:
                raise RuntimeError(f"PostgreSQL did not start:\n{self.postgres.tail()}")
            self.postgres.port = free_port()  # the port was taken in the meantime
        self.query_as_admin(f"CREATE DATABASE {DB_NAME}")

    def _wait_postgres(self, timeout: float = 30.0) -> bool:
        import psycopg2

        deadline = time.monotonic() + timeout
        url = self.psql_url.rsplit("/", 1)[0] + "/postgres"
        while time.monotonic() < deadline and self.postgres.running():
            try:
                psycopg2.connect(url, connect_timeout=2).close()
                return True
            except psycopg2.OperationalError:
                time.sleep(0.2)
        return False

    def query_as_admin(self, sql: str) -> None:
        """Run one statement on the ``postgres`` database (before ours exists)."""
        import psycopg2

        url = self.psql_url.rsplit("/", 1)[0] + "/postgres"
        with contextlib.closing(psycopg2.connect(url, connect_timeout=10)) as db:
            db.autocommit = True
            with db.cursor() as cursor:
                cursor.execute(sql)

    def _start_redis(self) -> None:
        server = redis_server_bin()
        if server is None:
            raise RuntimeError("redis-server is not installed: run `bash scripts/install_services.sh`")
        data = self.services_dir / "redis"
        data.mkdir(exist_ok=True)
        self._own(data)
        for attempt in range(3):
            config = self.services_dir / "redis.conf"  # the password stays out of the command line
            config.write_text(
                f'bind 127.0.0.1\nport {self.redis.port}\ndir {data}\nsave ""\nappendonly no\n'
                f'daemonize no\nprotected-mode yes\nrequirepass {self.redis_password}\nlogfile ""\n'
            )
            os.chmod(config, 0o600)
            self._own(config)
            self.redis.process = self._service_popen([str(server), str(config)], self.redis.log)
            if self._wait_redis():
                return
            self.redis.stop(signal.SIGTERM)
            if attempt == 2:
                raise RuntimeError(f"Redis did not start:\n{self.redis.tail()}")
            self.redis.port = free_port()

    def _wait_redis(self, timeout: float = 20.0) -> bool:
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.redis.running():
            try:
                client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
                try:
                    if client.ping():
                        return True
                finally:
                    client.close()
            except redis.RedisError:
                time.sleep(0.2)
        return False

    def stop(self) -> None:
        """Stop Airflow (every process it started), then the servers; remove the temporary directory."""
        try:
            self.airflow.stop()
        finally:
            self.postgres.stop(signal.SIGINT)  # "fast" shutdown: SIGTERM would wait for clients to leave
            self.redis.stop(signal.SIGTERM)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def leftover_pids(self) -> list[int]:
        """Processes of the cluster (Airflow's, the servers') that still run."""
        servers = [
            s.process.pid for s in (self.postgres, self.redis) if s.process is not None and s.running()
        ]
        return self.airflow.leftover_pids() + servers

    def logs_digest(self, lines: int = 30) -> str:
        """The tail of every component's and server's output."""
        return "\n".join([self.airflow.logs_digest(lines), self.postgres.tail(lines), self.redis.tail(lines)])

    def __enter__(self) -> Cluster:
        """Start the cluster."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the cluster."""
        self.stop()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


# --- make cluster ----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="scripts/cluster.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="UI / REST API port (0: a free one)")
    parser.add_argument("--sandbox-port", type=int, default=8900, help="sandbox port (0: a free one)")
    parser.add_argument("--job-seconds", type=float, default=20.0, help="how long a sandbox job takes")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers")
    parser.add_argument("--triggerers", type=int, default=2, help="triggerers")
    parser.add_argument(
        "--pinned-queues",
        default=PINNED_QUEUE,
        help="comma-separated queues only triggerer-1 and worker-1 take ('' disables triggerer queues)",
    )
    return parser.parse_args(argv)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox and the cluster until Ctrl-C or SIGTERM."""
    args = parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _raise_interrupt)
    missing = missing_services()
    if missing:
        print(f"missing: {', '.join(missing)}; run `bash scripts/install_services.sh`", file=sys.stderr)
        return 2
    from airflow_jobstatus.sandbox import (
        SandboxServer,
        TradeDeskSandboxConfig,
        WistiaSandboxConfig,
        ZendeskSandboxConfig,
    )

    sandbox = SandboxServer(
        port=args.sandbox_port,
        zendesk=ZendeskSandboxConfig(job_seconds=args.job_seconds),
        wistia=WistiaSandboxConfig(job_seconds=args.job_seconds),
        tradedesk=TradeDeskSandboxConfig(job_seconds=args.job_seconds),
    )
    cluster: Cluster | None = None
    try:
        sandbox.start()
        cluster = Cluster(
            dags_folders=[ROOT / "example_dags"],
            connections=sandbox_connections(sandbox.url, sandbox.state),
            workers=args.workers,
            triggerers=args.triggerers,
            pinned_queues=[queue for queue in args.pinned_queues.split(",") if queue],
            api_port=args.port,
            store_connections=True,
        )
        print(
            f"sandbox on {sandbox.url}; starting the cluster in {cluster.tmp} (a minute or two) ...",
            flush=True,
        )
        cluster.start()
        print(BANNER.format(cluster=cluster, sandbox=sandbox.url, topology=_topology(cluster)), flush=True)
        while all(process.poll() is None for process in cluster.airflow.processes.values()) and all(
            service.running() for service in (cluster.postgres, cluster.redis)
        ):
            time.sleep(1)
        print(f"something exited:\n{cluster.logs_digest()}", flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        print("stopping the cluster and the sandbox ...", flush=True)
        if cluster is not None:
            cluster.stop()
        sandbox.stop()
        print("stopped", flush=True)


def _topology(cluster: Cluster) -> str:
    lines = []
    for name in [*cluster.triggerer_names, *cluster.worker_names]:
        args = cluster.airflow.commands[name]
        queues = args[args.index("--queues") + 1] if "--queues" in args else "(triggers without a queue)"
        lines.append(
            f"  {name}: airflow {' '.join(args[:2] if args[0] == 'celery' else args[:1])}, queues {queues}"
        )
    return "\n".join(lines)


BANNER = """
The cluster is ready: {cluster.url}
  login: admin / {cluster.password}
  metadata DB: psql "{cluster.psql_url}"
  Redis: {cluster.redis_url} (the Celery broker)
         {cluster.rate_limit_storage_url} ([jobstatus] rate_limit_storage)
{topology}
  DAGs: example_dags/; connections zendesk_default, wistia_default, tradedesk_default point at the
        sandbox on {sandbox}
  component logs: {cluster.airflow.component_logs}/; servers' logs: {cluster.services_dir}/*.log
  everything lives in {cluster.tmp} (removed on stop)
Ctrl-C stops everything.
"""


if __name__ == "__main__":
    sys.exit(main())
