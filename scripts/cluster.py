"""The deployment of `make cluster` (``scripts/make_cluster.py``, its command line) and tests/cluster: a
production-like Airflow on PostgreSQL, Redis and the CeleryExecutor, with several workers and triggerers.

Everything lives in one temporary directory, removed on stop: PostgreSQL (the metadata DB and Celery's
result backend) and Redis (Celery's broker, database 0; the provider's rate-limit storage, database 1),
started unprivileged on free 127.0.0.1 ports by :class:`Services` of ``scripts/services.py``, and Airflow
3 with two Celery workers, two triggerers, the scheduler,
the dag-processor and the api-server, each its own process group (:class:`LocalAirflow` of
``scripts/local_airflow.py``, which ``make airflow`` uses too), so that one worker or one triggerer can be
SIGKILLed and started again.

Triggerer queues are enabled (``[triggerer] queues_enabled``) with one pinned queue, ``zendesk_pinned``:
``triggerer-1`` takes ``default`` and the pinned queue, ``triggerer-2`` only ``default``; ``worker-1``
listens on both, ``worker-2`` on ``default``. With queues enabled a task's trigger carries the task's own
``queue`` ("default" unless set), and a triggerer started without ``--queues`` takes only triggers without
a queue (``Trigger.get_sorted_triggers`` in ``airflow/models/trigger.py``): every triggerer is started with
``--queues``.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_airflow import LocalAirflow, free_port
from serve import load_script

tables = load_script("airflow_tables")
MetadataTables = tables.MetadataTables
TriggerRow = tables.TriggerRow
TriggererJob = tables.TriggererJob
TRIGGER_TABLE: str = tables.TRIGGER_TABLE
TASK_STATE_STORE_TABLE: str = tables.TASK_STATE_STORE_TABLE
services = load_script("services")
Service = services.Service
Services = services.Services
missing_services = services.missing_services
postgres_bin_dir = services.postgres_bin_dir
redis_server_bin = services.redis_server_bin
SERVICE_USER: str = services.SERVICE_USER
DB_NAME: str = services.DB_NAME
DB_USER: str = services.DB_USER

#: The queue of every task that sets none (``[operators] default_queue``).
DEFAULT_QUEUE = "default"
#: The queue ``make cluster`` pins to ``triggerer-1`` (and ``worker-1``).
PINNED_QUEUE = "zendesk_pinned"


class Cluster(MetadataTables):
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
        self.services = Services(self.tmp)
        self.services_dir = self.services.directory
        #: The servers (the same objects as ``services``'): a restart on another port shows here too.
        self.postgres, self.redis = self.services.servers
        self.pinned_queues = list(pinned_queues)
        self.worker_names = [f"worker-{index}" for index in range(1, workers + 1)]
        self.triggerer_names = [f"triggerer-{index}" for index in range(1, triggerers + 1)]
        self.fernet_key = _fernet_key()
        self._job_ids: dict[str, int] = {}
        self._starting: dict[str, set[int]] = {}  # triggerer -> the job ids before it started, until known

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
        return str(self.services.psql_url)

    @property
    def database_url(self) -> str:
        """The metadata DB as a SQLAlchemy URL (``[database] sql_alchemy_conn``)."""
        return str(self.services.database_url)

    @property
    def redis_url(self) -> str:
        """Redis database 0: the Celery broker."""
        return str(self.services.redis_db_url(0))

    @property
    def rate_limit_storage_url(self) -> str:
        """Redis database 1: ``[jobstatus] rate_limit_storage`` of every component."""
        return str(self.services.redis_db_url(1))

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
        self.services.check_alive()
        for name, process in self.airflow.processes.items():
            if process.poll() is not None and name not in self._killed():
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.airflow.log_tail(name)}")

    def _killed(self) -> set[str]:
        """Components stopped on purpose (``kill``) and not started again (negative return code)."""
        return {name for name, process in self.airflow.processes.items() if (process.returncode or 0) < 0}

    def start_services(self) -> None:
        """Start PostgreSQL and Redis (:class:`Services`), unprivileged, on free ports; create the DB."""
        self.services.start()
        # A server may have moved to another port (its first one was taken meanwhile): before any
        # component starts (LocalAirflow computes their environment once, in ``prepare``).
        self.airflow.extra_env.update(self._service_settings())

    def stop(self) -> None:
        """Stop Airflow (every process it started), then the servers; remove the temporary directory."""
        try:
            self.airflow.stop()
        finally:
            self.services.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def exited(self) -> str | None:
        """What exited (a server or an Airflow component), with the logs' last lines; None while all run."""
        airflow_up = all(process.poll() is None for process in self.airflow.processes.values())
        if self.services.running() and airflow_up:
            return None
        return f"something exited:\n{self.logs_digest()}"

    def leftover_pids(self) -> list[int]:
        """Processes of the cluster (Airflow's, the servers') that still run."""
        return self.airflow.leftover_pids() + self.services.leftover_pids()

    def logs_digest(self, lines: int = 30) -> str:
        """The tail of every component's and server's output."""
        return "\n".join([self.airflow.logs_digest(lines), self.services.logs_digest(lines)])

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
