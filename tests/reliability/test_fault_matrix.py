"""The fault matrix: each fault, injected over real HTTP by the sandbox, for every declared vendor (the
shipped ones and those registered by tests/conftest.py), in the triggerer (deferrable) and in the worker.
Each case asserts the task's end state, its message and the sandbox's request counts.
"""

from __future__ import annotations

import ast
import json
import threading
import time
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

import pytest
from airflow_harness import DagRunResult, run_dag_module
from conftest import CANARY_TOKEN
from vendors import ALL_VENDORS, Vendor

from airflow_jobstatus.sandbox import SandboxServer

VENDOR_PARAMS = [pytest.param(vendor, id=vendor.name) for vendor in ALL_VENDORS]
MODES = [pytest.param(True, id="deferrable"), pytest.param(False, id="worker")]


def sensor_kwargs(vendor: Vendor) -> dict[str, Any]:
    """The sensor's arguments besides job_id (the driver writes them as DAG source: ``job_kind="standard", ``)
    as keyword arguments."""
    call = ast.parse(f"sensor({vendor.sensor_kwargs})", mode="eval").body
    assert isinstance(call, ast.Call)
    return {str(keyword.arg): ast.literal_eval(keyword.value) for keyword in call.keywords}


def wait_for(
    sandbox: SandboxServer, vendor: Vendor, job_id: str, *, deferrable: bool, timeout: float = 60
) -> DagRunResult:
    """Run the vendor's sensor in ``sensor_dag`` of tests/dags/sensor_task.py (task ``wait``)."""
    args = {
        "dag_id": "fault_matrix",
        "sensor": vendor.sensor,
        "job_id": job_id,
        "deferrable": deferrable,
        "timeout": timeout,
        "kwargs": sensor_kwargs(vendor),
    }
    result = run_dag_module("sensor_task", "fault_matrix", args=args, env=vendor.env(sandbox))
    assert CANARY_TOKEN not in result.output
    assert CANARY_TOKEN not in json.dumps(result.xcom("wait"))
    return result


def later(seconds: float, action: Any) -> threading.Timer:
    """Run ``action`` in ``seconds``, while the DAG run is waiting."""
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()
    return timer


def statuses(sandbox: SandboxServer, vendor: Vendor) -> list[int]:
    """The HTTP statuses of every status read, in order (0: connection closed by a fault)."""
    with sandbox.state.lock:
        return [r.status for r in sandbox.state.requests if r.path.startswith(vendor.status_path)]


@pytest.fixture(scope="module", autouse=True)
def warm_airflow(sandbox_server: SandboxServer) -> None:
    """The first dag.test() of a process pays several seconds of set-up: pay it before timing jobs."""
    sandbox_server.reset()
    vendor = ALL_VENDORS[0]
    wait_for(sandbox_server, vendor, vendor.create(sandbox_server, 0.0, None), deferrable=False)


# ----- faults a wait must outlive -------------------------------------------------------------------
@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("vendor", VENDOR_PARAMS)
@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_429_retry_after_is_waited_for(
    sandbox: SandboxServer, vendor: Vendor, deferrable: bool, form: str
) -> None:
    job_id = vendor.create(sandbox, 6.0, None)
    not_before: list[float] = []  # when the next read may come, on the sandbox's (monotonic) clock

    def inject() -> None:
        # An HTTP date has whole seconds: wait for the date as written, whenever the refused read comes.
        retry_after = "2" if form == "seconds" else formatdate(time.time() + 4, usegmt=True)
        if form == "http-date":
            written = parsedate_to_datetime(retry_after).timestamp()
            not_before.append(time.monotonic() + written - time.time())
        sandbox.state.add_fault(
            vendor.status_path, method="GET", status=429, retry_after=retry_after, count=1
        )

    later(1.0, inject)
    result = wait_for(sandbox, vendor, job_id, deferrable=deferrable)
    assert result.task_states == {"wait": "success"}
    with sandbox.state.lock:
        reads = [r for r in sandbox.state.requests if r.path.startswith(vendor.status_path)]
    refused = next(i for i, r in enumerate(reads) if r.status == 429)
    if form == "seconds":
        assert reads[refused + 1].at - reads[refused].at >= 1.9  # the next read waited for Retry-After
    else:
        assert reads[refused].at < not_before[0] - 0.5  # refused well before the date ...
        assert reads[refused + 1].at >= not_before[0] - 0.05  # ... and not read again until it
    assert [r.status for r in reads].count(429) == 1 and reads[-1].status == 200
    assert ("Pausing task as DEFERRED" in result.logs["wait"]) is deferrable
    assert "HTTP 429" in result.logs["wait"]


