"""Tests for the dag.test() harness (tests/airflow_harness.py).

Nothing here may import ``airflow`` at module level: the harness environment has to be in place first.
A future conftest can call ``configure_session`` itself; the call below is then a no-op.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from airflow_harness import DagImportError, run_dag

CANARY = "canary-7f3a9c1e-do-not-log"

HEADER = """
from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, task
"""


def _conn_env(conn_id: str, host: str, password: str = CANARY) -> dict[str, str]:
    value = {
        "conn_type": "http",
        "host": host,
        "login": "bot",
        "password": password,
        "extra": {"region": "eu"},
    }
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(value)}


# ------------------------------------------------------------------------------------------------------
# 3. Basic runs: a trivial DAG and a deferrable sensor (trigger runs inline)
# ------------------------------------------------------------------------------------------------------

TRIVIAL_DAG = (
    HEADER
    + """
import logging

import structlog

from airflow.sdk import BaseHook

with DAG(dag_id="harness_trivial", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):

    @task
    def hello(**context):
        conn = BaseHook.get_connection("vendor_api")
        print(f"PRINT-PROGRESS 1/3 talking to {conn.host}")
        logging.getLogger("airflow.task").info("STDLIB-PROGRESS 2/3 conf=%s", context["dag_run"].conf)
        structlog.get_logger("vendor.progress").info("STRUCTLOG-PROGRESS 3/3 done", job="j-1")
        return {"answer": 42, "host": conn.host}

    @task
    def downstream(value: dict):
        return value["answer"] + 1

    downstream(hello())
"""
)


def test_trivial_dag_states_xcom_logs() -> None:
    env = _conn_env("vendor_api", "api.example.test")
    result = run_dag(TRIVIAL_DAG, "harness_trivial", env=env, conf={"run": "trivial"})

    assert result.state == "success"
    assert result.task_states == {"hello": "success", "downstream": "success"}
    assert result.xcom("hello") == {"answer": 42, "host": "api.example.test"}
    assert result.xcom("downstream") == 43
    assert result.xcom("hello", key="missing") is None
    assert result.xcom("no_such_task") is None

    hello_log = result.logs["hello"]
    assert "PRINT-PROGRESS 1/3 talking to api.example.test" in hello_log
    assert "STDLIB-PROGRESS 2/3 conf={'run': 'trivial'}" in hello_log
    assert "STRUCTLOG-PROGRESS 3/3 done" in hello_log
    assert "PRINT-PROGRESS" not in result.logs["downstream"]  # lines are attributed to the right task
    # The connection password was loaded by the task but never logged.
    assert CANARY not in result.output
    assert all(CANARY not in text for text in result.logs.values())
    # env= is only applied for the duration of the run.
    assert "AIRFLOW_CONN_VENDOR_API" not in os.environ
    # The DAG file was moved out of the dags folder after the run.
    assert result.dag_file.exists()
    assert not list(Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).glob("harness_*.py"))


LEAKY_DAG = (
    HEADER
    + """
import logging

import structlog

from airflow.sdk import BaseHook

with DAG(dag_id="harness_leaky", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):

    @task
    def leak():
        conn = BaseHook.get_connection("vendor_api")
        print(f"printed secret {conn.password}")
        logging.getLogger("airflow.task").info("stdlib secret %s", conn.password)
        structlog.get_logger("vendor").info("structlog secret %s", conn.password)

    leak()
"""
)


def test_capture_sees_leaked_secret_and_mask_option_redacts_it() -> None:
    """Negative control: the capture does catch a leaked secret (dag.test itself does not mask)."""
    env = _conn_env("vendor_api", "api.example.test")

    raw = run_dag(LEAKY_DAG, "harness_leaky", env=env)
    assert raw.task_states == {"leak": "success"}
    assert f"printed secret {CANARY}" in raw.logs["leak"]
    assert f"stdlib secret {CANARY}" in raw.logs["leak"]
    assert f"structlog secret {CANARY}" in raw.logs["leak"]

    masked = run_dag(LEAKY_DAG, "harness_leaky", env=env, mask_secrets=True)
    assert masked.task_states == {"leak": "success"}
    assert CANARY not in masked.output
    assert "printed secret ***" in masked.logs["leak"]
    assert "stdlib secret ***" in masked.logs["leak"]
    assert "structlog secret ***" in masked.logs["leak"]


SENSOR_DAG = """
from datetime import datetime, timedelta

from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG

