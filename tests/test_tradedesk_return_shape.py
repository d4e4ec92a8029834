"""The Trade Desk operators' return value has a shape set by their arguments, never by the result's size.

With ``output_path``: always ``{"path", "size", "sha256"}``, however small the result. Without: always
the parsed JSON, and a result above ``inline_limit`` fails the task once (not retried), naming
``output_path``, after reading no more of the download than the limit. Real DAG runs (``dag.test()``)
against the sandbox, in the triggerer and in the worker.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from airflow_harness import DagRunResult
from test_tradedesk_dag import GRAPHQL, MODES, QUERY, STANDARD
from test_tradedesk_dag import run_op as run_tradedesk_op

from airflow_jobstatus.core.results import DEFAULT_INLINE_LIMIT
from airflow_jobstatus.http.downloads import CHUNK_SIZE
from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.sandbox.tradedesk_jobs import RESULTS_PATH, result_sha256, result_size, result_text

MANIFEST_KEYS = {"path", "size", "sha256"}
SMALL = 2000  # the sandbox's default result: far below inline_limit
LARGE = 2 * DEFAULT_INLINE_LIMIT  # above the default inline_limit


def run_op(
    sandbox: SandboxServer,
    operator: str = GRAPHQL,
    *,
    deferrable: bool = True,
    retries: int = 0,
    **kwargs: Any,
) -> DagRunResult:
    """The Trade Desk operator DAG of tests/test_tradedesk_dag.py; a GraphQL task gets QUERY by default."""
    if operator == GRAPHQL:
        kwargs.setdefault("query", QUERY)
    return run_tradedesk_op(sandbox, operator, deferrable=deferrable, retries=retries, **kwargs)


def query_of(nbytes: int) -> str:
    return f"{QUERY} # sandbox:bytes={nbytes}"


def job_id_of(sandbox: SandboxServer) -> str:
    (submit,) = sandbox.state.tradedesk.submits
    return submit.job_id


def assert_manifest(stored: Any, target: Path, nbytes: int) -> None:
    """``stored`` is the manifest of ``target``, and the file holds the result document, byte for byte."""
    assert set(stored) == MANIFEST_KEYS
    content = target.read_bytes()
    assert stored["path"] == f"file://{target}"
    assert stored["size"] == len(content) == result_size(nbytes)
    assert stored["sha256"] == hashlib.sha256(content).hexdigest() == result_sha256(nbytes)


# --- a small result ---------------------------------------------------------------------------------
@pytest.mark.parametrize("deferrable", MODES)
def test_a_small_result_without_output_path_comes_back_parsed(
    sandbox: SandboxServer, deferrable: bool
) -> None:
    result = run_op(sandbox, deferrable=deferrable)
    assert result.task_states == {"op": "success"}
    assert result.xcom("op") == json.loads(result_text(SMALL))


@pytest.mark.parametrize(
    ("deferrable", "raw_result_limit"),
    [
        pytest.param(True, 5_000_000, id="deferrable-inline-rawResult"),
        pytest.param(False, 0, id="worker-download-link"),
    ],
)
def test_a_small_result_with_output_path_is_written_and_its_manifest_returned(
    sandbox: SandboxServer, tmp_path: Path, deferrable: bool, raw_result_limit: int
) -> None:
    sandbox.state.tradedesk.config.raw_result_limit = raw_result_limit
    target = tmp_path / "small" / "result.json"
    result = run_op(sandbox, deferrable=deferrable, output_path=str(target))
    assert result.task_states == {"op": "success"}
    assert_manifest(result.xcom("op"), target, SMALL)
    downloads = sandbox.state.tradedesk.downloads
    assert downloads == ([] if raw_result_limit else [job_id_of(sandbox)])


def test_inline_limit_0_writes_even_a_small_result_to_the_default_location(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "base"
    monkeypatch.setenv("AIRFLOW__JOBSTATUS__RESULT_BASE_PATH", f"file://{base}")
    result = run_op(sandbox, inline_limit=0, deferrable=False)
    assert result.task_states == {"op": "success"}
    run_folder = re.sub(r"[^A-Za-z0-9._=+-]", "_", result.run_id)
    target = base / "tradedesk_ops" / run_folder / "op" / f"{job_id_of(sandbox)}.json"
    assert_manifest(result.xcom("op"), target, SMALL)


# --- a large result -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("deferrable", "how"),
    [
        pytest.param(True, "inline", id="deferrable-inline-rawResult"),
        pytest.param(False, "content-length", id="worker-download-with-length"),
        pytest.param(True, "gzip", id="deferrable-download-without-length"),
    ],
)
def test_a_large_result_without_output_path_fails_once_naming_output_path(
    sandbox: SandboxServer, deferrable: bool, how: str
) -> None:
    config = sandbox.state.tradedesk.config
    if how != "inline":
        config.raw_result_limit = 1000  # only a link: the result is downloaded
    config.gzip_downloads = how == "gzip"  # a compressed body: its document size is unknown until read
    result = run_op(sandbox, deferrable=deferrable, retries=2, query=query_of(LARGE))
    assert result.task_states == {"op": "failed"}
    assert result.try_numbers["op"] == 1  # the same job gives the same size: not retried
    job_id = job_id_of(sandbox)
    log = result.logs["op"]
    limit = f"above inline_limit ({DEFAULT_INLINE_LIMIT} bytes)"
    assert f"job {job_id} succeeded, but its result is " in log and limit in log
    assert "Set output_path on the task (e.g. output_path='s3://bucket/results/{{ run_id }}.json')" in log
    assert "Not retried: the same job gives the same result" in log
    assert "clearing it submits the request again as a new job" in log
    assert result.xcom("op") == {"job_id": job_id, "status": "Success", "errors": []}
    assert len(sandbox.state.tradedesk.submits) == 1
    size = result_size(LARGE)
    if how == "inline":
        assert f"its result is {size} bytes (sent inline in the job's status)" in log
        assert sandbox.state.tradedesk.downloads == []
    elif how == "content-length":
        assert f"its result is {size} bytes (the download's Content-Length; none of it was read)" in log
        assert sandbox.state.tradedesk.downloads == [job_id]
    else:
        read = re.search(r"its result is more than \d+ bytes \(reading stopped after (\d+) bytes\)", log)
        assert read is not None, log
        # Reading stopped just past the limit: at most one chunk more, far from the whole document.
        assert DEFAULT_INLINE_LIMIT < int(read.group(1)) <= DEFAULT_INLINE_LIMIT + CHUNK_SIZE < size
        assert sandbox.state.tradedesk.downloads == [job_id]


def test_the_failure_says_a_clear_reattaches_with_reattach_on_clear(sandbox: SandboxServer) -> None:
    sandbox.state.tradedesk.config.raw_result_limit = 1000
    result = run_op(sandbox, query=query_of(50_000), inline_limit=10_000, reattach_on_clear=True)
    assert result.task_states == {"op": "failed"}
    job_id = job_id_of(sandbox)
    log = result.logs["op"]
    assert f"job {job_id} succeeded, but its result is {result_size(50_000)} bytes" in log
    assert "above inline_limit (10000 bytes)" in log
    assert f"clearing it reattaches to job {job_id} and downloads its result again" in log


@pytest.mark.parametrize("deferrable", MODES)
def test_a_large_result_with_output_path_is_written_and_its_manifest_returned(
    sandbox: SandboxServer, tmp_path: Path, deferrable: bool
) -> None:
    sandbox.state.tradedesk.config.raw_result_limit = 1000
    target = tmp_path / "large.json"
    result = run_op(sandbox, deferrable=deferrable, query=query_of(LARGE), output_path=str(target))
    assert result.task_states == {"op": "success"}
    assert_manifest(result.xcom("op"), target, LARGE)
    assert sandbox.state.tradedesk.downloads == [job_id_of(sandbox)]


# --- a result that is not text, an answer without a job ---------------------------------------------
@pytest.mark.parametrize("with_output_path", [False, True])
def test_a_result_that_is_not_utf8_follows_the_same_rule(
    sandbox: SandboxServer, tmp_path: Path, with_output_path: bool
) -> None:
    sandbox.state.tradedesk.config.raw_result_limit = 0
    body = b'{"name": "caf\xe9"}'  # latin-1: small, but not text XCom can hold
    sandbox.state.add_fault(RESULTS_PATH, status=200, body=body, count=None)
    target = tmp_path / "r.bin"
    kwargs = {"output_path": str(target)} if with_output_path else {}
    result = run_op(sandbox, deferrable=False, retries=2, **kwargs)
    if with_output_path:
        assert result.task_states == {"op": "success"}
        stored = result.xcom("op")
        assert set(stored) == MANIFEST_KEYS and target.read_bytes() == body
        assert stored["sha256"] == hashlib.sha256(body).hexdigest()
        return
    assert result.task_states == {"op": "failed"}
    assert result.try_numbers["op"] == 1
    log = result.logs["op"]
    expected = (
        f"job {job_id_of(sandbox)} succeeded, but its result is not UTF-8 text (byte 0xe9 at offset 13)"
    )
    assert expected in log and "Set output_path on the task" in log


def test_a_validate_only_answer_with_output_path_is_written_like_a_result(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    payload = {"input": [{"id": "c1", "name": "Q4"}], "validateInputOnly": True}
    target = tmp_path / "validated.json"
    result = run_op(sandbox, STANDARD, kind="campaign_update", payload=payload, output_path=str(target))
    assert result.task_states == {"op": "success"}
    stored = result.xcom("op")
    assert set(stored) == MANIFEST_KEYS and stored["path"] == f"file://{target}"
    content = target.read_bytes()
    assert stored["sha256"] == hashlib.sha256(content).hexdigest() and stored["size"] == len(content)
    assert json.loads(content)["data"]["campaigns"] == [{"id": "c1"}]
    assert sandbox.state.tradedesk.submits == []  # answered in full: no job


def test_a_validate_only_answer_above_inline_limit_fails_naming_output_path(sandbox: SandboxServer) -> None:
    payload = {"input": [{"id": "c1", "name": "Q4"}], "validateInputOnly": True}
    result = run_op(sandbox, STANDARD, kind="campaign_update", payload=payload, inline_limit=5, retries=1)
    assert result.task_states == {"op": "failed"}
    assert result.try_numbers["op"] == 1
    log = result.logs["op"]
    assert "answered the campaign_update request in full (no job), but the answer is " in log
    assert "above inline_limit (5 bytes)" in log and "Set output_path on the task" in log


# --- the hook: the inline read stops just past the limit -------------------------------------------
def test_the_inline_read_stops_just_past_inline_limit(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    from airflow_jobstatus.core.results import ResultTooLarge
    from airflow_jobstatus.hooks.tradedesk import TradeDeskHook

    config = sandbox.state.tradedesk.config
    config.raw_result_limit, config.gzip_downloads = 0, True  # a link, its document size unknown
    nbytes, limit = 5_000_000, 100_000
    hook = TradeDeskHook(tradedesk_conn)
    job = hook.get_job(sandbox.state.tradedesk.create_job(duration=0, result_bytes=nbytes))
    with pytest.raises(ResultTooLarge, match="set output_path") as raised:
        hook.download_result(job, inline_limit=limit)
    error = raised.value
    assert (error.job_id, error.limit, error.size) == (job.id, limit, None)
    assert limit < error.read <= limit + CHUNK_SIZE < result_size(nbytes)
    assert f"reading stopped after {error.read} bytes" in str(error)


def test_results_path_is_refused_naming_output_path() -> None:
    from airflow_jobstatus.errors import ConfigurationError
    from airflow_jobstatus.operators.tradedesk import TradeDeskGraphQLBulkQueryOperator

    with pytest.raises(ConfigurationError, match=r"results_path is for operators with one result row per"):
        TradeDeskGraphQLBulkQueryOperator(task_id="q", query=QUERY, results_path="s3://bucket/rows")
    with pytest.raises(ConfigurationError, match=r"set output_path \(a file"):
        TradeDeskGraphQLBulkQueryOperator(task_id="q", query=QUERY, results_path="/data/rows")
    assert TradeDeskGraphQLBulkQueryOperator(task_id="q", query=QUERY, output_path="/data/r.json").output_path
