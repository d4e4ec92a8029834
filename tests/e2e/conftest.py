"""The end-to-end deployment: the sandbox (in this process) and a real Airflow started from scratch.

One deployment for tests/e2e (``deployment``, package-scoped: stopped after the last e2e test), started
by ``LocalAirflow`` from ``scripts/local_airflow.py``, the launcher of ``make airflow``: a fresh
temporary AIRFLOW_HOME, free ports, the example DAGs and ``tests/e2e/dags``, and the three default
connections pointing at the sandbox with the canary token. ``SKIP_E2E=1`` skips these tests.

Sandbox jobs take ``JOB_SECONDS`` (10 minutes) and stay queued all along, so a wait never ends before the
test has seen what it needs (a task deferred, a triggerer restarted...); the test then ends every job at
once with ``Deployment.end_jobs()``, which moves the sandbox's clock on (``SandboxState(clock=...)``).
A test that wants jobs to end by themselves sets ``job_seconds`` of its vendor; ``sandbox_knobs`` puts
the long jobs back before each test, so no test depends on what another one set.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
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
#: How long every sandbox job takes, queued all along: until a test calls ``Deployment.end_jobs()``.
JOB_SECONDS = 600.0
VENDORS = ("zendesk", "wistia", "tradedesk")
#: The pytest-xdist group of every e2e test (``--dist loadgroup``: one worker runs them all).
E2E_GROUP = "e2e"

_started: list[LocalAirflow] = []


class SandboxClock:
    """The e2e sandbox's clock: ``time.monotonic()`` plus the seconds the tests skipped (``advance``)."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skipped

    def advance(self, seconds: float) -> None:
        """Move the clock on: every sandbox job ages by ``seconds`` at once."""
        self.skipped += seconds


@dataclass
class Deployment:
    """What the tests drive: Airflow's REST API, the launcher (to kill components), the sandbox."""

    api: AirflowApi
    airflow: LocalAirflow
    sandbox: SandboxServer
    clock: SandboxClock
    tmp: Path

    def end_jobs(self) -> None:
        """End every sandbox job made so far (each of at most ``JOB_SECONDS``): the next status read of
        a wait finds its jobs done. Call it once each deferred task is settled (``wait_for_deferral``)."""
        self.clock.advance(JOB_SECONDS)

    def wait_for_deferral(
        self, dag_id: str, run_id: str, task_id: str, *, after_try: int = 0, timeout: float = 120
    ) -> dict[str, Any]:
        """Wait until the task (in a try after ``after_try``) is deferred and the scheduler has taken in
        that its worker process ended; return the task instance.

        Until the scheduler has processed the executor's "finished" event of the deferring process, a
        trigger that fires at once races it: Airflow 3.3 takes that event, if it comes after the task
        resumed, for a task that ended behind its back, and fails the resumed task ("Server indicated the
        task shouldn't be running anymore"; apache/airflow#71579). Users' jobs rarely end within a
        second of the deferral; ours end when ``end_jobs()`` says, so the tests wait for the scheduler's
        ``TaskInstance Finished`` line of the try first."""
        deadline = time.monotonic() + timeout
        ti = self.api.wait_for_deferral(dag_id, run_id, task_id, timeout, after_try=after_try)
        needle = f"ti_id={ti['id']}, ".encode()
        try_field = f"try_number={ti['try_number']}, ".encode()
        log = self.airflow.component_logs / "scheduler.log"
        while True:
            lines = [line for line in log.read_bytes().splitlines() if needle in line]
            if any(b"TaskInstance Finished: " in line and try_field in line for line in lines):
                return ti
            assert time.monotonic() < deadline, f"the scheduler never took in the deferral of {task_id}"
            time.sleep(0.2)


@pytest.fixture(scope="package")
def deployment() -> Iterator[Deployment]:
    """Start the sandbox and Airflow once for tests/e2e; stop both, and every process Airflow started."""
    if os.environ.get("SKIP_E2E"):
        pytest.skip("SKIP_E2E is set")
    tmp = Path(tempfile.mkdtemp(prefix="jobstatus-e2e-"))
    clock = SandboxClock()
    always_queued = {"api_token": CANARY_TOKEN, "job_seconds": JOB_SECONDS, "queued_fraction": 1.0}
    state = SandboxState(
        zendesk=ZendeskSandboxConfig(**always_queued, fail_ids={FAILING_TICKET}),
        clock=clock,
        wistia=WistiaSandboxConfig(**always_queued),
        tradedesk=TradeDeskSandboxConfig(**always_queued),
    )
    with SandboxServer(state=state) as sandbox:
        connections = {
            "zendesk_default": zendesk_connection(sandbox.url),
            "wistia_default": wistia_connection(sandbox.url),
            "tradedesk_default": tradedesk_connection(sandbox.url),
        }
        settings = {
            # The DAG files do not change during the tests: parse each once (the default: every 30 s).
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
            # A killed triggerer's triggers go to the new one once its heartbeat (every second) is this
            # many seconds old (the launcher's 10 s): about when the new triggerer is up (test_restarts.py).
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "4",
        }
        airflow = LocalAirflow(
            tmp / "home",
            dags_folders=[ROOT / "example_dags", E2E_DAGS],
            connections=connections,
            extra_env=settings,
        )
        _started.append(airflow)
        try:
            airflow.start(timeout=240)
            api = AirflowApi(airflow.url, airflow.token())
            api.wait_for_dags([*EXAMPLE_DAG_IDS, "e2e_worker_kill", "e2e_clear"])
            yield Deployment(api=api, airflow=airflow, sandbox=sandbox, clock=clock, tmp=tmp)
        finally:
            airflow.stop()
            _started.remove(airflow)
            leftovers = airflow.leftover_pids()
            shutil.rmtree(tmp, ignore_errors=True)
    assert not leftovers, f"processes of the deployment still running after stop: {leftovers}"


