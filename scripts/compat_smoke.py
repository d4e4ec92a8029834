"""`make compat`: smoke-test the provider on the oldest Airflow we claim to support (README, "Compatibility").

Builds ``.venv-compat/`` (git-ignored) with uv: Airflow ``AIRFLOW_VERSION`` and this project (editable),
resolved with ``--exclude-newer`` at that Airflow's release date. That stands in for Airflow's constraints
file (on GitHub, which CI cannot reach): without it, today's dependencies break old Airflows on their own
(3.1.0 with structlog 26 fails at ``import airflow``). The venv is reused while its stamp matches.

In that venv it imports every vendor's hooks, operators and sensors, checks ``airflow providers list``
shows ``airflow-jobstatus``, and runs the ``zendesk_wait_for_job`` example DAG with ``airflow dags test``
against the sandbox (AIRFLOW_HOME in a temp dir, SQLite), asserting the run succeeded, the wait was
deferred to the trigger, the summary counted the sandbox's failed item, and neither the output nor any
file under AIRFLOW_HOME shows the connection's token.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from airflow_jobstatus.sandbox import SandboxServer, ZendeskSandboxConfig, ZendeskState

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-compat"
STAMP = VENV / ".compat-stamp"
#: The oldest Airflow that pyproject.toml admits, and the day after its release (dependency cut-off).
AIRFLOW_VERSION = "3.1.0"
EXCLUDE_NEWER = "2025-09-26T00:00:00Z"
CANARY = "canary-compat-3b9d-never-log-me"
MODULES = [f"airflow_jobstatus.{kind}.{vendor}" for vendor in ("zendesk", "wistia", "tradedesk")
           for kind in ("hooks", "operators", "sensors")]  # fmt: skip
DAG_ID = "zendesk_wait_for_job"


def log(message: str) -> None:
    """Print one progress line of the smoke."""
    print(f"[compat] {message}", flush=True)


def declared_floor() -> str:
    """The ``apache-airflow>=X`` floor of pyproject.toml."""
    found = re.search(r'"apache-airflow>=([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    if found is None:
        raise SystemExit("pyproject.toml declares no apache-airflow>= floor")
    return found.group(1)


def stamp_text(airflow: str, exclude_newer: str | None) -> str:
    """What the venv was built from: Airflow, the cut-off, the interpreter and pyproject.toml's hash."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    return f"apache-airflow=={airflow} exclude-newer={exclude_newer} python={sys.version_info[:2]} {digest}\n"


def ensure_venv(airflow: str, exclude_newer: str | None) -> Path:
    """Create ``.venv-compat`` with ``airflow`` and this project unless its stamp says it is current."""
    python = VENV / "bin" / "python"
    wanted = stamp_text(airflow, exclude_newer)
    if python.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        log(f"reusing {VENV.name} ({wanted.split()[0]})")
        return python
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        raise SystemExit("uv not found: run `make venv` first")
    started = time.monotonic()
    shutil.rmtree(VENV, ignore_errors=True)
    # The main venv's interpreter: uv then never downloads a Python.
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(VENV)], check=True)
    cutoff = ["--exclude-newer", exclude_newer] if exclude_newer else []
    # Compiled now: the checks run with PYTHONDONTWRITEBYTECODE (no __pycache__ in the checkout).
    install = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python), *cutoff]
    subprocess.run([*install, f"apache-airflow=={airflow}", "-e", str(ROOT)], check=True)
    STAMP.write_text(wanted)
    log(f"built {VENV.name} with apache-airflow=={airflow} in {time.monotonic() - started:.1f}s")
    return python


def run(command: list[str], env: dict[str, str], what: str) -> str:
    """Run ``command`` in the compat venv; return its output, or exit showing its tail if it failed."""
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=600)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        print(output[-6000:], file=sys.stderr)
        raise SystemExit(f"[compat] FAILED: {what} (exit {done.returncode})")
    log(f"{what}: ok in {time.monotonic() - started:.1f}s")
    return output


