"""Issue 16, items 9 and 10: a sensor on a list fails as soon as one job's end decides the outcome (unless
``wait_for_all=True``), in the triggerer and in the worker; and the Trade Desk sensor has no silent
``job_kind`` default. Every case runs against the sandbox over HTTP; the DAG cases through ``dag.test()``,
with ``sensor_dag`` of tests/dags/sensor_task.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow_harness import DagImportError, DagRunResult, run_dag_module
from conftest import CANARY_TOKEN, tradedesk_connection, wistia_connection, zendesk_connection

from airflow_jobstatus.core.models import Job, JobState
from airflow_jobstatus.core.outcomes import judge
from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.http.transport_async import session_count
from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.sensors.base import failing_states
from airflow_jobstatus.sensors.tradedesk import TradeDeskJobSensor
from airflow_jobstatus.sensors.zendesk import ZendeskJobSensor
from airflow_jobstatus.triggers.job import JobTrigger, WaitEvent
from airflow_jobstatus.triggers.poller import active_pollers

ZENDESK_HOOK = "airflow_jobstatus.hooks.zendesk.ZendeskJobHook"
SHOW_MANY = "/api/v2/job_statuses/show_many"
EXAMPLES = Path(__file__).resolve().parent.parent / "example_dags"
#: What a sensor given ``on_partial="fail"`` (its default) ends a wait on, as it hands it to the trigger.
FAIL_STATES = ["failed", "cancelled", "expired", "partial"]
#: The long job of each pair: a wait for it would last this long, far beyond what an early end takes.
LONG = 120.0
#: An early end, with dag.test()'s own overhead on a busy 2-core machine, stays well under this.
EARLY_WITHIN = 30.0

#: vendor -> (sensor class path, connection env var, connection factory, the sensor's other arguments)
VENDORS: dict[str, tuple[str, str, Callable[..., str], dict[str, Any]]] = {
    "zendesk": (
        "airflow_jobstatus.sensors.zendesk.ZendeskJobSensor",
        "AIRFLOW_CONN_ZENDESK_DEFAULT",
        zendesk_connection,
        {},
    ),
    "wistia": (
        "airflow_jobstatus.sensors.wistia.WistiaJobSensor",
        "AIRFLOW_CONN_WISTIA_DEFAULT",
        wistia_connection,
        {},
    ),
    "tradedesk": (
        "airflow_jobstatus.sensors.tradedesk.TradeDeskJobSensor",
        "AIRFLOW_CONN_TRADEDESK_DEFAULT",
        tradedesk_connection,
        {"job_kind": "graphql"},
    ),
}
DISPLAY = {"zendesk": "Zendesk", "wistia": "Wistia", "tradedesk": "The Trade Desk"}
MODES = [pytest.param(True, id="deferrable"), pytest.param(False, id="worker")]


def run_sensor(
    sandbox: SandboxServer,
    vendor: str,
    job_id: Any,
    *,
    deferrable: bool,
    extra: dict[str, Any] | None = None,
    timeout: float = LONG + 60,
) -> DagRunResult:
    """Run the vendor's sensor (task ``wait``); ``extra`` replaces its other arguments (default: the
    vendor's, e.g. the Trade Desk's ``job_kind``)."""
    path, env_var, connection, vendor_extra = VENDORS[vendor]
    args = {
        "dag_id": f"outcomes_{vendor}",
        "sensor": path,
        "job_id": job_id,
        "deferrable": deferrable,
        "timeout": timeout,
        "kwargs": vendor_extra if extra is None else extra,
    }
    env = {env_var: connection(sandbox.url)}
    result = run_dag_module("sensor_task", f"outcomes_{vendor}", args=args, env=env)
    assert CANARY_TOKEN not in result.output
    assert CANARY_TOKEN not in json.dumps(result.xcom("wait"))
    return result


def assert_deferred(result: DagRunResult, deferrable: bool) -> None:
    assert ("Pausing task as DEFERRED" in result.logs["wait"]) is deferrable


def assert_failed_early(result: DagRunResult, vendor: str, failed: str, reason: str, running: str) -> None:
    """Failed (no retry) within seconds, naming the failed job and its reason, and the job still running."""
    assert result.task_states == {"wait": "failed"}
    assert result.duration < EARLY_WITHIN, result.duration
    log = result.logs["wait"]
    assert f"job {failed}" in log and reason in log
    assert f"1 job still running, not cancelled at {DISPLAY[vendor]}: {running}" in log
    assert "wait_for_all=True" in log


@pytest.fixture(scope="module", autouse=True)
def warm_airflow(sandbox_server: SandboxServer) -> None:
    """The first dag.test() of a process pays several seconds of set-up: pay it before timing jobs."""
    sandbox_server.reset()
    run_sensor(
        sandbox_server, "zendesk", sandbox_server.state.zendesk.create_job(duration=0), deferrable=False
    )


# ----- the sensors, per vendor, in the triggerer and in the worker ------------------------------------
@pytest.mark.parametrize("deferrable", MODES)
def test_zendesk_list_fails_as_soon_as_one_job_failed(sandbox: SandboxServer, deferrable: bool) -> None:
    zendesk = sandbox.state.zendesk
    failed = zendesk.create_job(total=4, outcome="failed", duration=1.5, queued_for=0, message="Quota hit")
    long = zendesk.create_job(total=100, duration=LONG, queued_for=0)
    result = run_sensor(sandbox, "zendesk", [failed, long], deferrable=deferrable)
    assert_failed_early(result, "zendesk", failed, f"job {failed} ended failed: Quota hit", long)
    assert "1 job ended: 1 failed" in result.logs["wait"]
    assert_deferred(result, deferrable)  # the first read saw both running: the wait itself decided
    assert sandbox.state.count(method="GET") == sandbox.state.count()  # nothing cancelled, nothing sent


@pytest.mark.parametrize("deferrable", MODES)
def test_zendesk_wait_for_all_waits_for_both_and_reports_all(
    sandbox: SandboxServer, deferrable: bool
) -> None:
    zendesk = sandbox.state.zendesk
    failed = zendesk.create_job(total=1, outcome="killed", duration=0.5, queued_for=0)
    other = zendesk.create_job(total=1, duration=4.0, queued_for=0)
    started = time.monotonic()
    result = run_sensor(
        sandbox, "zendesk", [failed, other], deferrable=deferrable, extra={"wait_for_all": True}
    )
    assert result.task_states == {"wait": "failed"}
    assert time.monotonic() - started >= 4.0
    log = result.logs["wait"]
    assert "2 jobs ended: 1 cancelled, 1 succeeded" in log  # Zendesk's "killed" is a cancelled job
    assert f"job {failed} ended killed: Killed by system" in log
    assert f"job {other}: 1/1 (100%) [completed]" in log  # the other job was waited for to its end
    assert "still running" not in log
    assert_deferred(result, deferrable)


@pytest.mark.parametrize("deferrable", MODES)
def test_zendesk_partial_decides_only_when_it_fails_the_task(
    sandbox: SandboxServer, deferrable: bool
) -> None:
    zendesk = sandbox.state.zendesk
    partial = zendesk.create_job(total=5, duration=1.5, queued_for=0, failed_indexes=[2])
    long = zendesk.create_job(total=100, duration=LONG, queued_for=0)
    result = run_sensor(sandbox, "zendesk", [partial, long], deferrable=deferrable)
    assert_failed_early(result, "zendesk", partial, f"job {partial} item index 2", long)

    # With on_partial="warn" a partial job fails nothing: the wait goes on to the other job's end.
    partial = zendesk.create_job(total=5, duration=0.5, queued_for=0, failed_indexes=[2])
    other = zendesk.create_job(total=1, duration=3.0, queued_for=0)
    result = run_sensor(
        sandbox, "zendesk", [partial, other], deferrable=deferrable, extra={"on_partial": "warn"}
    )
    assert result.task_states == {"wait": "success"}
    assert [(job["id"], job["state"]) for job in result.xcom("wait")] == [
        (partial, "partial"),
        (other, "succeeded"),
    ]
    assert "2 jobs ended: 1 partial, 1 succeeded" in result.logs["wait"]


@pytest.mark.parametrize("deferrable", MODES)
def test_wistia_list_fails_as_soon_as_one_job_failed(sandbox: SandboxServer, deferrable: bool) -> None:
    wistia = sandbox.state.wistia
    failed = str(wistia.create_job(outcome="failed", duration=1.5))
    long = str(wistia.create_job(duration=LONG))
    result = run_sensor(sandbox, "wistia", [failed, long], deferrable=deferrable)
    assert_failed_early(result, "wistia", failed, f"job {failed} ended failed", long)
    assert_deferred(result, deferrable)


@pytest.mark.parametrize("deferrable", MODES)
def test_tradedesk_list_fails_as_soon_as_one_job_failed(sandbox: SandboxServer, deferrable: bool) -> None:
    tradedesk = sandbox.state.tradedesk
    failed = tradedesk.create_job(kind="graphql", outcome="Failure", duration=1.5, errors="query timed out")
    long = tradedesk.create_job(kind="graphql", duration=LONG)
    result = run_sensor(sandbox, "tradedesk", [failed, long], deferrable=deferrable)
    assert_failed_early(result, "tradedesk", failed, "query timed out", long)
    assert f"job {failed} ended Failure" in result.logs["wait"]
    assert_deferred(result, deferrable)


@pytest.mark.parametrize(
    ("job_id", "kwargs", "expected"),
    [
        (["a", "b"], {}, FAIL_STATES),
        (["a", "b"], {"on_partial": "warn"}, ["failed", "cancelled", "expired"]),
        (["a", "b"], {"wait_for_all": True}, None),
        ("a", {}, None),  # one job: nothing to end early, the trigger serializes as before
    ],
)
def test_the_sensor_hands_its_trigger_the_ends_that_fail_it(
    job_id: Any, kwargs: dict[str, Any], expected: list[str] | None
) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    sensor = ZendeskJobSensor(task_id="wait", job_id=job_id, **kwargs)
    with pytest.raises(TaskDeferred) as deferred:
        sensor._defer(sensor.job_ids())
    trigger = deferred.value.trigger
    assert isinstance(trigger, JobTrigger)
    assert trigger.serialize()[1].get("end_early_on") == expected


def test_wait_for_all_must_be_a_bool() -> None:
    with pytest.raises(ConfigurationError, match="wait_for_all must be True or False, not 'yes'"):
        ZendeskJobSensor(task_id="wait", job_id=["a"], wait_for_all="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("on_partial", ["fail", "warn"])
@pytest.mark.parametrize("state", [state for state in JobState if state.is_terminal])
def test_failing_states_are_the_ends_judge_fails(state: JobState, on_partial: Any) -> None:
    job = Job(vendor="zendesk", id="j1", state=state, vendor_status=state.value)
    assert (state in failing_states(on_partial)) is (not judge([job], on_partial).ok)


# ----- the trigger ----------------------------------------------------------------------------------
def old_release_kwargs(job_ids: list[str], deadline: float) -> dict[str, Any]:
    """The kwargs a JobTrigger of the release before ``end_early_on`` serialized (every key it had)."""
    return {
        "hook_path": ZENDESK_HOOK,
        "conn_id": "zendesk_default",
        "job_ids": job_ids,
        "poll_interval": 0.2,
        "deadline": deadline,
        "resume": None,
        "hook_params": {},
        "max_poll_interval": 0.2,
    }


async def run_to_end(trigger: JobTrigger) -> WaitEvent:
    events = [event async for event in trigger.run()]
    assert len(events) == 1
    return WaitEvent.from_payload(events[0].payload)


async def test_trigger_with_end_early_on_decides_at_the_first_failure(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    zendesk = sandbox.state.zendesk
    failed = zendesk.create_job(total=2, outcome="failed", duration=0.5, queued_for=0, message="Quota hit")
    long = zendesk.create_job(total=100, duration=LONG, queued_for=0)
    resume = {"ledger": {"jobs": [{"id": failed}, {"id": long}]}, "deadline": 1.0}
    trigger = JobTrigger(
        ZENDESK_HOOK, zendesk_conn, [failed, long], 0.2, time.time() + 60, resume, end_early_on=FAIL_STATES
    )
    started = time.monotonic()
    event = await run_to_end(trigger)
    assert time.monotonic() - started < 5
    assert event.outcome == "decided"
    assert event.message == f"job {failed} ended failed: Quota hit; still running (not cancelled): {long}"
    assert [(job.id, job.state) for job in event.jobs] == [(failed, "failed"), (long, "running")]
    assert event.resume == resume  # handed back unchanged
    assert active_pollers() == 0 and session_count() == 0
    assert sandbox.state.count() == sandbox.state.count(method="GET", path_prefix=SHOW_MANY)


async def test_trigger_ended_before_deciding_says_ended(sandbox: SandboxServer, zendesk_conn: str) -> None:
    """When every job has ended by the read that sees the failure, the event is "ended" as before."""
    failed = sandbox.state.zendesk.create_job(total=1, outcome="failed", duration=0.5, queued_for=0)
    trigger = JobTrigger(
        ZENDESK_HOOK, zendesk_conn, [failed], 0.2, time.time() + 30, end_early_on=FAIL_STATES
    )
    event = await run_to_end(trigger)
    assert (event.outcome, event.message) == ("ended", "1 job ended: 1 failed")


async def test_trigger_serialized_by_the_previous_release_waits_for_all(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    zendesk = sandbox.state.zendesk
    failed = zendesk.create_job(total=1, outcome="failed", duration=0.3, queued_for=0)
    other = zendesk.create_job(total=1, duration=2.5, queued_for=0)
    old = old_release_kwargs([failed, other], time.time() + 30)
    trigger = JobTrigger(**old)
    assert trigger.serialize()[1] == old  # and it serializes as that release did
    started = time.monotonic()
    event = await run_to_end(trigger)
    assert event.outcome == "ended"
    assert [(job.id, job.state) for job in event.jobs] == [(failed, "failed"), (other, "succeeded")]
    assert time.monotonic() - started >= 2.0  # it waited for the other job, past the failure


def test_serialize_round_trips_end_early_on() -> None:
    trigger = JobTrigger(ZENDESK_HOOK, "zendesk_default", ["a", "b"], 0.5, 1e10, end_early_on=FAIL_STATES)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_jobstatus.triggers.job.JobTrigger"
    assert kwargs["end_early_on"] == FAIL_STATES
    assert json.loads(json.dumps(kwargs)) == kwargs  # plain JSON
    rebuilt = JobTrigger(**kwargs)
    assert rebuilt.end_early_on == FAIL_STATES
    assert rebuilt.serialize() == (classpath, kwargs)


@pytest.mark.parametrize("states", [["running"], ["failed", "bogus"], "queued"])
def test_end_early_on_takes_terminal_states_only(states: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"end_early_on takes terminal job states \(succeeded, "):
        JobTrigger(ZENDESK_HOOK, "zendesk_default", ["a"], 0.5, 1e10, end_early_on=states)


async def test_early_and_full_waits_share_a_poller_and_neither_disturbs_the_other(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    """A wait that ends early leaves the connection's poller to the waits still on: they go on to the end."""
    zendesk = sandbox.state.zendesk
    failed = zendesk.create_job(total=1, outcome="failed", duration=0.5, queued_for=0)
    other = zendesk.create_job(total=1, duration=2.5, queued_for=0)
    deadline = time.time() + 30
    early = JobTrigger(ZENDESK_HOOK, zendesk_conn, [failed, other], 0.2, deadline, end_early_on=FAIL_STATES)
    full = JobTrigger(**old_release_kwargs([failed, other], deadline))
    decided, ended = await asyncio.gather(run_to_end(early), run_to_end(full))
    assert decided.outcome == "decided" and [job.state for job in decided.jobs] == ["failed", "running"]
    assert ended.outcome == "ended" and [job.state for job in ended.jobs] == ["failed", "succeeded"]
    assert active_pollers() == 0 and session_count() == 0
    # The two waits' reads were coalesced: one show_many a poll for both (at most ~13 polls of 0.2 s in
    # 2.5 s), never a call per wait.
    assert sandbox.state.count() == sandbox.state.count(method="GET", path_prefix=SHOW_MANY) <= 16


