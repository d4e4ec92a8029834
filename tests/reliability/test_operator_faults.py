"""The fault matrix for the operators: each vendor's submit-and-wait operator, in the triggerer (deferrable)
and in the worker, with faults injected over real HTTP by the sandbox on its status reads and on its
submit. Each case asserts the task's end state, its message, its return value and the sandbox's request
counts (above all: how many submits reached the vendor, and how many jobs it created). The DAG is
``operator_dag`` of tests/dags/operator_task.py, given the operator's import path and arguments.

The cases that need nothing of a vendor but its operator (a burst of failed reads, a refused submit, a
token revoked or a job gone during the wait) also run the made-up fourth vendor, Acme
(tests/fourth_vendor/).

Faults on status reads are queued up front behind a pass-through fault (``status=None``) that lets the
first reads through, so they strike while the operator waits, at a known read, without timers.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import pytest
from airflow_harness import DagRunResult, run_dag_module
from conftest import CANARY_TOKEN
from vendors import ALL_VENDORS, Vendor, vendor

from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.sandbox.state import RequestRecord
from airflow_jobstatus.sandbox.tradedesk_jobs import PARTIAL_ERROR, result_text

ZENDESK, WISTIA, TRADEDESK, ACME = (vendor(name) for name in ("zendesk", "wistia", "tradedesk", "acme"))
DEFERRED = "Pausing task as DEFERRED"


@dataclass(frozen=True)
class Op:
    """One submit-and-wait operator as these tests drive it: its arguments, where it submits, where it
    reads job statuses."""

    vendor: Vendor
    operator: str
    kwargs: dict[str, Any]
    submit_method: str
    submit_path: str
    status_path: str
    #: What identifies this case in test ids.
    label: str = ""

    def with_args(self, **kwargs: Any) -> Op:
        """The same operator with other arguments."""
        return replace(self, kwargs={**self.kwargs, **kwargs})


ZENDESK_IDS = [101, 102, 103]
WISTIA_MEDIA = ["clip1a", "clip2b"]
QUERY = "query { advertisers { nodes { id name } } }"

ZENDESK_UPDATE = Op(
    ZENDESK,
    "airflow_jobstatus.operators.zendesk.ZendeskBulkOperator",
    {"resource": "tickets", "action": "update_many", "items": ZENDESK_IDS, "change": {"status": "solved"}},
    "PUT",
    "/api/v2/tickets/update_many",
    "/api/v2/job_statuses/",
    "zendesk",
)
WISTIA_TAG = Op(
    WISTIA,
    "airflow_jobstatus.operators.wistia.WistiaBulkTagOperator",
    {"hashed_ids": WISTIA_MEDIA, "tag_names": ["reviewed"]},
    "POST",
    "/wistia/taggings/bulk_create",
    "/wistia/background_job_status/",
    "wistia",
)
TRADEDESK_REPORT = Op(
    TRADEDESK,
    "airflow_jobstatus.operators.tradedesk.TradeDeskStandardJobOperator",
    {"kind": "first_party_data", "payload": {"advertiserId": "adv1"}},
    "POST",
    "/tradedesk/standardjob/firstpartydata",
    "/tradedesk/standardjob/",
    "tradedesk",
)
TRADEDESK_QUERY = Op(
    TRADEDESK,
    "airflow_jobstatus.operators.tradedesk.TradeDeskGraphQLBulkQueryOperator",
    {"query": QUERY},
    "POST",
    "/tradedesk/graphqlbulkqueryjob",
    "/tradedesk/graphqlbulkjob/",
    "tradedesk-graphql",
)
ZENDESK_CREATE = Op(
    ZENDESK,
    ZENDESK_UPDATE.operator,
    {"resource": "tickets", "action": "create_many", "items": [{"subject": f"t{i}"} for i in range(3)]},
    "POST",
    "/api/v2/tickets/create_many",
    ZENDESK_UPDATE.status_path,
    "zendesk-create",
)
TRADEDESK_CREATE = Op(
    TRADEDESK,
    TRADEDESK_REPORT.operator,
    {"kind": "ad_group_create", "payload": {"input": [{"name": "Q4 prospecting"}]}},
    "POST",
    "/tradedesk/standardjob/adgroup/bulk",
    TRADEDESK_REPORT.status_path,
    "tradedesk-create",
)
ACME_UPSERT = Op(
    ACME,
    "fourth_vendor.operators.AcmeBulkOperator",
    {"items": [{"key": "sku-1"}, {"key": "sku-2"}, {"key": "sku-3"}]},
    "POST",
    "/acme/v1/bulk_jobs",
    "/acme/v1/bulk_jobs/",
    "acme",
)
OPS = [ZENDESK_UPDATE, WISTIA_TAG, TRADEDESK_REPORT, ACME_UPSERT]
OP_PARAMS = [pytest.param(op, id=op.label) for op in OPS]
MODES = [pytest.param(True, id="deferrable"), pytest.param(False, id="worker")]


# ----- running a DAG and reading the sandbox -------------------------------------------------------------
def run_op(
    sandbox: SandboxServer, op: Op, *, deferrable: bool, retries: int = 0, timeout: float = 60
) -> DagRunResult:
    """Run ``op`` in a one-task DAG (task ``op``) against the sandbox; check that the canary never shows."""
    args = {
        "dag_id": "operator_faults",
        "operator": op.operator,
        "kwargs": op.kwargs,
        "retries": retries,
        "timeout": timeout,
        "deferrable": deferrable,
    }
    result = run_dag_module("operator_task", "operator_faults", args=args, env=op.vendor.env(sandbox))
    assert CANARY_TOKEN not in result.output
    assert CANARY_TOKEN not in json.dumps(list(result.xcoms.values()), default=str)
    assert sandbox.state.tradedesk.auth_leaks == []
    return result


def submits(sandbox: SandboxServer, op: Op) -> list[RequestRecord]:
    """Every submit request the sandbox saw for ``op`` (refused, lost or accepted), in order."""
    with sandbox.state.lock:
        return [
            r
            for r in sandbox.state.requests
            if r.method == op.submit_method and r.path.startswith(op.submit_path)
        ]


def created_jobs(sandbox: SandboxServer, of: Vendor) -> list[str]:
    """The ids of the jobs the vendor created (accepted submits), in order."""
    with sandbox.state.lock:
        return [str(submit.job_id) for submit in of.store(sandbox).submits]


def slow_jobs(sandbox: SandboxServer, seconds: float) -> None:
    """Every vendor's new jobs take ``seconds``."""
    for each in ALL_VENDORS:
        each.store(sandbox).config.job_seconds = seconds


