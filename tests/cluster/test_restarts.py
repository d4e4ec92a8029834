"""Crashes on the cluster: a triggerer SIGKILLed mid-wait, a Celery worker SIGKILLed right after its task
submitted. Either way every run succeeds and the sandbox sees exactly one submit per job.

A killed component is its whole session: the process group and the processes that lead groups of their
own (a task), as when the machine running it dies (``Cluster.kill``). Each test starts it again at the end
without waiting; the next test that needs it waits (``ready`` in conftest.py).
"""

from __future__ import annotations

import os
import time

import pytest
from e2e.api import assert_deferred, events

from .conftest import HEARTBEAT_TIMEOUT, ClusterDeployment, wait_for_status_read

FAILOVER_TASKS = ("update_1", "update_2", "update_3")


@pytest.mark.needs("triggerers", "workers")
def test_triggerer_killed_mid_wait(deployment: ClusterDeployment) -> None:
    api, cluster, state = deployment.api, deployment.cluster, deployment.sandbox.state
    zendesk = state.zendesk  # its jobs stay queued until end_jobs()
    submitted_before = len(zendesk.submits)
    dag_id = "cluster_failover"
    run_id = api.trigger(dag_id)
    for task_id in FAILOVER_TASKS:
        deployment.wait_for_deferral(dag_id, run_id, task_id)
    assigned = deployment.assigned(dag_id, run_id, FAILOVER_TASKS)
    job_ids = [submit.job_id for submit in zendesk.submits[submitted_before:]]
    assert len(job_ids) == 3, job_ids

    # Kill the triggerer holding most of the three waits (at least one), once it has polled their jobs.
    jobs = cluster.triggerer_job_ids
    counts = {name: sum(job == jobs[name] for job in assigned.values()) for name in jobs}
    victim = max(counts, key=lambda name: counts[name])
    (survivor,) = set(jobs) - {victim}
    moved = [task_id for task_id, job in assigned.items() if job == jobs[victim]]
    assert moved, (assigned, jobs)
    seen = deployment.triggers.of_run(dag_id, run_id)
    # A trigger's kwargs (decrypted) name the one job its task submitted.
    moved_jobs = [job for job in job_ids if any(job in kw for t in moved for kw in seen[t][0].kwargs)]
    assert len(moved_jobs) == len(moved), (moved, moved_jobs, seen)
    wait_for_status_read(state, moved_jobs, f"{victim} never read its jobs' status")
    cluster.kill(victim)
    killed_at = time.monotonic()
    try:
        for task_id in FAILOVER_TASKS:
            assert api.task_instance(dag_id, run_id, task_id)["state"] == "deferred"
        # Airflow hands the orphaned triggers over once the dead triggerer's heartbeat is older than
        # [triggerer] triggerer_health_check_threshold (10 s in the cluster): all three on the survivor.
        deployment.triggers.wait_until(
            lambda rows: (
                all(
                    row.triggerer_id == jobs[survivor]
                    for row in rows
                    if (row.dag_id, row.run_id) == (dag_id, run_id)
                )
                and sum((row.dag_id, row.run_id) == (dag_id, run_id) for row in rows) == 3
            ),
            f"the triggers of {victim} did not move to {survivor}",
            timeout=60,
        )
        handed_over_after = time.monotonic() - killed_at
        print(f"{len(moved)} trigger(s) of {victim} on {survivor} {handed_over_after:.1f} s after the kill")
        assert handed_over_after > 4, (
            f"reassigned {handed_over_after:.1f} s after the kill: before the threshold?"
        )
        seen = deployment.triggers.of_run(dag_id, run_id)
        for task_id in moved:
            (trigger,) = seen[task_id]  # the same trigger row, moved: no new deferral
            assert [job for job in trigger.triggerer_ids if job is not None][-2:] == [
                jobs[victim],
                jobs[survivor],
            ]
        # The survivor polls them (the victim is dead: whoever reads them now is the survivor).
        wait_for_status_read(state, moved_jobs, f"{survivor} never read the moved jobs after the hand-over")
        deployment.end_jobs()

        api.expect_success(dag_id, run_id, timeout=120)
        for task_id in FAILOVER_TASKS:
            ti = api.task_instance(dag_id, run_id, task_id)
            assert ti["try_number"] == 1, f"{task_id} should not have needed a retry"
            # Each triggerer that ran the try's trigger wrote a file of its own for it.
            files = assert_deferred(api, dag_id, run_id, task_id)
            expected = {jobs[victim], jobs[survivor]} if task_id in moved else {assigned[task_id]}
            assert {job for job in (_writer(f) for f in files) if job is not None} == expected, (
                task_id,
                files,
            )
        submits = zendesk.submits[submitted_before:]
        assert [submit.count for submit in submits] == [40, 40, 40], "one submit per job, none on hand-over"
        for task_id in FAILOVER_TASKS:
            rows = api.xcom(dag_id, run_id, task_id)
            assert len(rows) == 40 and all(row["success"] for row in rows), rows
            assert len({row["job_id"] for row in rows}) == 1
            assert rows[0]["job_id"] in {submit.job_id for submit in submits}
    finally:
        cluster.restart(victim, wait=False)


