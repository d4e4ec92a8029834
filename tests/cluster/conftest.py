"""The production-like deployment of ``make cluster`` (scripts/cluster.py), started once for tests/cluster.

PostgreSQL and Redis (Debian's binaries, run unprivileged on free ports), Airflow on the CeleryExecutor
with two workers and two triggerers, the sandbox (in this process) with the canary token, the example DAGs
and ``tests/cluster/dags``. As in tests/e2e (whose helpers these tests use), sandbox jobs stay queued until
a test calls ``end_jobs()``, so every wait is seen deferred in a triggerer first.

Each triggerer is started with ``--capacity 4`` here: Airflow balances nothing (``Trigger.assign_unassigned``
hands up to 50 unassigned triggers a loop to whichever triggerer asks first), so the five waits of the
example DAGs are spread over both triggerers only because neither can take all five; the failover test
waits on three triggers, which the surviving triggerer has room for; the account-limit test defers six
waits at once, all of them assigned (8 places), at least two on each triggerer.

A ``TriggerSampler`` (sampling.py) reads the ``trigger`` table four times a second all along (its rows are
deleted once no deferred task uses them): each trigger's queue, triggerer ids and decrypted kwargs, for the
tests to check where the triggers ran and what they stored. The tests are skipped, with the reason, only
when the PostgreSQL or Redis server binaries are not installed (``bash scripts/install_services.sh``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import CANARY_TOKEN, tradedesk_connection, wistia_connection, zendesk_connection
from e2e.api import AirflowApi
from e2e.conftest import (
    EXAMPLE_DAG_IDS,
    FAILING_TICKET,
    JOB_SECONDS,
    VENDORS,
    WAITING_TASKS,
    Deployment,
    SandboxClock,
    join_group,
    long_jobs,
)

from airflow_jobstatus.sandbox import (
    SandboxServer,
    SandboxState,
    TradeDeskSandboxConfig,
    WistiaSandboxConfig,
    ZendeskSandboxConfig,
)

from .sampling import TriggerSampler

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_DAGS = Path(__file__).resolve().parent / "dags"
#: The pytest-xdist group of every cluster test (``--dist loadgroup``: one worker runs them all).
CLUSTER_GROUP = "cluster"
#: The DAGs of tests/cluster/dags.
CLUSTER_DAG_IDS = ("cluster_failover", "cluster_worker_kill", "cluster_pinned", "cluster_account_limit")
#: The Zendesk connection of test_account_limit.py: the account's limit alone holds it back.
ACCOUNT_CONN_ID = "zendesk_account"
#: Its own budget (extra ``requests_per_minute``), far above the sandbox account's limit in that test.
ACCOUNT_CONN_BUDGET = 6000
#: ``--capacity`` of each triggerer (see the module docstring).
TRIGGERER_CAPACITY = 4
#: A task whose worker died is failed (and retried) once its heartbeat is this many seconds old.
HEARTBEAT_TIMEOUT = 12


sys.path.insert(0, str(ROOT / "scripts"))
from serve import load_script  # noqa: E402

#: scripts/cluster.py, under a name of its own (``cluster`` is this test package).
launcher = load_script("cluster")
Cluster = launcher.Cluster
PINNED_QUEUE: str = launcher.PINNED_QUEUE
DEFAULT_QUEUE: str = launcher.DEFAULT_QUEUE

_started: list[Any] = []


@dataclass
class ClusterDeployment(Deployment):
    """tests/e2e's ``Deployment`` (API, sandbox, ``end_jobs``, ``wait_for_deferral``) on the cluster."""

    cluster: Any = None
    sampler: TriggerSampler | None = None

    @property
    def triggers(self) -> TriggerSampler:
        """The trigger table's sampler."""
        assert self.sampler is not None
        return self.sampler

    def assigned(
        self, dag_id: str, run_id: str, task_ids: tuple[str, ...], timeout: float = 60.0
    ) -> dict[str, int]:
        """Wait until a trigger row of each task (of that run) has a triggerer; return task id -> the
        triggerer job id, as read in one and the same read of the trigger table."""

        def every_one(rows: list[Any]) -> bool:
            mine = {
                row.task_id: row.triggerer_id for row in rows if (row.dag_id, row.run_id) == (dag_id, run_id)
            }
            return all(mine.get(task_id) is not None for task_id in task_ids)

        rows = self.triggers.wait_until(
            every_one, f"{dag_id}: not every trigger of {task_ids} was assigned", timeout
        )
        return {row.task_id: row.triggerer_id for row in rows if (row.dag_id, row.run_id) == (dag_id, run_id)}


def status_reads(state: SandboxState, job_ids: list[str]) -> int:
    """How many Zendesk status reads the sandbox answered for any of ``job_ids``."""
    with state.lock:
        return sum(
            1
            for record in state.requests
            if record.method == "GET"
            and record.path.startswith("/api/v2/job_statuses")
            and any(job_id in record.path + record.query for job_id in job_ids)
        )


def wait_for_status_read(state: SandboxState, job_ids: list[str], failure: str, timeout: float = 30) -> None:
    """Wait until the sandbox answers one more status read of ``job_ids`` than it had so far."""
    seen = status_reads(state, job_ids)
    deadline = time.monotonic() + timeout
    while status_reads(state, job_ids) == seen:
        assert time.monotonic() < deadline, failure
        time.sleep(0.2)