def status_reads(sandbox: SandboxServer, op: Op) -> list[int]:
    """The HTTP status of every status read, in order (0: the connection was closed by a fault)."""
    with sandbox.state.lock:
        return [
            r.status
            for r in sandbox.state.requests
            if r.method == "GET" and r.path.startswith(op.status_path)
        ]


def let_reads_through(sandbox: SandboxServer, op: Op, count: int) -> None:
    """Let the next ``count`` status reads pass: faults added after this one strike the reads after them."""
    sandbox.state.add_fault(op.status_path, method="GET", status=None, count=count)


def assert_mode(result: DagRunResult, deferrable: bool) -> None:
    assert (DEFERRED in result.logs["op"]) is deferrable


def assert_right_result(result: DagRunResult, sandbox: SandboxServer, op: Op) -> None:
    """The task's return value is what the operator promises for a clean run of ``op``'s request."""
    (job_id,) = created_jobs(sandbox, op.vendor)
    value = result.xcom("op")
    assert result.xcom("op", key="job_ids") == [job_id]
    if op.vendor.name == "zendesk":
        rows = [(r["index"], r["id"], r["success"], r["status"], r["job_id"]) for r in value]
        assert rows == [(i, item, True, "Updated", job_id) for i, item in enumerate(op.kwargs["items"])]
    elif op.vendor.name == "acme":
        rows = [(r["index"], r["id"], r["success"], r["status"], r["job_id"]) for r in value]
        assert rows == [(i, item["key"], True, "ok", job_id) for i, item in enumerate(op.kwargs["items"])]
    elif op.vendor.name == "wistia":
        (row,) = value
        assert (row["job_id"], row["hashed_ids"], row["status"], row["success"], row["partial_errors"]) == (
            job_id,
            op.kwargs["hashed_ids"],
            "finished",
            True,
            [],
        )
    else:
        assert op.vendor.name == "tradedesk"
        assert value == json.loads(result_text(sandbox.state.tradedesk.config.result_bytes))
        assert result.xcom("op", key="job_id") == job_id


