"""A clear in a real Airflow (REST API, as the UI's "Clear" sends it) runs the task again; a task with
``reattach_on_clear=True`` carries on with its jobs instead (issue 16, item 4)."""

from __future__ import annotations

import time
from typing import Any

from airflow_jobstatus.sandbox import SandboxState

from .api import AirflowApi, events
from .conftest import Deployment

DAG_ID = "e2e_clear"


def jobs_by_task(state: SandboxState, since: int) -> dict[int, list[str]]:
    """The job ids the sandbox accepted since submit number ``since``, by their request's size (3 tickets:
    ``run_again``, 2: ``carry_on``; no other DAG runs meanwhile: the e2e tests run one at a time)."""
    found: dict[int, list[str]] = {}
    for submit in state.zendesk.submits[since:]:
        found.setdefault(submit.count, []).append(submit.job_id)
    return found


def logged_by(api: AirflowApi, run_id: str, task_id: str, try_number: int, *parts: str) -> None:
    """Assert that a line of the try's log holds every one of ``parts``: the API serves a finished try's
    log at once, but its last lines may reach the log file a moment after the run shows success."""
    deadline = time.monotonic() + 20
    while True:
        lines = events(api.log(DAG_ID, run_id, task_id, try_number))
        if any(all(part in line for part in parts) for line in lines):
            return
        assert time.monotonic() < deadline, f"{task_id} try {try_number} never logged {parts}: {lines}"
        time.sleep(1)


def clear(api: AirflowApi, run_id: str, *task_ids: str) -> None:
    """What the UI's "Clear" on finished or deferred tasks sends."""
    body: dict[str, Any] = {
        "dry_run": False,
        "dag_run_id": run_id,
        "task_ids": list(task_ids),
        "only_failed": False,
        "reset_dag_runs": True,
    }
    api.request("POST", f"dags/{DAG_ID}/clearTaskInstances", json=body)


def test_a_cleared_task_runs_again_and_reattach_on_clear_carries_on(deployment: Deployment) -> None:
    api, state = deployment.api, deployment.sandbox.state
    before = len(state.zendesk.submits)
    run_id = api.trigger(DAG_ID)  # its jobs stay queued until end_jobs() (conftest.py, JOB_SECONDS)
    for task_id in ("run_again", "carry_on"):
        deployment.wait_for_deferral(DAG_ID, run_id, task_id)
    deployment.end_jobs()
    api.expect_success(DAG_ID, run_id)
    first = jobs_by_task(state, before)  # run_again sends 3 tickets, carry_on 2
    assert {size: len(ids) for size, ids in first.items()} == {3: 1, 2: 1}

    cleared_try = api.task_instance(DAG_ID, run_id, "run_again")["try_number"]
    clear(api, run_id, "run_again", "carry_on")
    # carry_on finds its job ended and concludes at once; run_again waits for the job it sends anew.
    deployment.wait_for_deferral(DAG_ID, run_id, "run_again", after_try=cleared_try)
    deployment.end_jobs()
    api.expect_success(DAG_ID, run_id)
    second = jobs_by_task(state, before)
    assert len(second[3]) == 2, "the cleared task must submit again"
    assert second[2] == first[2], "reattach_on_clear=True must not submit again"
    assert api.xcom(DAG_ID, run_id, "run_again")[0]["job_id"] == second[3][1]
    assert api.xcom(DAG_ID, run_id, "carry_on")[0]["job_id"] == first[2][0]
    # The try after the clear: the last one (a loaded machine may have retried a try of the first run).
    again = api.task_instance(DAG_ID, run_id, "run_again")["try_number"]
    logged_by(api, run_id, "run_again", again, "the task was cleared after try", "anew")
    carried = api.task_instance(DAG_ID, run_id, "carry_on")["try_number"]
    logged_by(api, run_id, "carry_on", carried, "reattaching, as reattach_on_clear=True asks")


def test_clearing_a_deferred_task_submits_anew(deployment: Deployment) -> None:
    api, state = deployment.api, deployment.sandbox.state
    before = len(state.zendesk.submits)
    run_id = api.trigger(DAG_ID)  # its jobs stay queued until end_jobs() (conftest.py, JOB_SECONDS)
    deferred = deployment.wait_for_deferral(DAG_ID, run_id, "run_again")
    deployment.wait_for_deferral(DAG_ID, run_id, "carry_on")
    clear(api, run_id, "run_again")
    deployment.wait_for_deferral(DAG_ID, run_id, "run_again", after_try=deferred["try_number"])
    deployment.end_jobs()  # the new try's job and carry_on's (and the cleared try's, which nobody awaits)
    api.expect_success(DAG_ID, run_id)
    sent = jobs_by_task(state, before)
    assert len(sent[3]) == 2, f"the clear of a deferred task must submit again: {sent}"
    assert len(sent[2]) == 1
    ti = api.task_instance(DAG_ID, run_id, "run_again")
    assert ti["try_number"] >= 2
    assert api.xcom(DAG_ID, run_id, "run_again")[0]["job_id"] == sent[3][1]
