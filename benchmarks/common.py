"""What every benchmark shares: the sandbox in a process of its own (TLS on loopback), the environment of
a worker subprocess (an isolated AIRFLOW_HOME, connections as AIRFLOW_CONN_*, the sandbox's CA trusted),
reading the sandbox's request log, and small statistics and memory helpers."""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import requests

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ZENDESK_EMAIL, ZENDESK_TOKEN = "agent@example.com", "sandbox-token"
TRADEDESK_TOKEN = "sandbox-ttd-token"
ZENDESK_HOOK = "airflow_jobstatus.hooks.zendesk.ZendeskJobHook"
ZENDESK_CONN, HTTP_CONN, TRADEDESK_CONN = "zendesk_bench", "http_bench", "tradedesk_bench"
STATUS_PREFIX = "/api/v2/job_statuses"
PROBE_PREFIX = "/_sandbox/zendesk/jobs/"
PROBE_PATH = PROBE_PREFIX + "{id}/done"


@dataclass
class Row:
    """One measurement, side by side: ours, the anchor, their ratio, and the issue's target."""

    metric: str
    ours: str
    anchor: str = "-"
    ratio: str = "-"
    target: str = "-"
    met: str = "-"


@dataclass
class Result:
    """What a benchmark returns to :mod:`benchmarks.run`: a title, its rows and notes, and raw figures."""

    key: str
    title: str
    anchor: str = "anchor"
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {
            "key": self.key,
            "title": self.title,
            "anchor": self.anchor,
            "rows": [vars(row) for row in self.rows],
            "notes": self.notes,
            "raw": self.raw,
        }

    def show(self) -> None:
        """Print the rows (each benchmark prints its figures as it ends)."""
        print(f"\n== {self.title}", flush=True)
        for row in self.rows:
            print(
                f"  {row.metric}: ours {row.ours} | {self.anchor} {row.anchor} | ratio {row.ratio} "
                f"| target {row.target} {row.met}",
                flush=True,
            )


def verdict(ok: bool | None) -> str:
    """The 'met' column."""
    return "-" if ok is None else ("yes" if ok else "NO")