# ----- 1. a burst of failed status reads while the operator waits ----------------------------------------
BURST = [
    dict(status=500),
    dict(
        status=502, body="<html><body><h1>502 Bad Gateway</h1>nginx</body></html>", content_type="text/html"
    ),
    dict(status=None, reset=True),
    dict(status=503, body=""),
    dict(status=504),
]


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("op", OP_PARAMS)
def test_a_burst_of_failed_status_reads_is_outlived_with_one_submit(
    sandbox: SandboxServer, op: Op, deferrable: bool
) -> None:
    # 5 failures in a row: a whole read (first try and 3 retries) fails, and the wait goes on. (In the
    # triggerer aiohttp may itself resend a GET whose pooled connection was reset: then the reset and the
    # 503 are one attempt, and the 504 is the read's fourth.)
    let_reads_through(sandbox, op, 1)
    for fault in BURST:
        sandbox.state.add_fault(op.status_path, method="GET", count=1, **fault)
    result = run_op(sandbox, op, deferrable=deferrable)
    assert result.task_states == {"op": "success"}
    assert len(submits(sandbox, op)) == 1 and len(created_jobs(sandbox, op.vendor)) == 1
    assert_right_result(result, sandbox, op)
    reads = status_reads(sandbox, op)
    assert reads[:6] == [200, 500, 502, 0, 503, 504] and reads[-1] == 200
    assert sum(1 for r in sandbox.state.requests if r.fault) == len(BURST)
    assert_mode(result, deferrable)
    log = result.logs["op"]
    assert "HTTP 502: '<html><body><h1>502 Bad Gateway</h1>nginx</body></html>'" in log
    assert "; still waiting" in log  # a read failed after its retries, and the wait went on


# ----- 2. the submit refused for now (429 or the vendor's other refusal status) --------------------------
REFUSALS = [
    pytest.param(ZENDESK_UPDATE, 429, True, id="zendesk-429-deferrable"),
    pytest.param(WISTIA_TAG, 503, False, id="wistia-503-worker"),
    pytest.param(TRADEDESK_REPORT, 429, True, id="tradedesk-429-deferrable"),
    pytest.param(ACME_UPSERT, 429, False, id="acme-429-worker"),
]


@pytest.mark.parametrize(("op", "status", "deferrable"), REFUSALS)
def test_a_refused_submit_is_sent_again_after_retry_after(
    sandbox: SandboxServer, op: Op, status: int, deferrable: bool
) -> None:
    assert status in op.vendor.hook.refusal_statuses
    retry_after = 2
    sandbox.state.add_fault(op.submit_path, method=op.submit_method, status=status, retry_after=retry_after)
    result = run_op(sandbox, op, deferrable=deferrable)
    assert result.task_states == {"op": "success"}
    first, second = submits(sandbox, op)
    assert (first.status, first.fault) == (status, True) and second.status in (200, 202)
    assert second.at - first.at >= retry_after - 0.01  # waited for Retry-After before sending again
    assert len(created_jobs(sandbox, op.vendor)) == 1  # the refusal created nothing: ONE job
    assert_right_result(result, sandbox, op)
    log = result.logs["op"]
    assert f"HTTP {status}" in log and f"sending it again in {retry_after:.1f} s" in log
    assert_mode(result, deferrable)


# ----- 3. the submit's answer lost (5xx or a reset: not a refusal) ---------------------------------------
HTML_502 = dict(status=502, body="<html><body>Bad gateway</body></html>", content_type="text/html")
LOST = [
    # update_many changes nothing more when sent twice: the operator resends on its own
    pytest.param(ZENDESK_UPDATE, dict(status=500), True, True, id="zendesk-update-500-resent"),
    # create_many would create the tickets twice: never resent without resubmit_unconfirmed=True
    pytest.param(ZENDESK_CREATE, dict(status=None, reset=True), False, False, id="zendesk-create-reset-kept"),
    # adding a tag twice is adding it once: resent
    pytest.param(WISTIA_TAG, HTML_502, True, False, id="wistia-tag-502-resent"),
    # a 503 without Retry-After may be a proxy's, after Wistia acted: a lost answer, not a refusal
    pytest.param(WISTIA_TAG, dict(status=503), True, True, id="wistia-tag-bare-503-lost"),
    # a GraphQL query changes nothing: resent
    pytest.param(
        TRADEDESK_QUERY, dict(status=None, reset=True), True, True, id="tradedesk-query-reset-resent"
    ),
    # an ad group create would create twice: never resent
    pytest.param(TRADEDESK_CREATE, dict(status=504), False, False, id="tradedesk-create-504-kept"),
]