@pytest.mark.needs("workers")
def test_worker_killed_after_submit(deployment: ClusterDeployment) -> None:
    api, cluster, state = deployment.api, deployment.cluster, deployment.sandbox.state
    state.zendesk.job_seconds = 2.0  # they end by themselves, while the retry polls or before
    submitted_before = len(state.zendesk.submits)
    # Hold the first status read after the submits (the task polls on the worker: deferrable=False) for
    # 12 s, ample time to kill the worker (a second or two); the held request then ends on its own.
    stall = state.add_fault(path_prefix="/api/v2/job_statuses", method="GET", status=None, delay=12, count=1)
    dag_id, task_id = "cluster_worker_kill", "update_tickets"
    run_id = api.trigger(dag_id)

    deadline = time.monotonic() + 90
    while any(fault is stall for fault in state.faults) or len(state.zendesk.submits) < submitted_before + 2:
        assert time.monotonic() < deadline, (
            f"the task never submitted and read:\n{api.describe(dag_id, run_id)}"
        )
        time.sleep(0.2)
    ti = api.task_instance(dag_id, run_id, task_id)
    assert (ti["state"], ti["try_number"]) == ("running", 1)
    # The task process is titled "airflow worker -- <task instance id>" (Airflow 3.3 task SDK); it leads
    # a process group of its own, in the session of the Celery worker that runs it.
    (pid,) = cluster.airflow.pids_with_title(f"airflow worker -- {ti['id']}")
    victim = cluster.worker_of_pid(pid)
    assert victim is not None, f"task process {pid} is in no worker's session"
    (survivor,) = set(cluster.worker_names) - {victim}
    cluster.kill(victim)
    killed_at = time.monotonic()
    try:
        assert not os.path.exists(f"/proc/{pid}/stat") or _zombie(pid), "the task process survived the kill"
        # No heartbeat any more: after [scheduler] task_instance_heartbeat_timeout the scheduler fails the
        # try, and the retry goes to the other worker.
        api.expect_success(dag_id, run_id, timeout=120)
        recovered_after = time.monotonic() - killed_at
        print(f"{victim} killed; the retry on {survivor} succeeded {recovered_after:.1f} s later")
        assert recovered_after > HEARTBEAT_TIMEOUT - 2, "retried before the heartbeat timeout?"
        ti = api.task_instance(dag_id, run_id, task_id)
        assert ti["try_number"] == 2, "the killed try should have been retried"
        retry = events(api.log(dag_id, run_id, task_id, 2))
        assert any(line.startswith("reattaching to 2 jobs") for line in retry), retry
        submits = state.zendesk.submits[submitted_before:]
        assert [submit.count for submit in submits] == [100, 50], "the retry must not submit again"
        results = api.xcom(dag_id, run_id, task_id)
        assert [row["id"] for row in results] == list(range(9001, 9151))
        assert {row["job_id"] for row in results} == {submit.job_id for submit in submits}
        assert all(row["success"] for row in results)
        # Each try ran where we think: the first on the killed worker, the retry on the other one.
        logs = {name: cluster.logs[name].read_text(errors="replace") for name in cluster.worker_names}
        ((first,),) = cluster.query(
            "SELECT external_executor_id FROM task_instance_history"
            " WHERE dag_id = %s AND run_id = %s AND task_id = %s AND try_number = 1",
            (dag_id, run_id, task_id),
        )
        ((second,),) = cluster.query(
            "SELECT external_executor_id FROM task_instance WHERE id = %s", (ti["id"],)
        )
        assert f"[{first}] received" in logs[victim], first
        assert f"[{second}] received" in logs[survivor], second
    finally:
        cluster.restart(victim, wait=False)


def _writer(path: str) -> int | None:
    """The triggerer job id in a trigger log file name (``attempt=1.log.trigger.<id>.log``)."""
    name = path.rsplit(".log.trigger.", 1)
    return (
        int(name[1].removesuffix(".log"))
        if len(name) == 2 and name[1].removesuffix(".log").isdigit()
        else None
    )


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()[0] == b"Z"
    except OSError:
        return True
