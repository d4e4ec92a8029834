"""The connections' token (the canary, tests/conftest.py) is nowhere the cluster keeps things: no log file
(task logs, trigger logs, every component's and server's output), no XCom row, no trigger row (kwargs,
decrypted, as the sampler read them all along: rows are deleted once done), no task-state-store row, and
nowhere else in the metadata DB (a ``pg_dump`` of every table).

Named to run last in tests/cluster: it scans what every test left, and asks for ``example_runs`` so that
something of every vendor is there wherever it runs.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from conftest import CANARY_TOKEN

from .conftest import ClusterDeployment, ExampleRuns, launcher


@pytest.mark.needs()
def test_the_token_is_in_no_log_and_no_row(deployment: ClusterDeployment, example_runs: ExampleRuns) -> None:
    cluster = deployment.cluster
    token = CANARY_TOKEN.encode()

    # Every file under the Airflow home's logs (task and trigger logs, dag-processor, components) and the
    # servers' output.
    files = sorted(path for path in (cluster.airflow.home / "logs").rglob("*") if path.is_file())
    files += [path for path in cluster.logs.values() if path.exists() and path not in files]
    for path in files:
        assert token not in path.read_bytes(), f"the token is in {path}"
    task_logs = [path for path in files if path.name.startswith("attempt=")]
    for dag_id in example_runs.run_ids:
        assert any(f"dag_id={dag_id}" in str(path) for path in task_logs), f"no task log of {dag_id} scanned"
    assert any(".log.trigger." in path.name for path in task_logs), "no trigger log scanned"

    # XCom rows: the values every task returned.
    xcoms = cluster.query("SELECT dag_id, run_id, task_id, key, value::text FROM xcom")
    assert len(xcoms) >= 10, xcoms
    assert not [row[:4] for row in xcoms if CANARY_TOKEN in (row[4] or "")]

    # Trigger rows: every one the sampler saw, kwargs decrypted (they name the connection, not its token).
    sightings = list(deployment.triggers.seen.values())
    assert len(sightings) >= 5 and deployment.triggers.reads > 40, (deployment.triggers.reads, sightings)
    kwargs = [text for sighting in sightings for text in sighting.kwargs]
    assert all(text.startswith("{") and '"conn_id"' in text for text in kwargs), "kwargs not decrypted?"
    assert not [text for text in kwargs if CANARY_TOKEN in text]
    now = cluster.query(f"SELECT id, kwargs FROM {launcher.TRIGGER_TABLE}")
    assert not [ident for ident, encrypted in now if CANARY_TOKEN in cluster.decrypt(encrypted)]

    # Task-state-store rows: the submit ledgers of the bulk operators.
    stored = cluster.query(
        f"SELECT dag_id, run_id, task_id, key, value FROM {launcher.TASK_STATE_STORE_TABLE}"
    )
    assert len(stored) >= 3, stored
    assert not [row[:4] for row in stored if CANARY_TOKEN in (row[4] or "")]

    # The whole DB, every table's data as SQL.
    bin_dir = launcher.postgres_bin_dir()
    dump = subprocess.run(
        [str(bin_dir / "pg_dump"), "--data-only", "--no-owner", cluster.psql_url],
        capture_output=True,
        check=True,
        timeout=120,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    ).stdout
    assert b"COPY public.xcom" in dump and b"COPY public.task_state_store" in dump
    assert token not in dump, "the token is in the metadata DB"
