"""Crashes in a real Airflow: a triggerer killed mid-wait, a worker killed right after its submit.

Either way the run must succeed with the sandbox having seen exactly one submit per job: the trigger
resumes the same wait in the new triggerer, and the task's retry reattaches to the jobs its killed try
submitted (the ledger in the task state store).
"""

from __future__ import annotations

import os
import signal
import time

from airflow_jobstatus.sandbox import SandboxState

from .api import assert_deferred, events
from .conftest import Deployment


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


def test_worker_killed_after_submit(deployment: Deployment) -> None:
    api, airflow, state = deployment.api, deployment.airflow, deployment.sandbox.state
    state.zendesk.job_seconds = 2.0  # they end by themselves, while the retry polls or before
    submitted_before = len(state.zendesk.submits)
    # Hold the first status read after the submits (the worker polls: tests/e2e/dags/e2e_worker_kill.py)
    # for 20 s, ample time to kill the worker; the held request ends during the next test.
    stall = state.add_fault(path_prefix="/api/v2/job_statuses", method="GET", status=None, delay=20, count=1)
    dag_id, task_id = "e2e_worker_kill", "update_tickets"
    run_id = api.trigger(dag_id)

    deadline = time.monotonic() + 120
    while any(fault is stall for fault in state.faults) or len(state.zendesk.submits) < submitted_before + 2:
        assert time.monotonic() < deadline, (
            f"the task never submitted and read:\n{api.describe(dag_id, run_id)}"
        )
        time.sleep(0.2)
    ti = api.task_instance(dag_id, run_id, task_id)
    assert (ti["state"], ti["try_number"]) == ("running", 1)
    # The task runner process is titled "airflow worker -- <task instance id>" (Airflow 3.3 task SDK).
    pids = airflow.pids_with_title(f"airflow worker -- {ti['id']}")
    assert len(pids) == 1, f"task process of {ti['id']}: {pids}"
    os.kill(pids[0], signal.SIGKILL)

    api.expect_success(dag_id, run_id, timeout=180)
    ti = api.task_instance(dag_id, run_id, task_id)
    assert ti["try_number"] == 2, "the killed try should have been retried"
    first_try = events(api.log(dag_id, run_id, task_id, 1))
    assert sum(line.startswith("job ") and " covers items " in line for line in first_try) == 2, first_try
    retry = events(api.log(dag_id, run_id, task_id, 2))
    assert any(line.startswith("reattaching to 2 jobs") for line in retry), retry
    submits = state.zendesk.submits[submitted_before:]
    assert [submit.count for submit in submits] == [100, 50], "the retry must not submit again"
    results = api.xcom(dag_id, run_id, task_id)
    assert [row["id"] for row in results] == list(range(7001, 7151))
    assert {row["job_id"] for row in results} == {submit.job_id for submit in submits}
    assert all(row["success"] for row in results)


def test_triggerer_killed_mid_wait(deployment: Deployment) -> None:
    api, airflow, state = deployment.api, deployment.airflow, deployment.sandbox.state
    zendesk = state.zendesk  # its jobs stay queued until end_jobs() (conftest.py, JOB_SECONDS)
    submitted_before = len(zendesk.submits)
    dag_id, task_id = "zendesk_bulk_update", "update_tickets"
    run_id = api.trigger(dag_id, {"first_ticket_id": 5001, "count": 250})

    # Wait until the triggerer runs the trigger (assigned to a triggerer job) and has read the jobs once.
    ti = api.wait_for_task(
        dag_id, run_id, task_id, lambda ti: bool(ti["state"] == "deferred" and ti["triggerer_job"])
    )
    first_triggerer = ti["triggerer_job"]["id"]
    job_ids = [submit.job_id for submit in zendesk.submits[submitted_before:]]
    wait_for_status_read(state, job_ids, "the triggerer never read the jobs' status")

    airflow.stop_component("triggerer", sig=signal.SIGKILL)  # the whole process group: no clean shutdown
    assert api.task_instance(dag_id, run_id, task_id)["state"] == "deferred"
    airflow.start_component("triggerer")

    # The new triggerer takes the trigger over once the killed one's heartbeat is too old
    # ([triggerer] triggerer_health_check_threshold), and reads the jobs, still running, again.
    wait_for_status_read(state, job_ids, "no triggerer read the jobs' status after the restart", timeout=90)
    ti = api.task_instance(dag_id, run_id, task_id)
    assert ti["state"] == "deferred"
    assert ti["triggerer_job"]["id"] != first_triggerer, ti["triggerer_job"]
    deployment.end_jobs()

    api.expect_success(dag_id, run_id, timeout=180)
    ti = api.task_instance(dag_id, run_id, task_id)
    assert ti["try_number"] == 1, "the task should not have needed a retry"
    # Each triggerer writes its own file for the try (attempt=1.log.trigger.<triggerer job id>.log).
    trigger_files = assert_deferred(api, dag_id, run_id, task_id)
    assert len(set(trigger_files)) == 2, trigger_files
    results = api.xcom(dag_id, run_id, task_id)
    submits = zendesk.submits[submitted_before:]
    assert [submit.count for submit in submits] == [100, 100, 50]
    assert {row["job_id"] for row in results} == {submit.job_id for submit in submits}
    assert all(row["success"] for row in results)


def wait_for_status_read(state: SandboxState, job_ids: list[str], failure: str, timeout: float = 30) -> None:
    """Wait until the sandbox answers one more status read of ``job_ids`` than it had so far."""
    seen = status_reads(state, job_ids)
    deadline = time.monotonic() + timeout
    while status_reads(state, job_ids) == seen:
        assert time.monotonic() < deadline, failure
        time.sleep(0.2)
