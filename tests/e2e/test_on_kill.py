"""Marking a deferred task failed in a real Airflow (REST API, as the UI's "Mark as failed" sends it) runs
JobTrigger.on_kill in the triggerer (Airflow 3.3+): the task's log says which Zendesk jobs keep running,
by id, and that they cannot be cancelled from Airflow; nothing is sent to Zendesk for them."""

from __future__ import annotations

import time
from urllib.parse import quote

from conftest import CANARY_TOKEN

from airflow_jobstatus.sandbox import SandboxState

from .api import events
from .conftest import Deployment

DAG_ID = "e2e_on_kill"
TASK_ID = "update_tickets"
STATUS_PATH = "/api/v2/job_statuses/"


def reads_of(state: SandboxState, job_id: str) -> int:
    """Status reads of one job the sandbox answered (a show call, or show_many with its id)."""
    with state.lock:
        return sum(
            1 for r in state.requests if r.path.startswith(STATUS_PATH) and job_id in f"{r.path}?{r.query}"
        )


def writes(state: SandboxState) -> int:
    """Requests to the Zendesk API other than reads (a cancel would be one)."""
    with state.lock:
        return sum(1 for r in state.requests if r.path.startswith("/api/v2/") and r.method != "GET")


def test_marking_a_deferred_task_failed_logs_the_jobs_left_running(deployment: Deployment) -> None:
    api, state = deployment.api, deployment.sandbox.state
    api.wait_for_dags([DAG_ID])
    before = len(state.zendesk.submits)
    run_id = api.trigger(DAG_ID)  # its jobs stay queued (conftest.py, JOB_SECONDS): the task stays deferred
    ti = deployment.wait_for_deferral(DAG_ID, run_id, TASK_ID)
    job_ids = [submit.job_id for submit in state.zendesk.submits[before:]]
    assert len(job_ids) == 2, job_ids
    # The trigger has read its jobs at least once (so on_kill knows them as running, not only as ids).
    deadline = time.monotonic() + 60
    while not all(reads_of(state, job_id) for job_id in job_ids):
        assert time.monotonic() < deadline, "the trigger never read its jobs"
        time.sleep(0.5)
    writes_before = writes(state)

    path = f"dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances/{TASK_ID}"
    api.request("PATCH", path, json={"new_state": "failed"})

    api.wait_for_task(DAG_ID, run_id, TASK_ID, lambda ti: ti["state"] == "failed", timeout=60)
    deadline = time.monotonic() + 60
    while True:
        lines = events(api.log(DAG_ID, run_id, TASK_ID, ti["try_number"]))
        killed = [line for line in lines if "cannot be cancelled from Airflow" in line]
        if killed:
            break
        assert time.monotonic() < deadline, f"no on_kill line in the task log: {lines}"
        time.sleep(1)
    assert len(killed) == 1, killed
    message = killed[0]
    assert "2 Zendesk jobs keep running at Zendesk" in message, message
    assert all(job_id in message for job_id in job_ids), message
    assert "Zendesk job statuses cannot be cancelled from Airflow" in message
    assert any("cancelled by user action" in line for line in lines), lines  # Airflow's own line
    raw = api.log_text(DAG_ID, run_id, TASK_ID, ti["try_number"])
    assert CANARY_TOKEN not in raw
    # Nothing was sent to Zendesk to stop them: no further write, and the jobs are still queued there.
    assert writes(state) == writes_before
    assert all(state.zendesk.jobs[job_id].status_at(state.zendesk.clock()) == "queued" for job_id in job_ids)