class Sandbox:
    """``python -m airflow_jobstatus.sandbox`` in its own process (so its CPU is never the benchmark's)."""

    def __init__(self, tls: bool = True, job_seconds: float = 3.0) -> None:
        self.tls = tls
        self.job_seconds = job_seconds
        self.url = ""
        self.ca_file: str | None = None
        self.process: subprocess.Popen[str] | None = None
        self.http = requests.Session()

    def __enter__(self) -> Sandbox:
        """Start the sandbox; return once it printed its URL (and CA file)."""
        command = [PYTHON, "-m", "airflow_jobstatus.sandbox", "--port", "0"]
        command += ["--job-seconds", str(self.job_seconds)] + (["--tls"] if self.tls else [])
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the sandbox process ended before it printed its URL")
            if line.startswith("sandbox listening on "):
                self.url = line.split()[-1]
            if line.startswith("tradedesk:") and not self.tls:
                break
            if line.startswith("tls: trust "):
                self.ca_file = line.split()[2]
                break
        return self

    @property
    def verify(self) -> str | bool:
        """What requests must verify the sandbox with (given per request: the environment's
        REQUESTS_CA_BUNDLE would override a session's ``verify``)."""
        return self.ca_file or True

    def __exit__(self, *exc: object) -> None:
        """Stop the sandbox process."""
        self.http.close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    @property
    def pid(self) -> int:
        """The sandbox's process id."""
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        """CPU time the sandbox process has used so far (user + system)."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call a /_sandbox control route and return its JSON."""
        response = self.http.request(
            method, f"{self.url}/_sandbox{path}", json=body, timeout=60, verify=self.verify
        )
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Forget every job and the request log."""
        self.control("POST", "/reset")

    def request_log(self, path_prefix: str = "") -> list[dict[str, Any]]:
        """The requests the sandbox logged (API reads and probes; control routes are never logged)."""
        response = self.http.get(
            f"{self.url}/_sandbox/requests",
            params={"path_prefix": path_prefix},
            timeout=120,
            verify=self.verify,
        )
        response.raise_for_status()
        records: list[dict[str, Any]] = response.json()
        return records

    def environment(self, zendesk_extra: dict[str, Any] | None = None) -> dict[str, str]:
        """What a client process needs: the CA trusted, and the benchmark connections (``zendesk_extra``:
        the extra of our Zendesk connection)."""
        env = {
            f"AIRFLOW_CONN_{ZENDESK_CONN.upper()}": json.dumps(
                {
                    "conn_type": "jobstatus_zendesk",
                    "host": self.url,
                    "login": ZENDESK_EMAIL,
                    "password": ZENDESK_TOKEN,
                    "extra": zendesk_extra or {},
                }
            ),
            f"AIRFLOW_CONN_{HTTP_CONN.upper()}": json.dumps(
                {
                    "conn_type": "http",
                    "host": self.url,
                    "login": f"{ZENDESK_EMAIL}/token",
                    "password": ZENDESK_TOKEN,
                }
            ),
            f"AIRFLOW_CONN_{TRADEDESK_CONN.upper()}": json.dumps(
                {
                    "conn_type": "jobstatus_tradedesk",
                    "host": f"{self.url}/tradedesk",
                    "password": TRADEDESK_TOKEN,
                }
            ),
            "SANDBOX_URL": self.url,
        }
        if self.ca_file:
            env.update(SSL_CERT_FILE=self.ca_file, REQUESTS_CA_BUNDLE=self.ca_file)
        return env


class Workdir:
    """A temp folder for one benchmark: an isolated AIRFLOW_HOME, spec and result files, worker logs."""

    def __init__(self, name: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"jobstatus-bench-{name}-"))

    def __enter__(self) -> Workdir:
        """The folder."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Remove the folder."""
        shutil.rmtree(self.path, ignore_errors=True)

    def airflow_env(self) -> dict[str, str]:
        """Airflow configured away from ~/airflow: no examples, no default connections, sqlite in here."""
        home = self.path / "airflow"
        home.mkdir(exist_ok=True)
        return {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
            "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }


def worker_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of a worker subprocess: ours, minus anything that would skew it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SSL_CERT", "REQUESTS_CA"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a deployment has compiled modules: so do the workers
    env.update(extra)
    env["PYTHONPATH"] = str(REPO)
    return env


def run_worker(
    module: str, spec: dict[str, Any], env: dict[str, str], workdir: Workdir, timeout: float
) -> dict[str, Any]:
    """Run ``python -m module --spec FILE --out FILE`` in a fresh interpreter; return the JSON it wrote.

    Its output goes to a log file in ``workdir`` (its tail is shown when it fails)."""
    stem = f"{module.rsplit('.', 1)[-1]}-{spec.get('label', 'run')}"
    spec_file, out_file, log_file = (
        workdir.path / f"{stem}.{ext}" for ext in ("spec.json", "out.json", "log")
    )
    spec_file.write_text(json.dumps(spec))
    with open(log_file, "w") as log:
        process = subprocess.run(
            [PYTHON, "-m", module, "--spec", str(spec_file), "--out", str(out_file)],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    if process.returncode != 0 or not out_file.exists():
        tail = log_file.read_text()[-3000:]
        raise RuntimeError(f"{module} ({stem}) failed with exit code {process.returncode}:\n{tail}")
    result: dict[str, Any] = json.loads(out_file.read_text())
    return result


# ----- the request log -----
def job_ids_of(record: dict[str, Any]) -> list[str]:
    """The job ids one logged request read: a show path, show_many's ``ids``, or the done probe."""
    path: str = record["path"]
    if path.startswith(PROBE_PREFIX) and path.endswith("/done"):
        return [path[len(PROBE_PREFIX) : -len("/done")]]
    if not path.startswith(STATUS_PREFIX + "/"):
        return []
    tail = path[len(STATUS_PREFIX) + 1 :].removesuffix(".json")
    if tail == "show_many":
        ids = parse_qs(record.get("query", "")).get("ids", [""])[0]
        return [job_id for job_id in ids.split(",") if job_id]
    return [tail] if tail and "/" not in tail else []


def reads_by_job(records: Iterable[dict[str, Any]]) -> dict[str, list[float]]:
    """For each job id, the sandbox times (monotonic, shared by every process) of the requests reading it."""
    reads: dict[str, list[float]] = {}
    for record in records:
        for job_id in job_ids_of(record):
            reads.setdefault(job_id, []).append(float(record["at"]))
    for times in reads.values():
        times.sort()
    return reads


def gaps(reads: dict[str, list[float]]) -> list[float]:
    """Seconds between consecutive reads of the same job, over every job."""
    return [b - a for times in reads.values() for a, b in itertools.pairwise(times)]


# ----- statistics and memory -----
def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100, nearest rank); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    """The median (NaN for no values)."""
    return percentile(values, 50)


def proc_status_kb(name: str) -> int:
    """A ``kB`` field of /proc/self/status (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    raise KeyError(name)


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: ``5`` into /proc/self/clear_refs); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def ratio(ours: float, anchor: float) -> float:
    """ours / anchor (NaN when the anchor is 0)."""
    return ours / anchor if anchor else math.nan


def fmt(value: float, digits: int = 1, unit: str = "") -> str:
    """A figure for the tables (``n/a`` for NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def wait_until(predicate: Any, timeout: float, step: float = 0.1) -> bool:
    """Poll ``predicate()`` until true or ``timeout`` seconds have passed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def command_line(run: Any, description: str | None, quick_help: str) -> None:
    """A benchmark's ``main()``: ``--quick`` (described by ``quick_help``) then ``run(quick)``."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    run(parser.parse_args().quick)
