"""The command line of `make airflow` and `make cluster`: the sandbox, then a deployment, until Ctrl-C.

Both launchers (``scripts/local_airflow.py``, ``scripts/make_cluster.py``) take the same sandbox options
(:func:`add_sandbox_options`) and hand :func:`serve` a function that builds their deployment on the
sandbox; :func:`serve` starts the sandbox, starts the deployment, prints its banner, waits until Ctrl-C,
SIGTERM or a component exits (then prints what exited), and stops everything, a second Ctrl-C included.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from airflow_jobstatus.sandbox import SandboxServer

SCRIPTS = Path(__file__).resolve().parent


class Deployment(Protocol):
    """What :func:`serve` runs: :class:`LocalAirflow` or :class:`Cluster`."""

    def start(self) -> object:
        """Start every component; return once they are ready."""

    def stop(self) -> None:
        """Stop every component and remove what it left."""

    def exited(self) -> str | None:
        """What exited, with its log's last lines; None while everything runs."""


#: Builds a deployment on the running sandbox: the deployment, and the line printed while it starts.
Deploy = Callable[["SandboxServer"], "tuple[Deployment, str]"]
#: The banner printed once the deployment is ready.
Banner = Callable[["Deployment", "SandboxServer"], str]


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as the module ``jobstatus_<name>``, loaded once. The scripts are no package: a
    plain ``import services`` takes whatever module of that name comes first on sys.path (``cluster`` is
    also tests/cluster's package)."""
    module_name = f"jobstatus_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, SCRIPTS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def add_sandbox_options(parser: argparse.ArgumentParser) -> None:
    """The options every launcher takes: the UI port, the sandbox's port and how long its jobs take."""
    parser.add_argument("--port", type=int, default=8080, help="UI / REST API port (0: a free one)")
    parser.add_argument("--sandbox-port", type=int, default=8900, help="sandbox port (0: a free one)")
    parser.add_argument("--job-seconds", type=float, default=20.0, help="how long a sandbox job takes")


def serve(args: argparse.Namespace, deploy: Deploy, banner: Banner) -> int:
    """Run the sandbox and the deployment ``deploy`` builds until Ctrl-C or SIGTERM (0), or until a
    component exits (1)."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell may start us with it ignored
        signal.signal(sig, _raise_interrupt)
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
    deployment: Deployment | None = None
    try:
        sandbox.start()
        deployment, starting = deploy(sandbox)
        print(f"sandbox on {sandbox.url}; {starting} (a minute or two) ...", flush=True)
        deployment.start()
        print(banner(deployment, sandbox), flush=True)
        while (exited := deployment.exited()) is None:
            time.sleep(1)
        print(exited, flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        print("stopping everything ...", flush=True)
        if deployment is not None:
            deployment.stop()
        sandbox.stop()
        print("stopped", flush=True)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