def long_jobs(state: SandboxState) -> None:
    """New jobs of every vendor take ``JOB_SECONDS`` again (a test may have made them short), and no
    fault is pending."""
    for vendor in VENDORS:
        state.stores[vendor].config.job_seconds = JOB_SECONDS
    state.clear_faults()


@pytest.fixture(autouse=True)
def sandbox_knobs(deployment: Deployment) -> None:
    """Before each e2e test: ``long_jobs`` (package-scoped fixtures such as ``example_runs`` are set up
    before this one: they call it themselves)."""
    long_jobs(deployment.sandbox.state)


@dataclass
class ExampleRuns:
    """The run id of each example DAG (all finished), and what the tests need to check them."""

    run_ids: dict[str, str]
    zendesk_jobs: list[str]
    submits: dict[str, list[Any]]
    reports: Path

    def run_id(self, api: AirflowApi, dag_id: str) -> str:
        """The run of ``dag_id``, asserted successful."""
        api.expect_success(dag_id, self.run_ids[dag_id], timeout=0)
        return self.run_ids[dag_id]


#: The tasks of each example DAG that wait for jobs (deferred to the triggerer).
WAITING_TASKS = {
    "zendesk_wait_for_job": ("wait_for_jobs",),
    "zendesk_bulk_update": ("update_tickets",),
    "wistia_tag_and_trim": ("tag_media", "trim_intro"),
    "tradedesk_graphql_report": ("run_report",),
}


@pytest.fixture(scope="package")
def example_runs(deployment: Deployment) -> ExampleRuns:
    """Every example DAG triggered at once with the conf it needs, as ``make demo`` does; once each of
    their waiting tasks has deferred, the jobs end, and every run is awaited.

    Package-scoped: test_examples.py checks the runs, test_ui.py shows one of their logs and
    test_zz_canary.py scans them (whatever else ran before it)."""
    api, state = deployment.api, deployment.sandbox.state
    long_jobs(state)
    # Queued until end_jobs(): the sensor finds them running, whatever the time its task takes to start.
    zendesk_jobs = [
        state.zendesk.create_job(total=200, job_type="bulk_update_tickets"),
        state.zendesk.create_job(total=150, failed_indexes=[3, 42], job_type="bulk_update_tickets"),
        state.zendesk.create_job(total=20, job_type="bulk_create_users"),
    ]
    before = {vendor: len(state.stores[vendor].submits) for vendor in VENDORS}
    reports = deployment.tmp / "reports"
    run_ids = {
        "zendesk_wait_for_job": api.trigger("zendesk_wait_for_job", {"job_ids": zendesk_jobs}),
        "zendesk_bulk_update": api.trigger("zendesk_bulk_update", {"first_ticket_id": 1001, "count": 250}),
        "wistia_tag_and_trim": api.trigger("wistia_tag_and_trim", {"count": 250, "trim_media": "intro0001"}),
        "tradedesk_graphql_report": api.trigger(
            "tradedesk_graphql_report", {"output_base": f"file://{reports}"}
        ),
    }
    for dag_id, task_ids in WAITING_TASKS.items():
        for task_id in task_ids:
            deployment.wait_for_deferral(dag_id, run_ids[dag_id], task_id)
    deployment.end_jobs()
    deadline = time.monotonic() + 180
    for dag_id, run_id in run_ids.items():
        api.wait_for_run(dag_id, run_id, timeout=max(deadline - time.monotonic(), 1))
    submits = {vendor: state.stores[vendor].submits[before[vendor] :] for vendor in VENDORS}
    return ExampleRuns(run_ids, zendesk_jobs, submits, reports)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed e2e test, attach the tail of every Airflow component's output to the report."""
    report = yield
    if report.failed and _started:
        report.sections.append(("Airflow components (last lines)", _started[0].logs_digest()))
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``) every e2e test runs in one worker, in file order: they
    share one deployment, started once.

    The xdist worker groups tests by the ``xdist_group`` marks it finds in its own hook of this name: it
    appends ``@<group>`` to each grouped test's node id, which is what the scheduler groups by. Two things
    kept the e2e tests apart, each worker then starting deployments of its own: that hook ran before this
    one (hence ``tryfirst``), and with pytest 9.2 its renaming no longer takes (``join_group``)."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.xdist_group(E2E_GROUP))
            if getattr(config.option, "loadgroup", False):
                join_group(item, E2E_GROUP)


def join_group(item: pytest.Item, group: str) -> None:
    """Append ``@group`` to the node id, as pytest-xdist's worker means to under ``--dist loadgroup``.

    pytest 9.2 keeps a node's id in ``_id`` (a structured ``NodeId``); xdist 3.8 still writes the
    ``_nodeid`` of earlier pytests, which nothing reads any more, so every grouped test was scheduled on
    its own (pytest-xdist issue #1386, open). Before pytest 9.2 (no ``_id``) xdist's renaming works and
    this does nothing; once xdist renames through ``_id`` itself, the suffix is there and this does
    nothing either."""
    node_id = getattr(item, "_id", None)
    if node_id is None or str(node_id).endswith(f"@{group}"):
        return
    item._id = type(node_id).parse(f"{node_id}@{group}")