def airflow_env(home: Path) -> dict[str, str]:
    """The environment of the compat venv's Airflow: a private home, SQLite, the example DAGs only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV", "PYTHON"))}
    env.update(
        PATH=f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        PYTHONDONTWRITEBYTECODE="1",
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "example_dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
    )
    return env


def end_after_first_read(zendesk: ZendeskState, job_id: str, reads: Callable[[], int]) -> threading.Thread:
    """Let the job end 3 s after the sensor's first status read, so the wait is deferred to the trigger.

    (The sensor reads once before deferring; ``airflow dags test`` takes seconds to get there.)
    """

    def release() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and reads() == 0:
            time.sleep(0.2)
        job = zendesk.get(job_id)
        if job is not None:
            job.duration = zendesk.clock() - job.created + 3.0

    thread = threading.Thread(target=release, name="compat-release", daemon=True)
    thread.start()
    return thread


def run_dag(python: Path, env: dict[str, str], home: Path) -> None:
    """Run the Zendesk wait example against the sandbox; check the outcome, and that ``home`` (logs, DB)
    and the output never show the token."""
    with SandboxServer(zendesk=ZendeskSandboxConfig(api_token=CANARY)) as sandbox:
        zendesk = sandbox.state.zendesk
        job_id = zendesk.create_job(total=12, failed_indexes=[5], duration=600.0)

        def reads() -> int:
            return sandbox.state.count(method="GET", path_prefix="/api/v2/job_statuses")

        end_after_first_read(zendesk, job_id, reads)
        conn = {"conn_type": "jobstatus_zendesk", "host": sandbox.url, "login": "agent@example.com"}
        env = {**env, "AIRFLOW_CONN_ZENDESK_DEFAULT": json.dumps({**conn, "password": CANARY})}
        conf = json.dumps({"job_ids": [job_id]})
        output = run(
            [str(python), "-m", "airflow", "dags", "test", DAG_ID, "-c", conf], env, f"dags test {DAG_ID}"
        )
        status_reads = reads()
    checks = {
        "the run succeeded": "state=success" in output,
        "the sensor deferred": "Pausing task as DEFERRED" in output and "Trigger completed" in output,
        "summarize counted the failed item": "'failed_items': 1" in output,
        "no output shows the token": CANARY not in output,
        "no file under AIRFLOW_HOME does": not [
            path for path in home.rglob("*") if path.is_file() and CANARY.encode() in path.read_bytes()
        ],
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        print(output[-6000:], file=sys.stderr)
        raise SystemExit(f"[compat] FAILED: {', '.join(failed)}")
    log(f"{DAG_ID}: {', '.join(checks)} ({status_reads} status reads)")


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the compat venv, then run the three checks."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--airflow", default=AIRFLOW_VERSION, help="Airflow version (default %(default)s)")
    parser.add_argument(
        "--exclude-newer",
        default=None,
        help=f"dependency cut-off (uv --exclude-newer), 'none' for today's; default: {EXCLUDE_NEWER} for "
        f"{AIRFLOW_VERSION}, else none",
    )
    args = parser.parse_args(argv)
    if args.airflow == AIRFLOW_VERSION and not AIRFLOW_VERSION.startswith(declared_floor()):
        raise SystemExit(
            f"pyproject.toml claims >={declared_floor()}: update AIRFLOW_VERSION and its cut-off"
        )
    cutoff = args.exclude_newer or (EXCLUDE_NEWER if args.airflow == AIRFLOW_VERSION else None)
    cutoff = None if cutoff == "none" else cutoff
    started = time.monotonic()
    python = ensure_venv(args.airflow, cutoff)
    with tempfile.TemporaryDirectory(prefix="airflow-compat-") as tmp:
        env = airflow_env(Path(tmp))
        imports = "; ".join(f"import {m}" for m in MODULES)
        code = f"{imports}; import airflow; print('airflow==' + airflow.__version__)"
        found = re.findall(r"^airflow==(\S+)$", run([str(python), "-c", code], env, "imports"), re.MULTILINE)
        if found != [args.airflow]:
            raise SystemExit(f"[compat] FAILED: the venv runs Airflow {found}, not {args.airflow}")
        listed = run([str(python), "-m", "airflow", "providers", "list"], env, "airflow providers list")
        if not re.search(r"^airflow-jobstatus\s*\|", listed, re.MULTILINE):
            print(listed, file=sys.stderr)
            raise SystemExit("[compat] FAILED: airflow providers list does not show airflow-jobstatus")
        run([str(python), "-m", "airflow", "db", "migrate"], env, "airflow db migrate")
        run_dag(python, env, Path(tmp))
    log(f"Airflow {args.airflow}: passed in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
