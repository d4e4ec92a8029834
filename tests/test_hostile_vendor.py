"""Hostile and broken vendor answers (issue 15) over real HTTP against the sandbox.

Each row of the issue that concerns status reads is served by the sandbox's faults (a raw body, a header,
a dripped answer) and checked in the triggerer path (JobTrigger, with the event loop's lag measured) and
in the worker path (the hook's blocking reads), where both apply.
"""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
from typing import Any

import pytest
from conftest import CANARY_TOKEN, tradedesk_connection, zendesk_connection
from hostile_support import (
    MAX_LAG,
    TRADEDESK_HOOK,
    ZENDESK_HOOK,
    fast_retries,  # noqa: F401 (a fixture)
    trigger,
    wait_for_event,
)

from airflow_jobstatus.errors import (
    CertificateError,
    ConfigurationError,
    ResponseTooLarge,
    TransientVendorError,
    VendorResponseError,
)
from airflow_jobstatus.hooks.tradedesk import TradeDeskHook
from airflow_jobstatus.hooks.zendesk import ZendeskJobHook
from airflow_jobstatus.sandbox import SandboxServer

pytestmark = pytest.mark.usefixtures("fast_retries")

SHOW = "/api/v2/job_statuses/"
STANDARD = {"job_kind": "standard"}


def tradedesk_status(job_id: str, percentage: str) -> str:
    """A Trade Desk standard job status with ``completionPercentage`` given as raw JSON text."""
    return (
        f'{{"id": {job_id}, "createdAtUtc": "2026-12-01T10:00:00Z", "status": "InProgress", '
        f'"completionPercentage": {percentage}}}'
    )


def zendesk_status(job_id: str, **fields: Any) -> dict[str, Any]:
    """A Zendesk job status answer (show) with ``fields`` over a working job's."""
    return {"job_status": {"id": job_id, "status": "working", "total": 10, "progress": 3, **fields}}


# --- row 1: non-finite numbers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("percentage", "named"),
    [
        ("NaN", "NaN is not a JSON number"),
        ("Infinity", "Infinity is not a JSON number"),
        ('"NaN"', "completionPercentage"),
        ('"-inf"', "completionPercentage"),
    ],
)
async def test_a_non_finite_percentage_ends_the_wait_with_a_named_error(
    sandbox: SandboxServer, tradedesk_conn: str, percentage: str, named: str
) -> None:
    job_id = sandbox.state.tradedesk.create_job(duration=60)
    path = f"/tradedesk/standardjob/{job_id}/status"
    sandbox.state.add_fault(
        path_prefix=path, status=200, count=None, body=tradedesk_status(job_id, percentage)
    )
    wait = trigger(TRADEDESK_HOOK, [job_id], conn_id=tradedesk_conn, hook_params=STANDARD)
    event, lag, took = await wait_for_event(wait)
    assert event.outcome == "error"
    assert named in event.message and "The Trade Desk" in event.message
    assert took < 10 and lag.worst < MAX_LAG and lag.ticks > 10
    with pytest.raises(VendorResponseError, match=r"completionPercentage|JSON number"):
        TradeDeskHook(tradedesk_conn, job_kind="standard").get_job(job_id)


async def test_nan_progress_in_a_zendesk_status_is_refused(sandbox: SandboxServer, zendesk_conn: str) -> None:
    job_id = sandbox.state.zendesk.create_job(total=10, duration=60)
    body = json.dumps(zendesk_status(job_id)).replace('"progress": 3', '"progress": NaN')
    sandbox.state.add_fault(path_prefix=SHOW, status=200, count=None, body=body)
    event, lag, _ = await wait_for_event(trigger(ZENDESK_HOOK, [job_id], conn_id=zendesk_conn))
    assert event.outcome == "error" and "NaN is not a JSON number" in event.message
    assert lag.worst < MAX_LAG


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 0, "abc", None, True])
def test_a_non_finite_or_malformed_poll_interval_is_refused_when_the_task_is_made(value: Any) -> None:
    from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator
    from airflow_jobstatus.sensors.zendesk import ZendeskJobSensor

    with pytest.raises(ConfigurationError, match="poll_interval"):
        ZendeskJobSensor(task_id="wait", job_id="abc", poll_interval=value)
    with pytest.raises(ConfigurationError, match="poll_interval"):
        ZendeskBulkOperator(
            task_id="bulk", resource="tickets", action="destroy_many", items=[1], poll_interval=value
        )
    with pytest.raises(ConfigurationError, match="poll_interval"):
        trigger(ZENDESK_HOOK, ["abc"], conn_id="zendesk_default", poll=value)  # type: ignore[arg-type]