# ----- the Trade Desk's job_kind ------------------------------------------------------------------
def test_tradedesk_sensor_without_job_kind_fails_naming_the_field_and_the_kinds() -> None:
    with pytest.raises(ConfigurationError) as raised:
        TradeDeskJobSensor(task_id="wait", job_id="9000001")
    message = str(raised.value)
    assert "TradeDeskJobSensor 'wait' needs job_kind: 'graphql' (GraphQL bulk query jobs)" in message
    assert "'standard' (standard jobs" in message and "'legacy' (bulk jobs" in message
    with pytest.raises(ConfigurationError, match="job_kind must be one of graphql, standard, legacy"):
        TradeDeskJobSensor(task_id="wait", job_id="9000001", job_kind="bulk")
    assert TradeDeskJobSensor(task_id="wait", job_id="1", job_kind="graphql").hook_params() == {
        "job_kind": "graphql"
    }


def test_tradedesk_sensor_without_job_kind_fails_at_dag_parse(sandbox: SandboxServer) -> None:
    with pytest.raises(DagImportError, match="needs job_kind: 'graphql'"):
        run_sensor(sandbox, "tradedesk", "9000001", deferrable=True, extra={})
    assert sandbox.state.count() == 0


@pytest.mark.parametrize("deferrable", MODES)
def test_a_graphql_job_read_as_standard_fails_at_once_naming_the_kind(
    sandbox: SandboxServer, deferrable: bool
) -> None:
    job_id = sandbox.state.tradedesk.create_job(kind="graphql", duration=LONG)
    result = run_sensor(sandbox, "tradedesk", job_id, deferrable=deferrable, extra={"job_kind": "standard"})
    assert result.task_states == {"wait": "failed"}
    assert result.duration < EARLY_WITHIN
    log = result.logs["wait"]
    assert f"The Trade Desk does not know job {job_id}" in log
    assert "this sensor reads them as job_kind='standard' (GET /standardjob/{id}/status)" in log
    assert_deferred(result, False)  # the first read, on the worker, already knew: no wait at all
    assert sandbox.state.count(path_prefix="/tradedesk/standardjob/") >= 1
    assert sandbox.state.count(path_prefix="/tradedesk/graphqlbulkjob/") == 0


def test_every_example_dag_parses() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES), bundle_path=EXAMPLES, safe_mode=False)
    assert bag.import_errors == {}
    assert {"tradedesk_graphql_report", "zendesk_wait_for_job"} <= set(bag.dags)
