"""The canary token of every test connection appears nowhere Airflow or the sandbox kept it.

It runs its own DAG (tests/dags/canary_scan.py: each vendor, deferred, a result download, a rejected
token) and scans what it left: every table of the metadata DB (XCom, rendered template fields, task
instances, the task state store, serialized triggers, decrypted), every file under AIRFLOW_HOME, and the
sandbox's request log. What every other test leaves is scanned too, wherever it runs: its sandbox requests
after each test and its worker's DB and AIRFLOW_HOME at the end of the session (tests/conftest.py,
tests/canary.py).
"""

from __future__ import annotations

from pathlib import Path

from airflow_harness import run_dag_module
from canary import database_dump, leaks_in_database, leaks_in_files
from conftest import CANARY_TOKEN, tradedesk_connection, wistia_connection, zendesk_connection

from airflow_jobstatus.sandbox import SandboxServer


def test_the_canary_token_is_nowhere(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.tradedesk.config.raw_result_limit = 1000
    args = {
        "zendesk_job": sandbox.state.zendesk.create_job(total=2, duration=1.5),
        "wistia_job": str(sandbox.state.wistia.create_job(duration=1.5)),
        "output_path": str(tmp_path / "result.json"),
    }
    env = {
        "AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url),
        "AIRFLOW_CONN_WISTIA_DEFAULT": wistia_connection(sandbox.url),
        "AIRFLOW_CONN_TRADEDESK_DEFAULT": tradedesk_connection(sandbox.url),
        "AIRFLOW_CONN_ZENDESK_WRONG": zendesk_connection(sandbox.url, password=f"x{CANARY_TOKEN}"),
    }
    result = run_dag_module("canary_scan", "canary_scan", args=args, env=env)
    assert result.task_states == {
        "zendesk": "success",
        "wistia": "success",
        "tradedesk": "success",
        "rejected": "failed",
    }
    assert "rejected by Zendesk" in result.logs["rejected"]
    assert CANARY_TOKEN not in result.output

    dump = database_dump()
    assert "canary_scan" in dump and 'INSERT INTO "xcom"' in dump
    assert leaks_in_database() == []
    assert leaks_in_files() == []

    with sandbox.state.lock:
        assert CANARY_TOKEN not in repr(sandbox.state.requests)
    assert sandbox.state.tradedesk.downloads and sandbox.state.tradedesk.auth_leaks == []