def test_a_deadline_that_is_not_finite_is_refused() -> None:
    from airflow_jobstatus.triggers.job import JobTrigger

    with pytest.raises(ConfigurationError, match="deadline"):
        JobTrigger(ZENDESK_HOOK, "zendesk_default", ["abc"], 1.0, float("nan"))


# --- row 2: garbage Retry-After -----------------------------------------------------------------------------
@pytest.mark.parametrize("retry_after", ["nan", "inf", "-inf", "1e400", "soon"])
async def test_a_garbage_retry_after_counts_as_absent(
    sandbox: SandboxServer, zendesk_conn: str, retry_after: str
) -> None:
    job_id = sandbox.state.zendesk.create_job(total=1, duration=0.2)
    sandbox.state.add_fault(path_prefix=SHOW, status=503, count=3, headers={"Retry-After": retry_after})
    event, lag, took = await wait_for_event(trigger(ZENDESK_HOOK, [job_id], conn_id=zendesk_conn))
    assert event.outcome == "ended" and event.jobs[0].state == "succeeded"
    assert took < 8 and lag.worst < MAX_LAG
    assert sandbox.state.count(path_prefix=SHOW) >= 4
    # The worker's blocking reads: the same three refusals, then the answer, in well under a second each.
    sandbox.state.add_fault(path_prefix=SHOW, status=503, count=3, headers={"Retry-After": retry_after})
    started = time.monotonic()
    assert ZendeskJobHook(zendesk_conn).get_job(job_id).state.value == "succeeded"
    assert time.monotonic() - started < 3