with DAG(dag_id="harness_sensor", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    TimeDeltaSensor(task_id="wait", delta=timedelta(seconds=2), deferrable=True)
"""


def test_deferrable_sensor_runs_trigger_inline() -> None:
    result = run_dag(SENSOR_DAG, "harness_sensor")

    assert result.state == "success"
    assert result.task_states == {"wait": "success"}
    assert result.try_numbers == {"wait": 1}
    log = result.logs["wait"]
    assert "Pausing task as DEFERRED" in log
    assert "[DAG TEST] running trigger in line" in log
    assert "DateTimeTrigger" in log  # the trigger's own log lines are captured under the task
    assert "[DAG TEST] Trigger completed" in log
    # Deferral, then resume: the trigger fired (it waits 2s) and the task finished afterwards.
    assert log.index("Pausing task as DEFERRED") < log.index("Trigger completed")
    assert result.duration >= 1.5


MAPPED_DAG = (
    HEADER
    + """
with DAG(dag_id="harness_mapped", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):

    @task
    def double(x: int) -> int:
        print(f"MAPPED-PROGRESS x={x}")
        return x * 2

    double.expand(x=[1, 2, 3])
"""
)


def test_mapped_task_states_and_xcom() -> None:
    result = run_dag(MAPPED_DAG, "harness_mapped")

    assert result.state == "success"
    assert result.task_states == {"double": "success"}
    assert result.ti_states == {("double", 0): "success", ("double", 1): "success", ("double", 2): "success"}
    assert result.xcom("double") == [2, 4, 6]
    assert result.xcom("double", map_index=1) == 4
    assert "MAPPED-PROGRESS x=3" in result.ti_logs[("double", 2, 1)]
    assert "MAPPED-PROGRESS x=1" not in result.ti_logs[("double", 2, 1)]


# ------------------------------------------------------------------------------------------------------
# 4. Custom deferrable operator + trigger, failures, retries, task_state_store
# ------------------------------------------------------------------------------------------------------

CUSTOM_TRIGGER_DAG = """
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from airflow.exceptions import AirflowException
from airflow.sdk import DAG, BaseHook, BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

# A module from tests/ is importable from a DAG file (configure_session puts tests/ on sys.path).
from airflow_harness import HARNESS_HOME_ENV  # noqa: F401


class ConnHostTrigger(BaseTrigger):
    def __init__(self, conn_id: str, fail: bool = False) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.fail = fail

    def serialize(self) -> tuple[str, dict[str, Any]]:
        # classpath of a class defined in a DAG file = the DagBag's mangled module name; it is in
        # sys.modules, so dag.test()'s import_string() resolves it in-process.
        classpath = f"{type(self).__module__}.{type(self).__qualname__}"
        return classpath, {"conn_id": self.conn_id, "fail": self.fail}

    async def run(self):
        self.log.info("TRIGGER-PROGRESS 1/2 looking up %s", self.conn_id)
        conn = await BaseHook.aget_connection(self.conn_id)
        await asyncio.sleep(0.1)
        self.log.info("TRIGGER-PROGRESS 2/2 got host %s", conn.host)
        yield TriggerEvent({"host": conn.host, "fail": self.fail})


class ConnHostOperator(BaseOperator):
    def __init__(self, *, conn_id: str, fail: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.fail = fail

    def execute(self, context):
        store = context.get("task_state_store")
        self.log.info("OPERATOR-PROGRESS submitting, task_state_store=%s", store is not None)
        if store is not None:
            store.set("submitted_job", "job-42")
        self.defer(trigger=ConnHostTrigger(self.conn_id, self.fail), method_name="execute_complete")

    def execute_complete(self, context, event: dict[str, Any]):
        self.log.info("OPERATOR-PROGRESS resumed with %s", event)
        if event["fail"]:
            raise AirflowException(f"vendor job failed on {event['host']} (canary-free message)")
        stored = context["task_state_store"].get("submitted_job")
        return {"host": event["host"], "stored_before_defer": stored}


with DAG(dag_id="DAG_ID", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    ConnHostOperator(task_id="wait_for_job", conn_id="jobstatus_vendor", fail=FAIL)
"""


def _custom_dag(dag_id: str, fail: bool) -> str:
    return CUSTOM_TRIGGER_DAG.replace("DAG_ID", dag_id).replace("fail=FAIL", f"fail={fail}")


def test_custom_trigger_reads_env_connection() -> None:
    assert "AIRFLOW_CONN_JOBSTATUS_VENDOR" not in os.environ  # defined only through run_dag(env=...)
    env = _conn_env("jobstatus_vendor", "vendor.example.test")

    result = run_dag(_custom_dag("harness_custom_trigger", fail=False), "harness_custom_trigger", env=env)

    assert result.state == "success", result.logs
    assert result.task_states == {"wait_for_job": "success"}
    # execute_complete's return value: host read by the trigger via `await BaseHook.aget_connection`, and a
    # task_state_store value set in execute() before deferring, read back in execute_complete().
    assert result.xcom("wait_for_job") == {"host": "vendor.example.test", "stored_before_defer": "job-42"}
    log = result.logs["wait_for_job"]
    for line in (
        "OPERATOR-PROGRESS submitting, task_state_store=True",
        "Pausing task as DEFERRED",
        "TRIGGER-PROGRESS 1/2 looking up jobstatus_vendor",
        "TRIGGER-PROGRESS 2/2 got host vendor.example.test",
        "OPERATOR-PROGRESS resumed with {'host': 'vendor.example.test', 'fail': False}",
    ):
        assert line in log
    assert log.index("Pausing task as DEFERRED") < log.index("TRIGGER-PROGRESS 1/2")
    assert CANARY not in result.output
    assert "AIRFLOW_CONN_JOBSTATUS_VENDOR" not in os.environ


def test_failure_in_execute_complete_fails_task_and_run() -> None:
    env = _conn_env("jobstatus_vendor", "vendor.example.test")

    result = run_dag(_custom_dag("harness_custom_fail", fail=True), "harness_custom_fail", env=env)

    assert result.state == "failed"
    assert result.task_states == {"wait_for_job": "failed"}
    assert result.xcom("wait_for_job") is None
    log = result.logs["wait_for_job"]
    assert "AirflowException: vendor job failed on vendor.example.test (canary-free message)" in log
    assert CANARY not in result.output


RETRY_DAG = (
    HEADER
    + """
from pathlib import Path

COUNTER = Path(COUNTER_PATH)

with DAG(dag_id="harness_retry", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):

    @task(retries=1, retry_delay=timedelta(0))
    def flaky(**context):
        attempt = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1
        COUNTER.write_text(str(attempt))
        store = context["task_state_store"]
        print(f"RETRY-PROGRESS attempt={attempt} try_number={context['ti'].try_number}")
        if attempt == 1:
            store.set("job_id", "job-from-try-1")
            raise RuntimeError("transient failure on try 1")
        return {"attempt": attempt, "job_id_seen": store.get("job_id"), "missing": store.get("nope", "dflt")}

    flaky()
"""
)


def test_retry_then_success_and_task_state_store_survives_retry(tmp_path: Path) -> None:
    counter = tmp_path / "attempts.txt"
    source = RETRY_DAG.replace("COUNTER_PATH", repr(str(counter)))

    result = run_dag(source, "harness_retry")

    assert result.state == "success"
    assert result.task_states == {"flaky": "success"}
    assert result.try_numbers == {"flaky": 2}
    assert counter.read_text() == "2"
    # A task_state_store value .set() in try 1 is visible with .get() in try 2 under dag.test().
    assert result.xcom("flaky") == {"attempt": 2, "job_id_seen": "job-from-try-1", "missing": "dflt"}
    try1, try2 = result.ti_logs[("flaky", -1, 1)], result.ti_logs[("flaky", -1, 2)]
    assert "RETRY-PROGRESS attempt=1 try_number=1" in try1
    assert "RuntimeError: transient failure on try 1" in try1
    assert "new_state=up_for_retry" in try1
    assert "RETRY-PROGRESS attempt=2 try_number=2" in try2
    assert "transient failure" not in try2


# ------------------------------------------------------------------------------------------------------
# Harness guard rails
# ------------------------------------------------------------------------------------------------------

EXEC_TIMEOUT_DAG = (
    HEADER
    + """
with DAG(dag_id="harness_exec_timeout", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):

    @task(execution_timeout=timedelta(minutes=5))
    def quick():
        return "ok"

    quick()
"""
)


def test_pytest_timeout_alarm_survives_airflow_signal_timeouts() -> None:
    """A task's execution_timeout (and the DagBag import timeout) reset SIGALRM; run_dag re-arms it."""
    fired: list[int] = []

    def handler(signum: int, frame: object) -> None:
        fired.append(signum)

    previous_handler = signal.signal(signal.SIGALRM, handler)
    previous_timer = signal.setitimer(signal.ITIMER_REAL, 600)
    try:
        result = run_dag(EXEC_TIMEOUT_DAG, "harness_exec_timeout")
        assert result.task_states == {"quick": "success"}
        assert signal.getsignal(signal.SIGALRM) is handler
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 600
        assert not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_timer[0] > 0:
            signal.setitimer(signal.ITIMER_REAL, *previous_timer)


def test_import_error_is_raised() -> None:
    with pytest.raises(DagImportError, match="failed to import"):
        run_dag("from airflow.sdk import DAG\nthis is not python\n", "harness_broken")
    with pytest.raises(DagImportError, match="not found"):
        run_dag(SENSOR_DAG, "some_other_dag_id")


async def test_run_dag_refuses_a_running_event_loop() -> None:
    with pytest.raises(RuntimeError, match="sync test"):
        run_dag(SENSOR_DAG, "harness_sensor")
