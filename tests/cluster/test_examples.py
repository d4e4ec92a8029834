"""Every example DAG succeeds on the cluster (CeleryExecutor, PostgreSQL), each wait deferred to a
triggerer, and the waits spread over both triggerers.

Where each trigger ran is read in the ``trigger`` table itself while every wait waits: the sandbox keeps
the jobs queued until ``end_jobs()``, so the five triggers are all there at once; one read of the table
gives each one's ``triggerer_id`` (``example_runs`` in conftest.py). The task logs confirm it: the
triggerer that ran a trigger writes ``...log.trigger.<its job id>.log`` for the try.
"""

from __future__ import annotations

import re

from e2e.api import assert_deferred

from .conftest import FAILING_TICKET, WAITING_TASKS, ClusterDeployment, ExampleRuns

TRIGGER_LOG = re.compile(r"\.log\.trigger\.(\d+)\.log$")


def test_example_dags_succeed_with_waits_spread_over_both_triggerers(
    deployment: ClusterDeployment, example_runs: ExampleRuns
) -> None:
    api, cluster = deployment.api, deployment.cluster
    triggerers = cluster.triggerer_job_ids
    assert len(triggerers) == 2, triggerers
    for dag_id, run_id in example_runs.run_ids.items():
        api.expect_success(dag_id, run_id, timeout=0)
        instances = api.task_instances(dag_id, run_id)
        assert all(ti["try_number"] == 1 for ti in instances.values()), instances
        for task_id in WAITING_TASKS[dag_id]:
            # "Pausing task as DEFERRED" on the worker, then the triggerer's own log file and its event.
            trigger_files = assert_deferred(api, dag_id, run_id, task_id)
            writers = {int(match.group(1)) for f in trigger_files if (match := TRIGGER_LOG.search(f))}
            assert writers == {example_runs.triggerer_of[(dag_id, task_id)]}, (task_id, trigger_files)

    # Both triggerers held some of the five waits (each may take at most TRIGGERER_CAPACITY of them).
    holders = list(example_runs.triggerer_of.values())
    assert len(holders) == 5, example_runs.triggerer_of
    assert set(holders) == set(triggerers.values()), (example_runs.triggerer_of, triggerers)

    # One submit per job, results as the sandbox made them.
    assert [submit.count for submit in example_runs.submits["zendesk"]] == [100, 100, 50]
    assert len(example_runs.submits["wistia"]) == 4
    assert len(example_runs.submits["tradedesk"]) == 1
    results = api.xcom("zendesk_bulk_update", example_runs.run_ids["zendesk_bulk_update"], "update_tickets")
    assert [row["id"] for row in results] == list(range(1001, 1251))
    assert [row["id"] for row in results if not row["success"]] == [FAILING_TICKET]
    jobs = api.xcom("zendesk_wait_for_job", example_runs.run_ids["zendesk_wait_for_job"], "wait_for_jobs")
    assert [job["state"] for job in jobs] == ["succeeded", "partial", "succeeded"]
    tagged = api.xcom("wistia_tag_and_trim", example_runs.run_ids["wistia_tag_and_trim"], "tag_media")
    assert [len(row["hashed_ids"]) for row in tagged] == [100, 100, 50]
    stored = api.xcom(
        "tradedesk_graphql_report", example_runs.run_ids["tradedesk_graphql_report"], "run_report"
    )
    assert stored["path"].startswith(f"file://{example_runs.reports}")