async def test_a_huge_retry_after_never_outlasts_the_deadline(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    job_id = sandbox.state.zendesk.create_job(total=1, duration=0.2)
    sandbox.state.add_fault(path_prefix=SHOW, status=429, count=None, headers={"Retry-After": "1e12"})
    event, lag, took = await wait_for_event(trigger(ZENDESK_HOOK, [job_id], conn_id=zendesk_conn, wait=2.0))
    assert event.outcome == "timeout"
    assert 1.5 < took < 5 and lag.worst < MAX_LAG


def test_a_refused_submit_with_garbage_retry_after_waits_a_sane_time() -> None:
    from airflow_jobstatus.http.transport import parse_retry_after
    from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator

    operator = ZendeskBulkOperator(task_id="bulk", resource="tickets", action="destroy_many", items=[1])
    for header in ("nan", "inf", "1e12"):
        refusal = TransientVendorError("429", status=429, retry_after=parse_retry_after(header))
        started = time.monotonic()
        operator._sleep_for_refusal(refusal, deadline=time.time() + 0.3)
        assert time.monotonic() - started < 1.0  # capped by the deadline, never sleep(nan) or sleep(inf)


# --- rows 3 and 14: size caps -------------------------------------------------------------------------------
async def test_a_gzip_bomb_status_is_cut_off_at_the_cap(sandbox: SandboxServer, zendesk_conn: str) -> None:
    job_id = sandbox.state.zendesk.create_job(total=1, duration=60)
    inflated = b'{"job_status": {"id": "x", "status": "working", "message": "' + b"0" * (128 << 20) + b'"}}'
    bomb = gzip.compress(inflated, compresslevel=6)
    assert len(bomb) < 1 << 20
    sandbox.state.add_fault(
        path_prefix=SHOW, status=200, count=None, body=bomb, headers={"Content-Encoding": "gzip"}
    )
    tracemalloc.start()
    try:
        event, _, _ = await wait_for_event(trigger(ZENDESK_HOOK, [job_id], conn_id=zendesk_conn))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert event.outcome == "error"
    assert "more than 4194304 bytes" in event.message and "max_response_bytes" in event.message
    assert peak < 48 << 20, f"peak {peak >> 20} MiB while refusing a 128 MiB answer"
    assert sandbox.state.count(path_prefix=SHOW) == 1  # too large is not retried
    with pytest.raises(ResponseTooLarge):
        ZendeskJobHook(zendesk_conn).get_job(job_id)


async def test_a_50_mb_status_is_refused_and_the_cap_is_a_connection_extra(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = sandbox.state.zendesk.create_job(total=1, duration=60)
    sandbox.state.add_fault(path_prefix=SHOW, status=200, count=2, body=b" " * (50 << 20))
    monkeypatch.setenv("AIRFLOW_CONN_ZENDESK_DEFAULT", zendesk_connection(sandbox.url))
    event, lag, _ = await wait_for_event(trigger(ZENDESK_HOOK, [job_id], conn_id="zendesk_default"))
    assert event.outcome == "error" and "more than 4194304 bytes" in event.message
    assert lag.worst < MAX_LAG
    with pytest.raises(ResponseTooLarge, match="more than 4194304 bytes"):
        ZendeskJobHook("zendesk_default").get_job(job_id)
    # A connection that allows less: a normal answer of ~100 bytes passes a cap of 2048, 5000 bytes do not.
    small = zendesk_connection(sandbox.url, extra={"max_response_bytes": "2048"})
    monkeypatch.setenv("AIRFLOW_CONN_ZENDESK_SMALL", small)
    assert ZendeskJobHook("zendesk_small").get_job(job_id).id == job_id
    sandbox.state.add_fault(
        path_prefix=SHOW, status=200, count=1, body=json.dumps(zendesk_status(job_id, message="m" * 5000))
    )
    with pytest.raises(ResponseTooLarge, match="more than 2048 bytes"):
        ZendeskJobHook("zendesk_small").get_job(job_id)


@pytest.mark.parametrize("cap", ["nan", "-5", "12.5", "lots", 10])
def test_a_malformed_size_cap_is_refused(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, cap: Any
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZENDESK_BADCAP", zendesk_connection(sandbox.url, extra={"max_response_bytes": cap})
    )
    with pytest.raises(ConfigurationError, match="max_response_bytes"):
        ZendeskJobHook("zendesk_badcap").get_job("abc")
    assert sandbox.state.count(path_prefix=SHOW) == 0


# --- row 9: job ids that would walk out of their URL --------------------------------------------------------
@pytest.mark.parametrize("job_id", ["../../users/me", "ok?x=1#", "a/b", "..", "x" * 300, "id with space"])
async def test_a_zendesk_job_id_that_is_not_an_id_is_refused_before_any_request(
    sandbox: SandboxServer, zendesk_conn: str, job_id: str
) -> None:
    with pytest.raises(ConfigurationError, match="is not a job id of Zendesk"):
        ZendeskJobHook(zendesk_conn).get_job(job_id)
    event, _, _ = await wait_for_event(trigger(ZENDESK_HOOK, [job_id, "abc"], conn_id=zendesk_conn))
    assert event.outcome == "error" and "is not a job id of Zendesk" in event.message
    assert sandbox.state.count(path_prefix="/api/") == 0


#: Unicode digits that str.isdigit() accepts (fullwidth, Arabic-Indic), and ids that would leave the path.
UNICODE_DIGITS = ["\uff11\uff12\uff13", "\u0661\u0662\u0663"]


@pytest.mark.parametrize("job_id", [*UNICODE_DIGITS, "12/../1", "1?x=1", "-1", "1" * 300])
def test_a_trade_desk_job_id_must_be_ascii_digits(
    sandbox: SandboxServer, tradedesk_conn: str, job_id: str
) -> None:
    with pytest.raises(ConfigurationError, match="must be digits"):
        TradeDeskHook(tradedesk_conn, job_kind="standard").get_job(job_id)
    assert sandbox.state.count(path_prefix="/tradedesk/") == 0


# --- row 10: answers that crashed the trigger with a foreign traceback --------------------------------------
@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("[" * 200_000 + "]" * 200_000, "nested too deeply"),
        (
            json.dumps(zendesk_status("x", results=[{"index": 0, "id": 1, "success": False, "status": 7}])),
            "results",
        ),
        (json.dumps(zendesk_status("x", results=[{"index": 0, "id": [1, 2], "success": False}])), "results"),
        (json.dumps(zendesk_status("x", total="lots")), "total"),
        (json.dumps({"job_status": "working"}), "job_status"),
    ],
    ids=["deep-nesting", "item-status-7", "item-id-list", "total-text", "status-not-object"],
)
async def test_a_malformed_answer_is_a_named_error_in_a_clear_event(
    sandbox: SandboxServer, zendesk_conn: str, body: str, named: str
) -> None:
    job_id = sandbox.state.zendesk.create_job(total=1, duration=60)
    sandbox.state.add_fault(
        path_prefix=SHOW, status=200, count=None, body=body.replace('"x"', json.dumps(job_id))
    )
    event, lag, _ = await wait_for_event(trigger(ZENDESK_HOOK, [job_id], conn_id=zendesk_conn))
    assert event.outcome == "error"
    assert named in event.message and "Zendesk" in event.message
    assert "Traceback" not in event.message and lag.worst < MAX_LAG
    with pytest.raises(VendorResponseError):
        ZendeskJobHook(zendesk_conn).get_job(job_id)