@pytest.fixture(scope="package")
def deployment() -> Iterator[ClusterDeployment]:
    """Start the sandbox and the cluster once for tests/cluster; stop both (servers included)."""
    missing = launcher.missing_services()
    if missing:
        pytest.skip(
            f"the PostgreSQL / Redis servers are not installed ({', '.join(missing)}): run "
            "`bash scripts/install_services.sh` (CI does)"
        )
    if os.environ.get("SKIP_CLUSTER"):
        pytest.skip("SKIP_CLUSTER is set")
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
            # The same account as zendesk_default (host and token), a connection id of its own.
            ACCOUNT_CONN_ID: zendesk_connection(
                sandbox.url, extra={"requests_per_minute": ACCOUNT_CONN_BUDGET}
            ),
        }
        settings = {
            # The DAG files do not change during the tests: parse each once.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
            # A task whose worker was killed is failed, and retried, this soon (default: 300 s).
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "1",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        }
        cluster = Cluster(
            dags_folders=[ROOT / "example_dags", CLUSTER_DAGS],
            connections=connections,
            triggerer_capacity=TRIGGERER_CAPACITY,
            extra_env=settings,
        )
        _started.append(cluster)
        sampler: TriggerSampler | None = None
        try:
            cluster.start(timeout=240)
            api = AirflowApi(cluster.url, cluster.token())
            api.wait_for_dags([*EXAMPLE_DAG_IDS, *CLUSTER_DAG_IDS])
            sampler = TriggerSampler(cluster).start()
            yield ClusterDeployment(
                api=api,
                airflow=cluster.airflow,
                sandbox=sandbox,
                clock=clock,
                tmp=cluster.tmp,
                cluster=cluster,
                sampler=sampler,
            )
        finally:
            if sampler is not None:
                sampler.stop()
            cluster.stop()
            _started.remove(cluster)
            leftovers = cluster.leftover_pids()
    assert not leftovers, f"processes of the cluster still running after stop: {leftovers}"
    assert not cluster.tmp.exists(), f"{cluster.tmp} was not removed"


@pytest.fixture(autouse=True)
def ready(request: pytest.FixtureRequest, deployment: ClusterDeployment) -> None:
    """Before each test: long sandbox jobs and no fault (``long_jobs``), every component killed by an
    earlier test started again, and the components the test needs ready (``@pytest.mark.needs(...)``:
    "triggerers", "workers"; all without the mark)."""
    long_jobs(deployment.sandbox.state)
    cluster = deployment.cluster
    marker = request.node.get_closest_marker("needs")
    wanted = set(marker.args) if marker is not None else {"triggerers", "workers"}
    names = (cluster.triggerer_names if "triggerers" in wanted else []) + (
        cluster.worker_names if "workers" in wanted else []
    )
    cluster.ensure_running(names)


@dataclass
class ExampleRuns:
    """The run id of each example DAG (all finished), what the trigger table said while they waited, and
    the submits the sandbox saw."""

    run_ids: dict[str, str]
    zendesk_jobs: list[str]
    submits: dict[str, list[Any]]
    #: (dag id, task id) -> the triggerer job id of its trigger, all read at once while every wait waited.
    triggerer_of: dict[tuple[str, str], int]
    reports: Path


@pytest.fixture(scope="package")
def example_runs(deployment: ClusterDeployment) -> ExampleRuns:
    """Every example DAG triggered at once, as tests/e2e does; once each waiting task has deferred and
    every trigger has a triggerer (one read of the trigger table), the jobs end, and every run is awaited.

    Package-scoped: test_examples.py checks the runs, test_zz_canary.py scans what they left."""
    api, state = deployment.api, deployment.sandbox.state
    long_jobs(state)
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

    def all_assigned(rows: list[Any]) -> bool:
        mine = {(row.dag_id, row.task_id): row.triggerer_id for row in rows if row.run_id in run_ids.values()}
        wanted = [(dag_id, task_id) for dag_id, task_ids in WAITING_TASKS.items() for task_id in task_ids]
        return all(mine.get(key) is not None for key in wanted)

    rows = deployment.triggers.wait_until(all_assigned, "not every example trigger got a triggerer")
    triggerer_of = {
        (row.dag_id, row.task_id): row.triggerer_id for row in rows if row.run_id in run_ids.values()
    }
    deployment.end_jobs()
    deadline = time.monotonic() + 180
    for dag_id, run_id in run_ids.items():
        api.wait_for_run(dag_id, run_id, timeout=max(deadline - time.monotonic(), 1))
    submits = {vendor: state.stores[vendor].submits[before[vendor] :] for vendor in VENDORS}
    return ExampleRuns(run_ids, zendesk_jobs, submits, triggerer_of, reports)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed cluster test, attach the tail of every component's and server's output."""
    report = yield
    if report.failed and _started:
        with contextlib.suppress(Exception):
            report.sections.append(("cluster components (last lines)", _started[0].logs_digest()))
    return report


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``needs`` mark."""
    config.addinivalue_line(
        "markers", "needs(*parts): the cluster components a tests/cluster test needs ready"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every cluster test is ``slow`` and, under pytest-xdist (``--dist loadgroup``), runs in one worker, in
    file order: they share one cluster. Same grouping as tests/e2e/conftest.py (``join_group``: pytest 9.2
    and xdist 3.8)."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group(CLUSTER_GROUP))
            if getattr(config.option, "loadgroup", False):
                join_group(item, CLUSTER_GROUP)