@pytest.mark.parametrize(("op", "fault", "resent", "deferrable"), LOST)
def test_a_lost_submit_answer_fails_the_try_and_is_resent_only_when_safe(
    sandbox: SandboxServer, op: Op, fault: dict[str, Any], resent: bool, deferrable: bool
) -> None:
    sandbox.state.add_fault(op.submit_path, method=op.submit_method, count=1, **fault)
    result = run_op(sandbox, op, deferrable=deferrable, retries=1)
    assert result.try_numbers["op"] == 2
    first, second = (result.ti_logs[("op", -1, n)] for n in (1, 2))
    count = len(op.kwargs.get("items") or op.kwargs.get("hashed_ids") or [op.kwargs])
    what = f"items 0-{count - 1}" if count > 1 else "item 0"
    assert f"the answer to the submit of {what} was lost" in first
    assert f"{op.vendor.display} may or may not have accepted it" in first
    seen = submits(sandbox, op)
    assert seen[0].fault and seen[0].status in (0, fault["status"])
    if resent:
        assert result.task_states == {"op": "success"}
        assert f"try 1 sent {what} without an answer: sending them again" in second
        assert len(seen) == 2 and not seen[1].fault  # try 1 sent once, try 2 once
        assert len(created_jobs(sandbox, op.vendor)) == 1  # the lost one never reached the vendor
        assert_right_result(result, sandbox, op)
        assert_mode(result, deferrable)
    else:
        assert result.task_states == {"op": "failed"}
        assert len(seen) == 1  # the retry did not send it again
        assert f"try 1 sent {what} to {op.vendor.display} but its answer was lost" in second
        assert "set resubmit_unconfirmed=True on the task to send them again" in second
        assert created_jobs(sandbox, op.vendor) == []
        assert status_reads(sandbox, op) == []


# ----- 4. the token revoked while the operator waits -----------------------------------------------------
@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("op", OP_PARAMS)
def test_a_token_revoked_during_the_wait_fails_at_once(
    sandbox: SandboxServer, op: Op, deferrable: bool
) -> None:
    slow_jobs(sandbox, 30.0)
    let_reads_through(sandbox, op, 2)
    sandbox.state.add_fault(op.status_path, method="GET", status=401, count=None)
    started = time.monotonic()
    result = run_op(sandbox, op, deferrable=deferrable, timeout=120)
    assert result.task_states == {"op": "failed"}
    assert time.monotonic() - started < 60  # not at the 120 s timeout
    log = result.logs["op"]
    assert f"connection '{op.vendor.name}_default' was rejected by {op.vendor.display} (HTTP 401" in log
    assert "check the token" in log
    assert status_reads(sandbox, op) == [200, 200, 401]  # the 401 is never retried
    assert sandbox.state.requests[-1].status == 401  # and nothing is sent after it: the task ended there
    assert len(submits(sandbox, op)) == 1 and len(created_jobs(sandbox, op.vendor)) == 1
    assert_mode(result, deferrable)


# ----- 5. the job gone while the operator waits ----------------------------------------------------------
GONE = [
    pytest.param(ZENDESK_UPDATE, True, id="zendesk-deferrable"),
    pytest.param(WISTIA_TAG, False, id="wistia-worker"),
    pytest.param(TRADEDESK_REPORT, True, id="tradedesk-deferrable"),
    pytest.param(ACME_UPSERT, False, id="acme-worker"),
]


@pytest.mark.parametrize(("op", "deferrable"), GONE)
def test_a_job_gone_during_the_wait_fails_naming_it(sandbox: SandboxServer, op: Op, deferrable: bool) -> None:
    slow_jobs(sandbox, 30.0)
    let_reads_through(sandbox, op, 1)
    sandbox.state.add_fault(op.status_path, method="GET", status=404, count=None)
    result = run_op(sandbox, op, deferrable=deferrable, timeout=120)
    assert result.task_states == {"op": "failed"}
    (job_id,) = created_jobs(sandbox, op.vendor)
    assert f"{op.vendor.display} does not know job {job_id}" in result.logs["op"]
    assert status_reads(sandbox, op) == [200, 404]
    assert len(submits(sandbox, op)) == 1
    assert_mode(result, deferrable)


