"""`make airflow`: the sandbox and a real local Airflow (scheduler, dag-processor, triggerer, api-server).

Airflow's own ``airflow standalone`` runs the same four components under one parent; this launcher starts
them itself, each in its own process group, so that one of them (the triggerer) can be killed and
started again, and so that stopping kills every process it started, task processes included. It uses
the LocalExecutor and SQLite, AIRFLOW_HOME ``.airflow/local`` (ignored by git), the example DAGs, and
the connections ``zendesk_default``, ``wistia_default`` and ``tradedesk_default`` pointing at the
sandbox. It prints the UI address and the login; Ctrl-C (or SIGTERM) stops everything.

The end-to-end tests (``tests/e2e``) start the same deployment with :class:`LocalAirflow` on free ports in
a temporary home.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from airflow_jobstatus.sandbox import SandboxServer, SandboxState

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import add_sandbox_options, serve

ROOT = Path(__file__).resolve().parent.parent
#: The four long-running components, in start order.
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: The components whose heartbeat ``/api/v2/monitor/health`` reports.
HEARTBEATING = {"scheduler": "scheduler", "triggerer": "triggerer", "dag-processor": "dag_processor"}
ADMIN = "admin"


def free_port() -> int:
    """A TCP port nothing listens on right now (on 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sandbox_connections(url: str, state: SandboxState) -> dict[str, str]:
    """The three default connections as JSON (``AIRFLOW_CONN_*`` values), pointing at the sandbox ``url``
    with the tokens of its ``state``."""
    zendesk = {"conn_type": "jobstatus_zendesk", "host": url, "login": state.zendesk.config.email}
    wistia = {"conn_type": "jobstatus_wistia", "host": f"{url}/wistia"}
    tradedesk = {"conn_type": "jobstatus_tradedesk", "host": f"{url}/tradedesk"}
    return {
        "zendesk_default": json.dumps({**zendesk, "password": state.zendesk.config.api_token}),
        "wistia_default": json.dumps({**wistia, "password": state.wistia.config.api_token}),
        "tradedesk_default": json.dumps({**tradedesk, "password": state.tradedesk.config.api_token}),
    }


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if the launcher dies without stopping it (e.g. SIGKILL)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LocalAirflow:
    """A local Airflow deployment: one process group per component, everything under ``home``.

    :param home: AIRFLOW_HOME (created; the SQLite DB, logs and component logs live there).
    :param dags_folders: folders of DAG files, each loaded as its own local DAG bundle.
    :param connections: conn id -> connection as JSON (an ``AIRFLOW_CONN_*`` value).
    :param store_connections: save the connections in the metadata DB (listed and editable in the UI);
        else they are given to every component as ``AIRFLOW_CONN_*`` variables (faster to start).
    :param api_port: the api-server (UI and REST API) port; 0 picks a free one.
    :param password: the ``admin`` password; None keeps the one stored in ``home`` or generates one.
    :param extra_env: more environment variables (e.g. ``AIRFLOW__...`` settings) for every component; they
        override the launcher's own (``AIRFLOW__CORE__EXECUTOR``, ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``...).
    :param commands: the components to run, by name, each with its ``airflow`` arguments (several instances of
        one component under names of their own, e.g. ``{"triggerer-1": ["triggerer", "--queues", "a"]}``);
        None: the four of ``COMPONENTS``, each ``airflow <name>``.
    :param component_env: more environment variables for one component (by name), over ``extra_env``.
    """

    def __init__(
        self,
        home: Path,
        *,
        dags_folders: Sequence[Path],
        connections: Mapping[str, str],
        api_port: int = 0,
        password: str | None = None,
        store_connections: bool = False,
        extra_env: Mapping[str, str] | None = None,
        commands: Mapping[str, Sequence[str]] | None = None,
        component_env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.home = Path(home).resolve()
        self.dags_folders = [Path(folder).resolve() for folder in dags_folders]
        self.connections = dict(connections)
        self.store_connections = store_connections
        self.api_port = api_port or free_port()
        self.password_file = self.home / "simple_auth_manager_passwords.json.generated"
        self._password = password
        self.extra_env = dict(extra_env or {})
        self.commands = {
            name: list(args) for name, args in (commands or {name: [name] for name in COMPONENTS}).items()
        }
        self.component_env = {name: dict(env) for name, env in (component_env or {}).items()}
        self.component_logs = self.home / "logs" / "components"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._env: dict[str, str] | None = None
        self._sessions: set[int] = set()  # the session id of every component started (its pid)

    @property
    def url(self) -> str:
        """The UI and REST API address."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def password(self) -> str:
        """The ``admin`` user's password (the simple auth manager's passwords file)."""
        return str(json.loads(self.password_file.read_text())[ADMIN])

    @property
    def env(self) -> dict[str, str]:
        """The environment of every component: this process's, without its Airflow settings, plus ours."""
        if self._env is None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
            bundles = [
                {
                    "name": f"local-{index}-{folder.name}",  # "example_dags" is a reserved name
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(folder)},
                }
                for index, folder in enumerate(self.dags_folders, 1)
            ]
            env.update(
                AIRFLOW_HOME=str(self.home),
                AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{self.home / 'airflow.db'}",
                AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS="False",
                AIRFLOW__CORE__EXECUTOR="LocalExecutor",
                AIRFLOW__CORE__PARALLELISM="4",
                AIRFLOW__CORE__LOAD_EXAMPLES="False",
                AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
                AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folders[0]),
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{ADMIN}:admin",
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(self.password_file),
                AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
                AIRFLOW__API__HOST="127.0.0.1",
                AIRFLOW__API__PORT=str(self.api_port),
                AIRFLOW__API__BASE_URL=self.url,
                AIRFLOW__API__WORKERS="1",
                # Both default to fixed ports (8793, 8794) that another Airflow on the machine may hold.
                AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
                AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
                AIRFLOW__LOGGING__COLORED_CONSOLE_LOG="False",
                AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST=json.dumps(bundles),
                AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH=str(self.home / "bundles"),
                AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
                AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
                # A killed triggerer's triggers go to a live one once its heartbeat is this many s old.
                AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="1",
                AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD="10",
            )
            if not self.store_connections:
                env.update({f"AIRFLOW_CONN_{key.upper()}": value for key, value in self.connections.items()})
            env.update(self.extra_env)
            self._env = env
        return self._env

    # --- lifecycle -------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the home, the admin password, the metadata DB (``airflow db migrate``) and, with
        ``store_connections``, the connections (``airflow connections import``)."""
        self.component_logs.mkdir(parents=True, exist_ok=True)
        known = json.loads(self.password_file.read_text()) if self.password_file.exists() else {}
        if self._password is not None or ADMIN not in known:
            known[ADMIN] = self._password or secrets.token_urlsafe(12)
            self.password_file.write_text(json.dumps(known) + "\n")
        self._airflow_cli("db-migrate", "db", "migrate")
        if self.store_connections:
            exported = self.home / "connections.json"
            exported.write_text(json.dumps({k: json.loads(v) for k, v in self.connections.items()}))
            try:
                self._airflow_cli("connections-import", "connections", "import", str(exported), "--overwrite")
            finally:
                exported.unlink()

    def _airflow_cli(self, name: str, *args: str) -> None:
        """Run ``airflow <args>`` to the end; its output goes to ``<name>.log``."""
        with (self.component_logs / f"{name}.log").open("wb") as out:
            done = subprocess.run(
                [sys.executable, "-m", "airflow", *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=300,
            )
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{self.log_tail(name)}")

    def start(self, timeout: float = 180.0) -> LocalAirflow:
        """Prepare, start every component and wait until the API answers and every heartbeat is fresh."""
        try:
            self.prepare()
            for name in self.commands:
                self.start_component(name)
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def start_component(self, name: str) -> subprocess.Popen[bytes]:
        """Start one component (``airflow <name>``, or its ``commands`` entry) in a new process group; its
        output goes to a log file."""
        if name in self.processes and self.processes[name].poll() is None:
            raise RuntimeError(f"{name} is already running")
        with (self.component_logs / f"{name}.log").open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "airflow", *self.commands.get(name, [name])],
                env={**self.env, **self.component_env.get(name, {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self.processes[name] = process
        self._sessions.add(process.pid)
        return process

    def stop_component(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Send ``sig`` to a component's process group; SIGKILL it if it still runs after ``timeout``."""
        process = self.processes.get(name)
        if process is None:
            return
        _signal_group(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(10)
        _signal_group(process.pid, signal.SIGKILL)  # whatever of the group outlived its leader

    def kill_component(self, name: str) -> None:
        """SIGKILL a component's process group, then every other process of its session (task processes
        lead process groups of their own), as when the machine running it dies; wait until all are gone."""
        process = self.processes.get(name)
        if process is None:
            return
        _signal_group(process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (left := self.component_pids(name)) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        process.wait(10)

    def component_pids(self, name: str) -> list[int]:
        """Pids of the processes of one component's session that still run (the component, and whatever
        it started: task processes, trigger runners...); [] if it never started."""
        process = self.processes.get(name)
        if process is None:
            return []
        return [pid for pid, stat in _processes("stat") if _session_of(stat) == process.pid]

    def stop(self, timeout: float = 20.0) -> None:
        """Stop every component, then kill whatever they started that still runs (task processes run in
        process groups of their own)."""
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name in list(self.processes):
            self.stop_component(name, timeout=max(deadline - time.monotonic(), 0.1))
        for pid in self.leftover_pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def leftover_pids(self) -> list[int]:
        """Pids of every process started by this deployment that still runs.

        Each component leads a session of its own (``start_new_session``); everything it starts stays in
        that session (task processes change only their process group), even when orphaned. Environment
        variables cannot tell: ``setproctitle`` overwrites ``/proc/<pid>/environ``.
        """
        return [pid for pid, stat in _processes("stat") if _session_of(stat) in self._sessions]

    def pids_with_title(self, text: str) -> list[int]:
        """Pids of this deployment's processes whose command line contains ``text``."""
        ours = set(self.leftover_pids())
        return [pid for pid, cmdline in _processes("cmdline") if pid in ours and text.encode() in cmdline]

    def wait_healthy(self, timeout: float = 180.0, components: Sequence[str] = tuple(HEARTBEATING)) -> None:
        """Wait until ``/api/v2/monitor/health`` reports every given component healthy."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")
            with contextlib.suppress(requests.RequestException, ValueError):
                last = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
                if all((last.get(HEARTBEATING[c]) or {}).get("status") == "healthy" for c in components):
                    return
            time.sleep(1)
        raise TimeoutError(f"Airflow was not healthy after {timeout:g} s: {last}\n{self.logs_digest()}")

    def token(self) -> str:
        """A JWT for the REST API (``POST /auth/token`` as the admin user)."""
        response = requests.post(
            f"{self.url}/auth/token", json={"username": ADMIN, "password": self.password}, timeout=30
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    # --- diagnostics -----------------------------------------------------------------------------
    def exited(self) -> str | None:
        """The components that exited, with their logs' last lines; None while every one runs."""
        dead = [name for name, process in self.processes.items() if process.poll() is not None]
        if not dead:
            return None
        return f"{', '.join(dead)} exited:\n" + "\n".join(self.log_tail(name) for name in dead)

    def log_tail(self, name: str, lines: int = 60) -> str:
        """The last ``lines`` lines of a component's output."""
        path = self.component_logs / f"{name}.log"
        if not path.exists():
            return f"({path} does not exist)"
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"{name} | {line}" for line in text)

    def logs_digest(self, lines: int = 40) -> str:
        """The tail of every component's output, to print when something went wrong."""
        return "\n".join(self.log_tail(name, lines) for name in self.commands)

    def __enter__(self) -> LocalAirflow:
        """Start the deployment."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the deployment."""
        self.stop()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _session_of(stat: bytes) -> int:
    """The session id in a ``/proc/<pid>/stat`` line (after the command: state ppid pgrp session); -1 for
    a zombie (it runs nothing any more)."""
    fields = stat.rsplit(b")", 1)[-1].split()
    return int(fields[3]) if len(fields) > 3 and fields[0] != b"Z" else -1


def _processes(field: str) -> Iterator[tuple[int, bytes]]:
    """(pid, /proc/<pid>/<field>) of this user's processes, but this process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            yield int(entry.name), (entry / field).read_bytes()


# --- make airflow ----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="scripts/local_airflow.py", description=__doc__.split("\n\n")[0])
    add_sandbox_options(parser)
    parser.add_argument("--home", type=Path, default=ROOT / ".airflow" / "local", help="AIRFLOW_HOME")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox and Airflow until Ctrl-C or SIGTERM."""
    args = parse_args(argv)

    def deploy(sandbox: SandboxServer) -> tuple[LocalAirflow, str]:
        airflow = LocalAirflow(
            args.home,
            dags_folders=[ROOT / "example_dags"],
            connections=sandbox_connections(sandbox.url, sandbox.state),
            api_port=args.port,
            store_connections=True,
        )
        return airflow, f"starting Airflow in {airflow.home}"

    def banner(airflow: LocalAirflow, sandbox: SandboxServer) -> str:
        job = sandbox.state.zendesk.create_job(total=100, duration=60, job_type="bulk_update_tickets")
        return BANNER.format(airflow=airflow, sandbox=sandbox.url, job=job)

    return serve(args, deploy, banner)  # type: ignore[arg-type]


BANNER = """
Airflow is ready: {airflow.url}
  login: admin / {airflow.password}   (stored in {airflow.password_file})
  DAGs: example_dags/ (zendesk_bulk_update, zendesk_wait_for_job, wistia_tag_and_trim,
        tradedesk_graphql_report); connections zendesk_default, wistia_default, tradedesk_default
        point at the sandbox on {sandbox}
  zendesk_wait_for_job needs job ids: trigger it with {{"job_ids": ["{job}"]}}, or make one with
    curl -X POST {sandbox}/_sandbox/zendesk/jobs -d '{{"total": 100, "duration": 60}}'
  component logs: {airflow.component_logs}/; task logs: {airflow.home}/logs/
Ctrl-C stops everything.
"""


if __name__ == "__main__":
    sys.exit(main())
