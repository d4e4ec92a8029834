"""Triggerer queues (Airflow 3.2+): waits pinned with ``queue="zendesk_pinned"`` all run in the one
triggerer started with ``--queues default,zendesk_pinned``, and their tasks on the Celery worker listening
on that queue; a wait without a queue stays on the shared ``default`` queue.

Where each trigger ran comes from the ``trigger`` table, read by the sampler all along (every queue and
triggerer id each row ever had); where each task ran, from the Celery workers' logs, which name every task
message they receive by its id, the task instance's ``external_executor_id``.
"""

from __future__ import annotations

import re

import pytest
from e2e.api import assert_deferred

from .conftest import DEFAULT_QUEUE, PINNED_QUEUE, ClusterDeployment

DAG_ID = "cluster_pinned"
PINNED = ("pinned_1", "pinned_2")
TRIGGER_LOG = re.compile(r"\.log\.trigger\.(\d+)\.log$")


@pytest.mark.needs("triggerers", "workers")
def test_pinned_waits_run_in_the_pinned_triggerer(deployment: ClusterDeployment) -> None:
    api, cluster, state = deployment.api, deployment.cluster, deployment.sandbox.state
    pinned_triggerer, shared_triggerer = cluster.triggerer_names
    pinned_worker, shared_worker = cluster.worker_names
    assert PINNED_QUEUE in cluster.queues[pinned_triggerer] and PINNED_QUEUE in cluster.queues[pinned_worker]
    assert cluster.queues[shared_triggerer] == [DEFAULT_QUEUE] == cluster.queues[shared_worker]
    jobs = cluster.triggerer_job_ids
    submitted_before = len(state.zendesk.submits)
    run_id = api.trigger(DAG_ID)

    for task_id in (*PINNED, "unpinned"):
        deployment.wait_for_deferral(DAG_ID, run_id, task_id)
    assigned = deployment.assigned(DAG_ID, run_id, (*PINNED, "unpinned"))
    deployment.end_jobs()
    api.expect_success(DAG_ID, run_id, timeout=120)

    seen = deployment.triggers.of_run(DAG_ID, run_id)
    for task_id in PINNED:
        assert assigned[task_id] == jobs[pinned_triggerer], (task_id, assigned, jobs)
        (trigger,) = seen[task_id]  # deferred once
        assert trigger.queue == PINNED_QUEUE, trigger
        assert trigger.triggerer_ids in ([jobs[pinned_triggerer]], [None, jobs[pinned_triggerer]]), trigger
        trigger_files = assert_deferred(api, DAG_ID, run_id, task_id)
        assert {int(m.group(1)) for f in trigger_files if (m := TRIGGER_LOG.search(f))} == {
            jobs[pinned_triggerer]
        }
    (unpinned,) = seen["unpinned"]
    assert unpinned.queue == DEFAULT_QUEUE, unpinned
    assert assigned["unpinned"] in jobs.values()

    # The same queue routed the tasks themselves: the pinned tasks ran on the pinned worker (the Celery
    # message of their last run, the resumption after the deferral, is named in its log only).
    logs = {name: cluster.logs[name].read_text(errors="replace") for name in cluster.worker_names}
    instances = api.task_instances(DAG_ID, run_id)
    messages = dict(
        cluster.query(
            "SELECT task_id, external_executor_id FROM task_instance WHERE dag_id = %s AND run_id = %s",
            (DAG_ID, run_id),
        )
    )
    for task_id in PINNED:
        assert instances[task_id]["queue"] == PINNED_QUEUE, instances[task_id]
        received = f"[{messages[task_id]}] received"
        assert received in logs[pinned_worker], (task_id, messages[task_id])
        assert received not in logs[shared_worker], (task_id, messages[task_id])
    assert instances["unpinned"]["queue"] == DEFAULT_QUEUE
    assert sorted(submit.count for submit in state.zendesk.submits[submitted_before:]) == [20, 30]