# ----- 6. a finished job with failed items ---------------------------------------------------------------
def test_zendesk_partial_job_reports_every_failed_item(sandbox: SandboxServer) -> None:
    items = [{"id": 1000 + i, "status": "solved"} for i in range(5)]
    for index in (1, 3, 4):
        items[index]["subject"] = "[sandbox:fail]"
    op = ZENDESK_UPDATE.with_args(items=items, change=None)
    result = run_op(sandbox, op, deferrable=True)
    assert result.task_states == {"op": "failed"}  # on_partial="fail" (the default)
    (job_id,) = created_jobs(sandbox, ZENDESK)
    log = result.logs["op"]
    assert "2 of 5 items succeeded" in log
    for index in (1, 3, 4):
        assert f"job {job_id} index {index}, id {1000 + index}: RecordInvalid" in log
    rows = result.xcom("op")  # pushed although the task failed
    assert [row["index"] for row in rows] == list(range(5))
    assert [(row["index"], row["id"], row["error"]) for row in rows if not row["success"]] == [
        (1, 1001, "RecordInvalid"),
        (3, 1003, "RecordInvalid"),
        (4, 1004, "RecordInvalid"),
    ]
    assert all("[sandbox:fail]" in row["details"] for row in rows if not row["success"])
    assert_mode(result, True)


def test_wistia_failed_jobs_are_each_reported(sandbox: SandboxServer) -> None:
    media = [f"media{i:04d}" for i in range(250)]
    media[30], media[230] = "m30jobfail", "m230jobfail"  # jobs 1 and 3 (of 100, 100, 50) end failed
    op = WISTIA_TAG.with_args(hashed_ids=media, on_partial="warn")
    result = run_op(sandbox, op, deferrable=False)
    assert result.task_states == {"op": "success"}  # "warn": one job of three did its work
    jobs = created_jobs(sandbox, WISTIA)
    rows = result.xcom("op")
    assert [(row["job_id"], row["hashed_ids"]) for row in rows] == list(
        zip(jobs, [media[:100], media[100:200], media[200:]], strict=True)
    )
    outcomes = [(row["status"], row["success"]) for row in rows]
    assert outcomes == [("failed", False), ("finished", True), ("failed", False)]
    log = result.logs["op"]
    assert "3 jobs ended: 2 failed, 1 succeeded; 250 media" in log
    for job_id, first, marked in (
        (jobs[0], "media0000", "m30jobfail"),
        (jobs[2], "media0200", "m230jobfail"),
    ):
        line = next(line for line in log.splitlines() if f"job {job_id} ended failed" in line)
        assert "[warning" in line and f"it covered media {first}" in line and marked in line
    assert f"job {jobs[1]} ended failed" not in log
    assert_mode(result, False)


def test_tradedesk_partial_success_reports_every_error(sandbox: SandboxServer) -> None:
    sandbox.state.tradedesk.config.job_seconds = 2.0
    errors = ["row 3: unknown segment 'seg-9'", "row 17: bad advertiser id", PARTIAL_ERROR]

    def give_errors() -> None:  # once the job exists, it reports three errors instead of its one
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with sandbox.state.lock:
                jobs = created_jobs(sandbox, TRADEDESK)
                if jobs:
                    sandbox.state.tradedesk.jobs[jobs[0]].errors = list(errors)
                    return
            time.sleep(0.01)

    watcher = threading.Thread(target=give_errors, daemon=True)
    watcher.start()
    op = TRADEDESK_QUERY.with_args(query=f"{QUERY} # sandbox:partial")
    result = run_op(sandbox, op, deferrable=True)
    watcher.join(5)
    assert result.task_states == {"op": "failed"}  # on_partial="fail" (the default)
    (job_id,) = created_jobs(sandbox, TRADEDESK)
    assert result.xcom("op") == {"job_id": job_id, "status": "PartialSuccess", "errors": errors}
    log = result.logs["op"]
    assert f"job {job_id} ended PartialSuccess: {'; '.join(errors)}" in log
    assert sandbox.state.tradedesk.downloads == []  # a failed task delivers no result
    assert_mode(result, True)