@pytest.mark.parametrize("token", ["tok\r\nX-Injected: 1", "tök-non-ascii", "tab\there"])
async def test_a_token_with_a_line_break_or_non_ascii_is_refused_before_any_request(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TTD_BAD", tradedesk_connection(sandbox.url, password=token))
    with pytest.raises(ConfigurationError, match="line break, a control character or a non-ASCII"):
        TradeDeskHook("ttd_bad", job_kind="standard").get_job("1")
    wait = trigger(TRADEDESK_HOOK, ["1"], conn_id="ttd_bad", hook_params=STANDARD)
    event, _, _ = await wait_for_event(wait)
    assert event.outcome == "error" and "non-ASCII" in event.message
    assert token not in event.message
    assert sandbox.state.count(path_prefix="/tradedesk/") == 0


def test_a_host_with_a_line_break_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZENDESK_CRLF", zendesk_connection("http://127.0.0.1:1\r\nHost: evil.example")
    )
    with pytest.raises(ConfigurationError, match="line break"):
        ZendeskJobHook("zendesk_crlf").get_job("abc")


# --- row 11: an invalid certificate is permanent ------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_sandbox() -> Any:
    with SandboxServer(tls=True) as server:
        yield server


async def test_an_untrusted_certificate_fails_at_once_and_says_certificate(
    tls_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_ZENDESK_TLS", zendesk_connection(tls_sandbox.url))
    event, _, took = await wait_for_event(trigger(ZENDESK_HOOK, ["abc"], conn_id="zendesk_tls", wait=600))
    assert event.outcome == "error" and "certificate" in event.message
    assert took < 5
    hook = ZendeskJobHook("zendesk_tls")
    with pytest.raises(CertificateError, match="certificate"):
        hook.get_job("abc")
    ok, message = hook.test_connection()
    assert not ok and "certificate" in message


# --- row 12: a vendor echoing the token ---------------------------------------------------------------------
async def test_a_token_echoed_by_the_vendor_is_scrubbed(sandbox: SandboxServer, zendesk_conn: str) -> None:
    job_id = sandbox.state.zendesk.create_job(total=1, duration=60)
    import base64

    basic = base64.b64encode(f"agent@example.com/token:{CANARY_TOKEN}".encode()).decode()
    echo = f"bad token {CANARY_TOKEN} (Basic {basic})"
    answer = zendesk_status(job_id, status="failed", message=echo, results=[{"index": 0, "error": echo}])
    sandbox.state.add_fault(path_prefix=SHOW, status=200, count=None, body=json.dumps(answer))
    event, _, _ = await wait_for_event(trigger(ZENDESK_HOOK, [job_id], conn_id=zendesk_conn))
    job = ZendeskJobHook(zendesk_conn).get_job(job_id)
    stored = json.dumps(job.to_dict())
    assert CANARY_TOKEN not in stored and basic not in stored
    assert job.message == "bad token *** (***)"  # the whole header value, then the token
    assert CANARY_TOKEN not in json.dumps(event.to_payload())
    sandbox.state.clear_faults()
    sandbox.state.add_fault(
        path_prefix=SHOW, status=404, count=None, body={"error": f"no job for {CANARY_TOKEN}"}
    )
    with pytest.raises(Exception) as raised:
        ZendeskJobHook(zendesk_conn).get_job(job_id)
    assert CANARY_TOKEN not in str(raised.value)


# --- row 15: a 200 with an HTML page ------------------------------------------------------------------------
async def test_a_200_with_an_html_page_is_transient(sandbox: SandboxServer, zendesk_conn: str) -> None:
    job_id = sandbox.state.zendesk.create_job(total=1, duration=0.2)
    page = "<html><body>Gateway says hello</body></html>"
    sandbox.state.add_fault(path_prefix=SHOW, status=200, count=6, body=page, content_type="text/html")
    event, lag, _ = await wait_for_event(trigger(ZENDESK_HOOK, [job_id], conn_id=zendesk_conn))
    assert event.outcome == "ended" and event.jobs[0].state == "succeeded"
    assert sandbox.state.count(path_prefix=SHOW) >= 7 and lag.worst < MAX_LAG
    sandbox.state.add_fault(path_prefix=SHOW, status=200, count=4, body=page, content_type="text/html")
    with pytest.raises(TransientVendorError, match="not JSON"):
        ZendeskJobHook(zendesk_conn).get_job(job_id)


# --- a status answer dripped a byte at a time ---------------------------------------------------------------
def test_a_dripped_status_answer_times_out_as_a_whole(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = sandbox.state.zendesk.create_job(total=1, duration=60)
    body = json.dumps(zendesk_status(job_id))
    sandbox.state.add_fault(path_prefix=SHOW, status=200, count=None, body=body, drip_seconds=0.05)
    monkeypatch.setenv("AIRFLOW_CONN_ZENDESK_DEFAULT", zendesk_connection(sandbox.url))
    hook = ZendeskJobHook("zendesk_default")
    from dataclasses import replace

    hook._sync = None
    target = hook.transport.target
    hook.transport.target = replace(target, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(TransientVendorError, match=r"took more than 0\.5 s"):
        hook.get_job(job_id)
    assert time.monotonic() - started < 8  # four tries of 0.5 s, not len(body) x 0.05 s each


# --- row 8: ids in result paths -----------------------------------------------------------------------------
class _TaskInstance:
    def __init__(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> None:
        self.dag_id, self.run_id, self.task_id, self.map_index = dag_id, run_id, task_id, map_index


@pytest.mark.parametrize(
    ("dag_id", "run_id", "job_id"),
    [("..", "..", "1"), ("dag", "../../etc", "../../x"), (".", "run", "."), ("dag", "run", "9" * 300)],
)
def test_a_result_path_made_from_ids_stays_under_its_base(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, dag_id: str, run_id: str, job_id: str
) -> None:
    import os

    from airflow_jobstatus.core.result_location import default_result_path

    base = tmp_path / "results"
    monkeypatch.setenv("AIRFLOW__JOBSTATUS__RESULT_BASE_PATH", f"file://{base}")
    path = default_result_path({"ti": _TaskInstance(dag_id, run_id, "task")}, job_id)
    local = path.removeprefix("file://")
    assert os.path.realpath(local).startswith(str(base) + os.sep)
    segments = local.removeprefix(str(base) + "/").split("/")
    assert len(segments) == 4 and all(segment not in (".", "..") for segment in segments)
    assert all(len(segment) <= 105 for segment in segments)
    assert segments[-1].endswith(".json")


def test_two_long_job_ids_never_share_a_result_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_jobstatus.core.result_location import default_result_path

    monkeypatch.setenv("AIRFLOW__JOBSTATUS__RESULT_BASE_PATH", f"file://{tmp_path}")
    context = {"ti": _TaskInstance("dag", "run", "task")}
    assert default_result_path(context, "7" * 300 + "1") != default_result_path(context, "7" * 300 + "2")


# --- a batch read that misses the jobs of other tasks -----------------------------------------------------
async def test_a_job_the_vendor_forgot_fails_only_its_own_wait_naming_only_its_id(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    import asyncio

    known = sandbox.state.zendesk.create_job(total=1, duration=0.3)
    forgotten, other = "f" * 32, "e" * 32  # two tasks' jobs, read in the same show_many call
    good, bad, also_bad = await asyncio.gather(
        wait_for_event(trigger(ZENDESK_HOOK, [known], conn_id=zendesk_conn)),
        wait_for_event(trigger(ZENDESK_HOOK, [forgotten], conn_id=zendesk_conn)),
        wait_for_event(trigger(ZENDESK_HOOK, [other], conn_id=zendesk_conn)),
    )
    assert sandbox.state.count(path_prefix="/api/v2/job_statuses/show_many") == 1
    assert good[0].outcome == "ended" and bad[0].outcome == "error" and also_bad[0].outcome == "error"
    assert f"does not know job {forgotten} " in bad[0].message and other not in bad[0].message
    assert f"does not know job {other} " in also_bad[0].message and forgotten not in also_bad[0].message


# --- row 16: arguments of the wrong type or shape ----------------------------------------------------------
def _bulk(**arguments: Any) -> Any:
    from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator

    defaults: dict[str, Any] = {
        "task_id": "bulk",
        "resource": "tickets",
        "action": "destroy_many",
        "items": [1],
    }
    return ZendeskBulkOperator(**{**defaults, **arguments})


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"max_jobs_in_flight": 2.7}, "max_jobs_in_flight must be a whole number"),
        ({"max_jobs_in_flight": True}, "max_jobs_in_flight must be a whole number"),
        ({"max_jobs_in_flight": "3"}, "max_jobs_in_flight must be a whole number"),
        ({"max_jobs_in_flight": 0}, "max_jobs_in_flight must be at least 1"),
        ({"timeout": float("inf")}, "timeout must be a finite number"),
        ({"timeout": 1e300}, "timeout must be at most"),
        ({"poll_interval": "abc"}, "poll_interval must be a number"),
        ({"max_poll_interval": float("nan")}, "max_poll_interval must be a finite number"),
    ],
)
def test_an_operator_argument_of_the_wrong_kind_fails_naming_it(
    arguments: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        _bulk(**arguments)


@pytest.mark.parametrize("job_id", [True, [None], [[1, 2]], [], [" "], {"a": 1}, 1.5])
def test_a_sensor_job_id_of_the_wrong_kind_fails_naming_it(job_id: Any) -> None:
    from airflow_jobstatus.sensors.base import parse_job_ids

    with pytest.raises(ConfigurationError, match="job_id must be a job id or a non-empty list of job ids"):
        parse_job_ids(job_id)


def test_items_rendered_as_deeply_nested_text_fail_naming_them() -> None:
    from airflow_jobstatus.job_task import rendered_list

    for text in ("[" * 100_000 + "]" * 100_000, "[" * 5_000 + "1" + "]" * 5_000):
        with pytest.raises(ConfigurationError, match="items must be a list, not the text"):
            rendered_list(text, "items")


@pytest.mark.parametrize(
    ("output_path", "named"),
    [
        ("http://example.com/result.json", "http cannot be written to"),
        ("https://example.com/result.json", "https cannot be written to"),
        ("file://data/result.json", "relative file URL"),
        ("results/x.json", "must be a URL"),
    ],
)
def test_an_output_path_that_cannot_be_written_fails_before_any_request(output_path: str, named: str) -> None:
    from airflow_jobstatus.core.results import check_output_path

    with pytest.raises(ConfigurationError, match=named):
        check_output_path(output_path)
