"""The engine keeps the vendor's job slots full (issue 17, item 7): a new job goes as soon as one ends,
not when the slowest job of a wave ends. Over the sandbox, in ``dag.test()``, deferrable and not."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow_harness import run_dag
from conftest import zendesk_connection

from airflow_jobstatus.sandbox import SandboxServer

DAG_SOURCE = (Path(__file__).parent / "dags" / "sliding_window.py").read_text()
#: The first job is long, the four after it short: with waves the 3rd-5th jobs would wait for the first.
DURATIONS = [6.0, 0.4, 0.4, 0.4, 0.4]


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "worker"])
def test_jobs_are_sent_as_slots_free_up_not_wave_by_wave(sandbox: SandboxServer, deferrable: bool) -> None:
    zendesk = sandbox.state.zendesk
    zendesk.config.job_seconds_cycle = DURATIONS
    zendesk.config.queued_fraction = 0.0
    zendesk.max_active_jobs = 2  # the account refuses a third job at once: the operator must never try
    env = {
        "AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url),
        "SLIDING_DEFERRABLE": "1" if deferrable else "0",
    }

    result = run_dag(DAG_SOURCE, "sliding_window", env=env)

    assert result.state == "success", result.output[-3000:]
    submits = list(zendesk.submits)
    assert [submit.count for submit in submits] == [100] * 5  # each job submitted once
    jobs = [zendesk.jobs[submit.job_id] for submit in submits]
    assert [job.duration for job in jobs] == DURATIONS
    long_job_ends = jobs[0].created + DURATIONS[0]
    # Jobs 3-5 went while the long first job still ran, each once a short one had ended.
    assert all(job.created < long_job_ends for job in jobs[2:]), [
        job.created - jobs[0].created for job in jobs
    ]
    assert sandbox.state.count("POST", "/api/v2/tickets/update_many", status=429) == 0
    rows = result.xcom("solve")
    assert len(rows) == 500 and all(row["success"] for row in rows)
    assert [row["id"] for row in rows] == list(range(1, 501))
    if deferrable:
        assert "(until one ends, to send more)" in result.logs["solve"]
