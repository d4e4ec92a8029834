"""Trade Desk operators and sensor in real DAG runs (``dag.test()``, triggers inline) against the sandbox.

The DAGs are modules under tests/dags/: ``operator_dag`` and ``sensor_dag`` of ``tradedesk_ops.py``,
given their arguments by ``run_op`` and the sensor test, and ``tradedesk_callback.py``.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from airflow_harness import DagRunResult, run_dag_module
from conftest import CANARY_TOKEN, tradedesk_connection

from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.sandbox.tradedesk_jobs import result_sha256, result_size, result_text

MODES = [pytest.param(True, id="deferrable"), pytest.param(False, id="worker")]
GRAPHQL = "TradeDeskGraphQLBulkQueryOperator"
STANDARD = "TradeDeskStandardJobOperator"
QUERY = "query { advertisers { nodes { id name } } }"


def run_op(
    sandbox: SandboxServer, operator: str, *, deferrable: bool = True, retries: int = 0, **kwargs: Any
) -> DagRunResult:
    args = {"operator": operator, "retries": retries, "deferrable": deferrable, **kwargs}
    env = {"AIRFLOW_CONN_TRADEDESK_DEFAULT": tradedesk_connection(sandbox.url)}
    result = run_dag_module("tradedesk_ops", "tradedesk_ops", args=args, env=env)
    assert CANARY_TOKEN not in result.output
    assert CANARY_TOKEN not in json.dumps(result.xcom("op"))
    assert sandbox.state.tradedesk.auth_leaks == []
    return result


@pytest.fixture(scope="module", autouse=True)
def warm_airflow(sandbox_server: SandboxServer) -> None:
    """The first dag.test() of a process pays several seconds of set-up: pay it before timing jobs."""
    sandbox_server.reset()
    warm = run_op(sandbox_server, GRAPHQL, query=QUERY, deferrable=False)
    assert warm.task_states == {"op": "success"}, warm.output[-3000:]


@pytest.mark.parametrize("deferrable", MODES)
def test_graphql_query_small_result_comes_back_parsed(sandbox: SandboxServer, deferrable: bool) -> None:
    result = run_op(sandbox, GRAPHQL, query=QUERY, deferrable=deferrable)
    assert result.task_states == {"op": "success"}
    (submit,) = sandbox.state.tradedesk.submits
    assert submit.body == {"query": QUERY}
    assert result.xcom("op") == json.loads(result_text(2000))
    assert result.xcom("op", key="job_id") == submit.job_id
    assert result.xcom("op", key="job_ids") == [submit.job_id]
    log = result.logs["op"]
    assert ("Pausing task as DEFERRED" in log) is deferrable
    assert f"job {submit.job_id}: 100% [Success]" in log  # the sandbox reports 100 % once it succeeded
    assert "1 job ended: 1 succeeded" in log


@contextmanager
def peak_rss_growth() -> Iterator[list[int]]:
    """Sample this process's resident memory every 5 ms; yields [baseline, peak] in bytes."""
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * page

    seen = [rss(), rss()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen[1] = max(seen[1], rss())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield seen
    finally:
        stop.set()
        sampler.join()


def test_a_200_mb_result_streams_to_a_file_with_flat_memory(sandbox: SandboxServer, tmp_path: Path) -> None:
    size = 200 * 1024 * 1024
    sandbox.state.tradedesk.config.raw_result_limit = 1_000_000
    target = tmp_path / "reports" / "big.json"
    with peak_rss_growth() as memory:
        result = run_op(sandbox, GRAPHQL, query=f"{QUERY} # sandbox:bytes={size}", output_path=str(target))
    assert result.task_states == {"op": "success"}
    stored = result.xcom("op")
    assert stored == {"path": f"file://{target}", "size": result_size(size), "sha256": result_sha256(size)}
    assert target.stat().st_size == result_size(size) >= size
    growth = memory[1] - memory[0]
    print(f"peak RSS growth while streaming {result_size(size)} bytes: {growth / 2**20:.1f} MiB")
    assert growth < 64 * 2**20, f"peak RSS grew by {growth / 2**20:.1f} MiB"
    assert sandbox.state.tradedesk.downloads == [stored_job_id(sandbox)]


def stored_job_id(sandbox: SandboxServer) -> str:
    (submit,) = sandbox.state.tradedesk.submits
    return submit.job_id


def run_to_the_default_location(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]
) -> DagRunResult:
    """``inline_limit=0`` without ``output_path``: the result always goes to the default location."""
    sandbox.state.tradedesk.config.raw_result_limit = 1000
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return run_op(sandbox, GRAPHQL, query=f"{QUERY} # sandbox:bytes=50000", inline_limit=0)