OUTAGES = {
    "5xx-burst": [dict(status=500), dict(status=502), dict(status=503), dict(status=504)],
    "proxy-html": [dict(status=502, body="<html><body>Bad gateway</body></html>", content_type="text/html")]
    * 2,
    "empty-body": [dict(status=503, body="")] * 2,
    "connection-reset": [dict(status=None, reset=True)] * 2,
    "garbled-200": [dict(status=200, body="{not json", content_type="application/json")] * 2,
}


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("vendor", VENDOR_PARAMS)
@pytest.mark.parametrize("outage", list(OUTAGES))
def test_transient_failures_are_retried(
    sandbox: SandboxServer, vendor: Vendor, deferrable: bool, outage: str
) -> None:
    job_id = vendor.create(sandbox, 4.0, None)
    faults = OUTAGES[outage]

    def inject() -> None:  # once the wait is under way: in the triggerer, or between the worker's pokes
        for fault in faults:
            sandbox.state.add_fault(vendor.status_path, method="GET", count=1, **fault)

    later(1.0, inject)
    result = wait_for(sandbox, vendor, job_id, deferrable=deferrable)
    assert result.task_states == {"wait": "success"}
    seen = statuses(sandbox, vendor)
    assert len(seen) > len(faults) and seen[-1] == 200
    assert sum(1 for r in sandbox.state.requests if r.fault) == len(faults)
    assert ("Pausing task as DEFERRED" in result.logs["wait"]) is deferrable


# ----- faults that end a wait, with the right message ---------------------------------------------------
@pytest.mark.parametrize("vendor", VENDOR_PARAMS)
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{not json", "with HTTP 200 but the body is not JSON: '{not json'"),
        ('{"unexpected": true}', "with HTTP 200, but"),
    ],
    ids=["malformed-json", "wrong-shape"],
)
def test_a_broken_body_fails_after_retries_naming_url_status_and_body(
    sandbox: SandboxServer, vendor: Vendor, body: str, expected: str
) -> None:
    job_id = vendor.create(sandbox, 1.0, None)
    sandbox.state.add_fault(vendor.status_path, method="GET", status=200, body=body, count=None)
    result = wait_for(sandbox, vendor, job_id, deferrable=True)
    assert result.task_states == {"wait": "failed"}
    log = result.logs["wait"]
    assert f"{vendor.display} answered GET http://127.0.0.1:{sandbox.port}{vendor.status_path}" in log
    assert expected in log
    if "shape" in expected or body.startswith('{"'):
        assert (
            "does not fit the documented shape" in log and "The body starts: '{\"unexpected\": true}'" in log
        )
    assert len(statuses(sandbox, vendor)) == 4  # the first read and its 3 retries, then no more


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("vendor", VENDOR_PARAMS)
def test_a_token_revoked_during_the_wait_fails_at_once(
    sandbox: SandboxServer, vendor: Vendor, deferrable: bool
) -> None:
    job_id = vendor.create(sandbox, 30.0, None)
    later(1.5, lambda: sandbox.state.add_fault(vendor.status_path, method="GET", status=401, count=None))
    started = time.monotonic()
    result = wait_for(sandbox, vendor, job_id, deferrable=deferrable)
    assert result.task_states == {"wait": "failed"}
    assert time.monotonic() - started < 20  # at once, not at the timeout
    log = result.logs["wait"]
    assert f"connection '{vendor.name}_default' was rejected by {vendor.display} (HTTP 401" in log
    assert "check the token" in log
    assert statuses(sandbox, vendor).count(401) == 1  # never retried


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("vendor", VENDOR_PARAMS)
def test_a_job_gone_during_the_wait_fails_naming_it(
    sandbox: SandboxServer, vendor: Vendor, deferrable: bool
) -> None:
    job_id = vendor.create(sandbox, 30.0, None)
    later(1.5, lambda: sandbox.state.add_fault(vendor.status_path, method="GET", status=404, count=None))
    result = wait_for(sandbox, vendor, job_id, deferrable=deferrable)
    assert result.task_states == {"wait": "failed"}
    assert f"{vendor.display} does not know job {job_id}" in result.logs["wait"]
    assert statuses(sandbox, vendor).count(404) == 1


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("vendor", VENDOR_PARAMS)
def test_an_unknown_status_keeps_waiting_until_the_deadline(
    sandbox: SandboxServer, vendor: Vendor, deferrable: bool
) -> None:
    word = f"Recalibrating-{vendor.name}-{deferrable}"
    job_id = vendor.create(sandbox, 120.0, word)
    result = wait_for(sandbox, vendor, job_id, deferrable=deferrable, timeout=3)
    assert result.task_states == {"wait": "failed"}
    log = result.logs["wait"]
    if deferrable:  # the trigger's deadline, then the sensor's message
        assert "timed out after 3 s: the wait reached its deadline" in log
    else:  # Airflow's sensor timeout, with the jobs' last progress added
        assert "Sensor has timed out" in log and "Last progress: job " in log
    assert word in log
    assert len(statuses(sandbox, vendor)) >= 3  # it kept reading


@pytest.mark.parametrize("vendor", VENDOR_PARAMS)
def test_a_long_retry_after_never_carries_the_wait_past_its_deadline(
    sandbox: SandboxServer, vendor: Vendor
) -> None:
    job_id = vendor.create(sandbox, 60.0, None)
    later(1.0, lambda: sandbox.state.add_fault(vendor.status_path, method="GET", status=429, retry_after=100))
    started = time.monotonic()
    result = wait_for(sandbox, vendor, job_id, deferrable=True, timeout=4)
    assert result.task_states == {"wait": "failed"}
    assert time.monotonic() - started < 30  # not the 100 s the vendor asked for
    assert "reached its deadline" in result.logs["wait"]
