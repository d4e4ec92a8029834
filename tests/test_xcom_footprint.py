"""A task's XCom stays bounded whatever its input (issue 16, item 7): results of more than
``[jobstatus] max_xcom_items`` items, or of a task given ``results_path``, go to object storage with a
manifest in XCom; the choice is made from the input's size and the arguments, before the first submit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from airflow_harness import DagRunResult, run_dag_module
from conftest import zendesk_connection
from test_submit_ledger import MemoryStore, MemoryTi

from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.operators.row_store import load_rows
from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator
from airflow_jobstatus.sandbox import SandboxServer


def run_footprint(
    sandbox: SandboxServer,
    tickets: Any,
    base: Path,
    *,
    mapped: bool = False,
    results_path: str | None = None,
    **env: str,
) -> DagRunResult:
    """Run ``footprint_dag`` of tests/dags/xcom_footprint.py (a user's DAG: one bulk update of ``tickets``,
    optionally mapped over batches); ``env`` adds to the connection and the result base path."""
    sandbox.state.zendesk.job_seconds = 0.2
    return run_dag_module(
        "xcom_footprint",
        "xcom_footprint",
        args={"tickets": tickets, "mapped": mapped, "results_path": results_path},
        env={
            "AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url),
            "AIRFLOW__JOBSTATUS__RESULT_BASE_PATH": f"file://{base}",
            **env,
        },
    )


def xcom_bytes(result: DagRunResult) -> dict[str, int]:
    return {key: len(json.dumps(value)) for (_, _, key), value in result.xcoms.items()}


def read_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    path = Path(manifest["path"].removeprefix("file://"))
    data = path.read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (manifest["size"], manifest["sha256"])
    return [json.loads(line) for line in data.splitlines()]


def test_a_large_input_puts_its_results_in_object_storage(sandbox: SandboxServer, tmp_path: Path) -> None:
    tickets = list(range(10_001, 11_235))  # 1,234 tickets: 13 jobs, two waves of at most 10
    result = run_footprint(sandbox, tickets, tmp_path)
    assert result.state == "success", result.output[-3000:]
    manifest = result.xcom("solve")
    assert manifest["format"] == "jsonl"
    assert (manifest["rows"], manifest["succeeded"], manifest["failed"], manifest["job_count"]) == (
        1234,
        1234,
        0,
        13,
    )
    rows = read_rows(manifest)
    assert [row["id"] for row in rows] == tickets and all(row["success"] for row in rows)
    assert list(load_rows(manifest)) == rows  # what a downstream task calls, whichever the form
    assert "/xcom_footprint/" in manifest["path"] and manifest["path"].endswith("/solve/results.jsonl")
    job_ids = json.loads(Path(manifest["job_ids_path"].removeprefix("file://")).read_text())
    assert job_ids == [submit.job_id for submit in sandbox.state.zendesk.submits]
    sizes = xcom_bytes(result)
    assert not any(key.startswith("jobs_wave_") for key in sizes), sizes
    assert sum(sizes.values()) < 4_000, sizes  # was ~390 KB: every row twice
    assert "1234 items are more than [jobstatus] max_xcom_items (1000)" in result.logs["solve"]


def test_a_small_input_keeps_its_rows_in_xcom(sandbox: SandboxServer, tmp_path: Path) -> None:
    result = run_footprint(sandbox, [1, 2, 3], tmp_path)
    assert result.state == "success", result.output[-3000:]
    assert [row["id"] for row in result.xcom("solve")] == [1, 2, 3]
    assert list(load_rows(result.xcom("solve"))) == result.xcom("solve")
    assert not list(tmp_path.iterdir())
    with pytest.raises(ConfigurationError, match="not an operator's rows nor a manifest"):
        list(load_rows({"path": "/x"}))


def test_results_path_always_gives_a_manifest(sandbox: SandboxServer, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    result = run_footprint(sandbox, [1, 2, 3], tmp_path / "base", results_path=str(folder))
    assert result.state == "success", result.output[-3000:]
    manifest = result.xcom("solve")
    assert manifest["path"] == f"file://{folder}/results.jsonl"
    assert [row["id"] for row in read_rows(manifest)] == [1, 2, 3]


def test_the_deployment_sets_the_bound_and_mapped_tasks_keep_their_own_folders(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    result = run_footprint(
        sandbox, [[1, 2, 3], [4, 5]], tmp_path, mapped=True, AIRFLOW__JOBSTATUS__MAX_XCOM_ITEMS="2"
    )
    assert result.state == "success", result.output[-3000:]
    first, second = result.xcom("solve")
    assert first["path"].endswith("/solve/map_0/results.jsonl") and [r["id"] for r in read_rows(first)] == [
        1,
        2,
        3,
    ]
    assert isinstance(second, list) and [row["id"] for row in second] == [4, 5]  # 2 items: within the bound


def test_failed_items_are_in_the_manifest_and_the_file(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.state.zendesk.fail_ids = {3}
    result = run_footprint(sandbox, [1, 2, 3], tmp_path, results_path=str(tmp_path / "out"))
    assert result.task_states == {"solve": "failed"}
    manifest = result.xcom("solve")
    assert (manifest["succeeded"], manifest["failed"]) == (2, 1)
    assert [row["success"] for row in read_rows(manifest)] == [True, True, False]


def test_a_results_path_that_cannot_be_used_fails_before_any_request(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    task = ZendeskBulkOperator(
        task_id="solve",
        resource="tickets",
        action="update_many",
        items=[1],
        change={"status": "solved"},
        results_path="relative/folder",
    )
    with pytest.raises(ConfigurationError, match=r"results_path 'relative/folder' must be a URL such as"):
        task.execute({"ti": MemoryTi(1), "task_state_store": MemoryStore()})
    assert sandbox.state.count(path_prefix="/api/") == 0


@pytest.mark.parametrize("setting", ["nan", "-1", "1e9999", "lots"])
def test_a_bad_max_xcom_items_is_named_before_any_request(
    sandbox: SandboxServer, zendesk_conn: str, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv("AIRFLOW__JOBSTATUS__MAX_XCOM_ITEMS", setting)
    task = ZendeskBulkOperator(
        task_id="solve", resource="tickets", action="update_many", items=[1], change={"status": "solved"}
    )
    with pytest.raises(ConfigurationError, match=r"\[jobstatus\] max_xcom_items must be"):
        task.execute({"ti": MemoryTi(1), "task_state_store": MemoryStore()})
    assert sandbox.state.count(path_prefix="/api/") == 0