def test_inline_limit_0_writes_the_result_under_the_configured_base(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "results"
    settings = {"AIRFLOW__JOBSTATUS__RESULT_BASE_PATH": f"file://{base}"}
    result = run_to_the_default_location(sandbox, monkeypatch, settings)
    assert result.task_states == {"op": "success"}
    job_id = stored_job_id(sandbox)
    run_folder = re.sub(r"[^A-Za-z0-9._=+-]", "_", result.run_id)
    target = base / "tradedesk_ops" / run_folder / "op" / f"{job_id}.json"
    size = result_size(50000)
    assert result.xcom("op") == {"path": f"file://{target}", "size": size, "sha256": result_sha256(50000)}
    assert target.stat().st_size == size
    assert (
        f"results of this task go under file://{base} (from [jobstatus] result_base_path)"
        in result.logs["op"]
    )


def test_with_no_setting_inline_limit_0_writes_to_the_workers_disk_with_a_warning(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    unset = {"AIRFLOW__JOBSTATUS__RESULT_BASE_PATH": "", "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH": ""}
    result = run_to_the_default_location(sandbox, monkeypatch, unset)
    assert result.task_states == {"op": "success"}
    stored = result.xcom("op")
    job_id = stored_job_id(sandbox)
    assert stored["path"].startswith("file://") and stored["path"].endswith(f"/op/{job_id}.json")
    assert "/jobstatus_results/tradedesk_ops/" in stored["path"]
    assert Path(stored["path"].removeprefix("file://")).stat().st_size == stored["size"] == result_size(50000)
    warning = "on this worker's disk: set it (environment AIRFLOW__JOBSTATUS__RESULT_BASE_PATH)"
    assert warning in result.logs["op"]


@pytest.mark.parametrize(("on_partial", "state"), [("fail", "failed"), ("warn", "success")])
def test_partial_success_follows_on_partial(sandbox: SandboxServer, on_partial: str, state: str) -> None:
    payload = {"advertiserId": "adv1", "nameFilter": "sandbox:partial"}
    result = run_op(sandbox, STANDARD, kind="first_party_data", payload=payload, on_partial=on_partial)
    assert result.task_states == {"op": state}
    job_id = stored_job_id(sandbox)
    assert f"job {job_id} ended PartialSuccess: " in result.logs["op"]
    if state == "success":
        assert result.xcom("op") == json.loads(result_text(2000))
    else:
        assert result.xcom("op")["status"] == "PartialSuccess" and result.xcom("op")["errors"]


@pytest.mark.parametrize("deferrable", MODES)
def test_a_failed_job_fails_with_its_errors(sandbox: SandboxServer, deferrable: bool) -> None:
    result = run_op(sandbox, GRAPHQL, query=f"{QUERY} # sandbox:failure", deferrable=deferrable)
    assert result.task_states == {"op": "failed"}
    job_id = stored_job_id(sandbox)
    summary = result.xcom("op")
    assert summary["job_id"] == job_id and summary["status"] == "Failure" and summary["errors"]
    assert f"job {job_id} ended Failure: {summary['errors'][0]}" in result.logs["op"]


def test_results_expired_says_the_results_are_gone_and_why(sandbox: SandboxServer) -> None:
    sandbox.state.tradedesk.config.results_expire_seconds = 0
    result = run_op(sandbox, STANDARD, kind="third_party_data", payload={"partnerId": "p1"}, retries=1)
    assert result.task_states == {"op": "failed"}
    log = result.logs["op"]
    first, second = (submit.job_id for submit in sandbox.state.tradedesk.submits)
    assert f"the results of job {first} are gone (the job reports ResultsExpired)" in log
    assert "keeps a job's results for 24 hours after it completes" in log
    assert "A retry of this task, or clearing it, submits the request again as a new job" in log
    # As the message says: the retry sent the request again, and its new job expired in turn.
    assert f"the results of job {second} are gone" in log


def test_callback_header_values_are_masked_in_task_logs(sandbox: SandboxServer) -> None:
    env = {"AIRFLOW_CONN_TRADEDESK_DEFAULT": tradedesk_connection(sandbox.url)}
    result = run_dag_module("tradedesk_callback", "tradedesk_callback", env=env, mask_secrets=True)
    assert result.task_states == {"op": "success", "echo": "success"}
    (submit,) = sandbox.state.tradedesk.submits
    headers = submit.body["callbackInput"]["callbackHeaders"]
    assert headers == [{"key": "Authorization", "value": "Bearer cb-secret-4417"}]  # sent to the vendor
    assert "the callback header was ***" in result.logs["echo"]
    assert "cb-secret-4417" not in result.output


def test_inline_limit_must_be_a_whole_number_of_bytes() -> None:
    from airflow_jobstatus.errors import ConfigurationError
    from airflow_jobstatus.operators.tradedesk import TradeDeskGraphQLBulkQueryOperator

    for bad in (-1, "1MB", 1.5, True):
        with pytest.raises(ConfigurationError, match="inline_limit must be a whole number of bytes"):
            TradeDeskGraphQLBulkQueryOperator(task_id=f"q{bad}", query=QUERY, inline_limit=bad)
    assert TradeDeskGraphQLBulkQueryOperator(task_id="q", query=QUERY, inline_limit=0).inline_limit == 0


def test_graphql_errors_on_submit_fail_before_waiting(sandbox: SandboxServer) -> None:
    result = run_op(sandbox, GRAPHQL, query="query { sandbox:gql-error }", retries=1)
    assert result.task_states == {"op": "failed"}
    assert result.try_numbers["op"] == 1  # the same query would be refused again: no retry
    log = result.logs["op"]
    assert log.count("refused the GraphQL bulk query: query: Syntax Error") == 1
    assert "(not retried: fix the input)" in log
    assert "Pausing task as DEFERRED" not in log
    assert sandbox.state.tradedesk.submits == []


def test_a_validate_only_update_returns_the_answer_without_waiting(sandbox: SandboxServer) -> None:
    payload = {"input": [{"id": "c1", "name": "Q4"}], "validateInputOnly": True}
    result = run_op(sandbox, STANDARD, kind="campaign_update", payload=payload)
    assert result.task_states == {"op": "success"}
    assert result.xcom("op")["data"]["campaigns"] == [{"id": "c1"}]
    assert "Pausing task as DEFERRED" not in result.logs["op"]


@pytest.mark.parametrize("deferrable", MODES)
def test_a_retry_after_a_post_submit_failure_reattaches(sandbox: SandboxServer, deferrable: bool) -> None:
    sandbox.state.add_fault("/tradedesk/graphqlbulkjob/", method="GET", status=404, count=1)
    result = run_op(sandbox, GRAPHQL, query=QUERY, deferrable=deferrable, retries=1)
    assert result.task_states == {"op": "success"}
    assert result.try_numbers["op"] == 2
    assert len(sandbox.state.tradedesk.submits) == 1  # ONE submit over both tries
    assert "reattaching to 1 job submitted by earlier tries" in result.ti_logs[("op", -1, 2)]
    assert result.xcom("op") == json.loads(result_text(2000))


@pytest.mark.parametrize(
    ("kind", "outcome", "state"), [("graphql", "Success", "success"), ("legacy", "Failure", "failed")]
)
def test_sensor_waits_on_each_kind(sandbox: SandboxServer, kind: str, outcome: str, state: str) -> None:
    job_id = sandbox.state.tradedesk.create_job(kind=kind, outcome=outcome, duration=1.5)
    env = {"AIRFLOW_CONN_TRADEDESK_DEFAULT": tradedesk_connection(sandbox.url)}
    result = run_dag_module(
        "tradedesk_ops", "tradedesk_sensor", args={"job_id": job_id, "job_kind": kind}, env=env
    )
    assert result.task_states == {"wait": state}
    assert "Pausing task as DEFERRED" in result.logs["wait"]
    assert CANARY_TOKEN not in result.output
    if state == "success":
        job = result.xcom("wait")
        assert (job["id"], job["state"], job["extra"]) == (job_id, "succeeded", {"job_kind": kind})
        assert "raw_result" not in job and job["result_url"]  # the inline result never goes to XCom
    else:
        assert f"job {job_id} ended Failure" in result.logs["wait"]


def test_a_download_cut_halfway_is_retried_and_never_left_truncated(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    size = 5_000_000
    config = sandbox.state.tradedesk.config
    config.raw_result_limit, config.cut_downloads = 1000, 1
    target = tmp_path / "cut.json"
    result = run_op(sandbox, GRAPHQL, query=f"{QUERY} # sandbox:bytes={size}", output_path=str(target))
    assert result.task_states == {"op": "success"}
    job_id = stored_job_id(sandbox)
    assert sandbox.state.tradedesk.downloads == [job_id, job_id]  # cut once, then whole
    assert result.xcom("op")["sha256"] == result_sha256(size)
    assert target.stat().st_size == result_size(size)
    assert "downloading again" in result.logs["op"]


def test_an_output_path_that_cannot_be_written_fails_before_any_request(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "report.json"
    not_a_folder.write_text("{}")  # a file where the output folder should be: nothing can go under it
    target = not_a_folder / "r.json"
    result = run_op(sandbox, GRAPHQL, query=QUERY, output_path=str(target))
    assert result.task_states == {"op": "failed"}
    assert f"output_path '{target}' cannot be used: " in result.logs["op"]
    assert sandbox.state.requests == []
