"""The end-to-end deployment: the sandbox (in this process) and a real Airflow started from scratch.

One deployment for tests/e2e (``deployment``, package-scoped: stopped after the last e2e test), started
by ``LocalAirflow`` from ``scripts/local_airflow.py``, the launcher of ``make airflow``: a fresh
temporary AIRFLOW_HOME, free ports, the example DAGs and ``tests/e2e/dags``, and the three default
connections pointing at the sandbox with the canary token. ``SKIP_E2E=1`` skips these tests.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import CANARY_TOKEN, tradedesk_connection, wistia_connection, zendesk_connection

from airflow_jobstatus.sandbox import (
    SandboxServer,
    SandboxState,
    TradeDeskSandboxConfig,
    WistiaSandboxConfig,
    ZendeskSandboxConfig,
)

from .api import AirflowApi

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from local_airflow import LocalAirflow  # noqa: E402

E2E_DAGS = Path(__file__).resolve().parent / "dags"
EXAMPLE_DAG_IDS = (
    "zendesk_wait_for_job",
    "zendesk_bulk_update",
    "wistia_tag_and_trim",
    "tradedesk_graphql_report",
)
#: Zendesk refuses to update this ticket (the bulk example reports it failed).
FAILING_TICKET = 1042

_started: list[LocalAirflow] = []


@dataclass
class Deployment:
    """What the tests drive: Airflow's REST API, the launcher (to kill components), the sandbox."""

    api: AirflowApi
    airflow: LocalAirflow
    sandbox: SandboxServer
    tmp: Path


@pytest.fixture(scope="package")
def deployment() -> Iterator[Deployment]:
    """Start the sandbox and Airflow once for tests/e2e; stop both, and every process Airflow started."""
    if os.environ.get("SKIP_E2E"):
        pytest.skip("SKIP_E2E is set")
    tmp = Path(tempfile.mkdtemp(prefix="jobstatus-e2e-"))
    state = SandboxState(
        zendesk=ZendeskSandboxConfig(api_token=CANARY_TOKEN, job_seconds=12.0, fail_ids={FAILING_TICKET}),
        wistia=WistiaSandboxConfig(api_token=CANARY_TOKEN, job_seconds=12.0),
        tradedesk=TradeDeskSandboxConfig(api_token=CANARY_TOKEN, job_seconds=12.0),
    )
    with SandboxServer(state=state) as sandbox:
        connections = {
            "zendesk_default": zendesk_connection(sandbox.url),
            "wistia_default": wistia_connection(sandbox.url),
            "tradedesk_default": tradedesk_connection(sandbox.url),
        }
        # The DAG files do not change during the tests: parse each once (the default re-parses every 30 s).
        quiet = {"AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600"}
        airflow = LocalAirflow(
            tmp / "home",
            dags_folders=[ROOT / "example_dags", E2E_DAGS],
            connections=connections,
            extra_env=quiet,
        )
        _started.append(airflow)
        try:
            airflow.start(timeout=240)
            api = AirflowApi(airflow.url, airflow.token())
            api.wait_for_dags([*EXAMPLE_DAG_IDS, "e2e_worker_kill", "e2e_clear"])
            yield Deployment(api=api, airflow=airflow, sandbox=sandbox, tmp=tmp)
        finally:
            airflow.stop()
            _started.remove(airflow)
            leftovers = airflow.leftover_pids()
            shutil.rmtree(tmp, ignore_errors=True)
    assert not leftovers, f"processes of the deployment still running after stop: {leftovers}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed e2e test, attach the tail of every Airflow component's output to the report."""
    report = yield
    if report.failed and _started:
        report.sections.append(("Airflow components (last lines)", _started[0].logs_digest()))
    return report


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``) every e2e test runs in one worker, in file order: they
    share one deployment, and test_zz_canary.py scans what the others left in it."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.xdist_group("e2e"))
