"""PostgreSQL and Redis servers for `make cluster` and tests/cluster, started unprivileged on free ports.

Debian's binaries (``scripts/install_services.sh``), each server started on a free 127.0.0.1 port in a
session of its own by an unprivileged user: PostgreSQL refuses root, so as root the servers run as
``SERVICE_USER`` (created with ``useradd --system`` when missing). Every file lives in one directory:

    with Services() as services:  # a fresh temporary directory, removed on stop
        print(services.psql_url, services.redis_db_url(0))

:class:`Cluster` of ``scripts/cluster.py`` runs Airflow on them.
"""

from __future__ import annotations

import contextlib
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

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_airflow import _die_with_parent, _signal_group, free_port

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
        if self.process.poll() is None:  # not once it is reaped: its pid may be another process's now
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


class Services:
    """PostgreSQL (with the database ``DB_NAME`` of ``DB_USER``) and Redis, each password-protected.

    :param root: a directory of ours (created; made ``0o711`` so that the service user reaches its own
        ``services`` subdirectory, which holds the servers' data and output); None: a fresh temporary
        directory, removed on stop.
    """

    def __init__(self, root: Path | None = None) -> None:
        self._remove = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="jobstatus-services-"))
        self.directory = self.root / "services"
        self.db_password = secrets.token_urlsafe(16)
        self.redis_password = secrets.token_urlsafe(16)
        self.postgres = Service("postgres", free_port(), self.directory / "postgres.log")
        self.redis = Service("redis", free_port(), self.directory / "redis.log")
        self._account = service_account()

    @property
    def servers(self) -> tuple[Service, Service]:
        """PostgreSQL and Redis."""
        return self.postgres, self.redis

    @property
    def psql_url(self) -> str:
        """The database as a libpq URL (``psql``, ``psycopg2.connect``)."""
        return f"postgresql://{DB_USER}:{self.db_password}@127.0.0.1:{self.postgres.port}/{DB_NAME}"

    @property
    def database_url(self) -> str:
        """The database as a SQLAlchemy URL (``[database] sql_alchemy_conn``)."""
        return self.psql_url.replace("postgresql://", "postgresql+psycopg2://", 1)

    def redis_db_url(self, db: int) -> str:
        """Redis database ``db``, with the password."""
        return f"redis://:{self.redis_password}@127.0.0.1:{self.redis.port}/{db}"

    def start(self) -> Services:
        """Initialise and start PostgreSQL and Redis, and create the database (on failure, stop both).

        A port taken meanwhile by something else makes a server start again on another one: the URLs are
        final once this returns."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.directory.mkdir(mode=0o700, exist_ok=True)
            os.chmod(self.root, 0o711)  # the service user goes through, to its own directory only
            self._own(self.directory)
            self._start_postgres()
            self._start_redis()
        except BaseException:
            self.stop()
            raise
        return self

    def check_alive(self) -> None:
        """Raise RuntimeError, with the server's last output, if a started server is not running."""
        for service in self.servers:
            if service.process is not None and not service.running():
                raise RuntimeError(f"{service.name} is not running:\n{service.tail()}")

    def running(self) -> bool:
        """Whether both servers run."""
        return all(service.running() for service in self.servers)

    def stop(self) -> None:
        """Stop both servers (each then SIGKILLed if need be); remove the directory if we made it."""
        self.postgres.stop(signal.SIGINT)  # "fast" shutdown: SIGTERM would wait for clients to leave
        self.redis.stop(signal.SIGTERM)
        if self._remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def leftover_pids(self) -> list[int]:
        """The servers' processes that still run."""
        return [s.process.pid for s in self.servers if s.process is not None and s.running()]

    def logs_digest(self, lines: int = 30) -> str:
        """The tail of both servers' output."""
        return "\n".join(service.tail(lines) for service in self.servers)

    def connect(self) -> Any:
        """A new psycopg2 connection to the database, in autocommit (close it when done)."""
        import psycopg2

        db = psycopg2.connect(self.psql_url, connect_timeout=10)
        db.autocommit = True
        return db

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *, db: Any = None
    ) -> list[tuple[Any, ...]]:
        """Run one statement on the database (autocommit) and return its rows ([] for none): on ``db`` (a
        connection from :meth:`connect`) if given, else on a connection of its own."""
        with contextlib.ExitStack() as stack:
            if db is None:
                db = stack.enter_context(contextlib.closing(self.connect()))
            with db.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall()) if cursor.description else []

    def query_as_admin(self, sql: str) -> None:
        """Run one statement on the ``postgres`` database (before ours exists)."""
        import psycopg2

        with contextlib.closing(psycopg2.connect(self._admin_url, connect_timeout=10)) as db:
            db.autocommit = True
            with db.cursor() as cursor:
                cursor.execute(sql)

    @property
    def _admin_url(self) -> str:
        return self.psql_url.rsplit("/", 1)[0] + "/postgres"

    def _own(self, path: Path) -> None:
        if self._account is not None:
            os.chown(path, *self._account)

    def _popen(self, argv: Sequence[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a server as the service user (when we are root), in a session of its own."""
        account = self._account
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.directory),
            "LANG": "C.UTF-8",
        }
        with log.open("ab") as out:
            return subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.directory,
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
        data = self.directory / "pgdata"
        password_file = self.directory / "pgpass"
        password_file.write_text(self.db_password + "\n")
        os.chmod(password_file, 0o600)
        self._own(password_file)
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", DB_USER, f"--pwfile={password_file}"]
        initdb += ["--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"]
        init = self._popen(initdb, self.directory / "initdb.log")
        if init.wait(120) != 0:
            raise RuntimeError(f"initdb failed:\n{(self.directory / 'initdb.log').read_text()}")
        password_file.unlink()
        settings = {
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            "shared_buffers": "64MB",
        }
        for attempt in range(3):
            # -k '': no Unix socket (its path could be too long): TCP on 127.0.0.1 only.
            argv = [str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1"]
            argv += ["-p", str(self.postgres.port), "-k", ""]
            argv += [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")]
            self.postgres.process = self._popen(argv, self.postgres.log)
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
        while time.monotonic() < deadline and self.postgres.running():
            try:
                psycopg2.connect(self._admin_url, connect_timeout=2).close()
                return True
            except psycopg2.OperationalError:
                time.sleep(0.2)
        return False

    def _start_redis(self) -> None:
        server = redis_server_bin()
        if server is None:
            raise RuntimeError("redis-server is not installed: run `bash scripts/install_services.sh`")
        data = self.directory / "redis"
        data.mkdir(exist_ok=True)
        self._own(data)
        for attempt in range(3):
            config = self.directory / "redis.conf"  # the password stays out of the command line
            config.write_text(
                f'bind 127.0.0.1\nport {self.redis.port}\ndir {data}\nsave ""\nappendonly no\n'
                f'daemonize no\nprotected-mode yes\nrequirepass {self.redis_password}\nlogfile ""\n'
            )
            os.chmod(config, 0o600)
            self._own(config)
            self.redis.process = self._popen([str(server), str(config)], self.redis.log)
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
                client = redis.Redis.from_url(self.redis_db_url(0), socket_timeout=2)
                try:
                    if client.ping():
                        return True
                finally:
                    client.close()
            except redis.RedisError:
                time.sleep(0.2)
        return False

    def __enter__(self) -> Services:
        """Start both servers."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop both servers."""
        self.stop()
