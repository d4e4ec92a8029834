"""A retry carries on, a clear runs the task again (issue 16, item 4), and the deployment's
``[operators] default_deferrable`` decides where a task waits (item 5).

Airflow tells the two apart through the task instance's ``max_tries``: a clear raises it to
``try_number + retries``, a retry leaves it. These tests give the operator exactly what Airflow's task
runner gives it (``try_number``, ``max_tries``, the task state store) and check what reaches the sandbox.
The same rules in a real Airflow (a clear from the REST API) are in ``tests/e2e/test_clears.py``.
"""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import pytest
from test_submit_ledger import MemoryStore, MemoryTi

from airflow_jobstatus.core.ledger import LEDGER_KEY
from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator
from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.sensors.zendesk import ZendeskJobSensor


def operator(**kwargs: Any) -> ZendeskBulkOperator:
    """A user's bulk update of three tickets, polling in the worker (``retries=2``)."""
    return ZendeskBulkOperator(
        task_id="solve",
        resource="tickets",
        action="update_many",
        items=[1, 2, 3],
        change={"status": "solved"},
        deferrable=False,
        poll_interval=0.1,
        retries=2,
        **kwargs,
    )


def run(store: MemoryStore, try_number: int, max_tries: int | None, **kwargs: Any) -> list[dict[str, Any]]:
    """One try of the task, as Airflow's task runner would start it."""
    ti = MemoryTi(try_number, max_tries=max_tries)
    rows: list[dict[str, Any]] = operator(**kwargs).execute({"ti": ti, "task_state_store": store})
    return rows


@pytest.fixture
def quick(sandbox: SandboxServer, zendesk_conn: str) -> SandboxServer:
    sandbox.state.zendesk.job_seconds = 0.1
    return sandbox


def logged(capfd: pytest.CaptureFixture[str]) -> str:
    """What the task logged since the last call (the task's log goes to the captured output)."""
    out, err = capfd.readouterr()
    return out + err


def job_ids(sandbox: SandboxServer) -> list[str]:
    return [submit.job_id for submit in sandbox.state.zendesk.submits]


def test_a_retry_reattaches_and_sends_nothing(quick: SandboxServer) -> None:
    store = MemoryStore()
    first = run(store, try_number=1, max_tries=2)
    second = run(store, try_number=2, max_tries=2)  # a retry: max_tries as it was
    assert len(quick.state.zendesk.submits) == 1
    assert [row["job_id"] for row in second] == [row["job_id"] for row in first]


def test_a_clear_submits_anew(quick: SandboxServer, capfd: pytest.CaptureFixture[str]) -> None:
    store = MemoryStore()
    first = run(store, try_number=1, max_tries=2)
    capfd.readouterr()
    # Cleared after try 1: Airflow sets max_tries = try_number + retries = 3; the next try is 2.
    again = run(store, try_number=2, max_tries=3)
    assert len(quick.state.zendesk.submits) == 2
    assert again[0]["job_id"] != first[0]["job_id"] and again[0]["job_id"] == job_ids(quick)[1]
    said = logged(capfd)
    assert "the task was cleared after try 1 (max_tries 2 -> 3)" in said
    assert "submits everything anew" in said
    # A retry within the cleared run carries on with the new run's jobs.
    run(store, try_number=3, max_tries=3)
    assert len(quick.state.zendesk.submits) == 2
    assert store.get(LEDGER_KEY)["max_tries"] == 3


def test_a_second_clear_submits_anew_again(quick: SandboxServer) -> None:
    store = MemoryStore()
    run(store, try_number=1, max_tries=0)  # retries=0 in the DAG
    run(store, try_number=2, max_tries=1)  # cleared: 1 + 0
    run(store, try_number=3, max_tries=2)  # cleared again: 2 + 0
    assert len(quick.state.zendesk.submits) == 3


def test_reattach_on_clear_carries_on_after_a_clear(
    quick: SandboxServer, capfd: pytest.CaptureFixture[str]
) -> None:
    store = MemoryStore()
    first = run(store, try_number=1, max_tries=2, reattach_on_clear=True)
    capfd.readouterr()
    again = run(store, try_number=2, max_tries=3, reattach_on_clear=True)
    assert len(quick.state.zendesk.submits) == 1
    assert [row["job_id"] for row in again] == [row["job_id"] for row in first]
    assert "reattaching, as reattach_on_clear=True asks" in logged(capfd)
    # The ledger now belongs to the cleared run: its retries are retries, not clears.
    assert store.get(LEDGER_KEY)["max_tries"] == 3


def test_the_same_try_started_again_submits_anew(
    quick: SandboxServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """``airflow tasks test`` on an existing run starts the same try again: a new run of the task."""
    store = MemoryStore()
    run(store, try_number=1, max_tries=2)
    capfd.readouterr()
    run(store, try_number=1, max_tries=2)
    assert len(quick.state.zendesk.submits) == 2
    assert "try 1 started again from the beginning" in logged(capfd)


def test_a_ledger_without_max_tries_is_retried_as_before(quick: SandboxServer) -> None:
    """A ledger written by the release before this one has no ``max_tries``: a later try reattaches."""
    store = MemoryStore()
    run(store, try_number=1, max_tries=2)
    head = dict(store.get(LEDGER_KEY))
    del head["max_tries"]
    store.set(LEDGER_KEY, head)
    run(store, try_number=2, max_tries=3)
    assert len(quick.state.zendesk.submits) == 1


# --- [operators] default_deferrable ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("setting", "expected"),
    [(None, True), ("False", False), ("false", False), ("True", True)],
    ids=["unset-defers", "False", "false", "True"],
)
def test_the_deployments_default_deferrable_decides(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, expected: bool
) -> None:
    if setting is None:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", setting)
    task = ZendeskBulkOperator(task_id="t", resource="tickets", action="destroy_many", items=[1])
    sensor = ZendeskJobSensor(task_id="s", job_id="abc")
    assert (task.deferrable, sensor.deferrable) == (expected, expected)


def test_an_explicit_argument_beats_the_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    task = ZendeskBulkOperator(
        task_id="t", resource="tickets", action="destroy_many", items=[1], deferrable=True
    )
    sensor = ZendeskJobSensor(task_id="s", job_id="abc", deferrable=True)
    assert task.deferrable and sensor.deferrable


def test_a_default_deferrable_that_is_not_a_boolean_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "maybe")
    with pytest.raises(ConfigurationError, match=r"\[operators\] default_deferrable is not a boolean"):
        ZendeskBulkOperator(task_id="t", resource="tickets", action="destroy_many", items=[1])
    with pytest.raises(ConfigurationError, match="deferrable must be True, False or None"):
        ZendeskBulkOperator(
            task_id="t", resource="tickets", action="destroy_many", items=[1], deferrable="no"
        )  # type: ignore[arg-type]


GENERATED_CFG = """[operators]
# The default value of attribute "deferrable" in operators and sensors.
#
# Variable: AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE
#
default_deferrable = false
"""


@pytest.mark.parametrize(
    ("file_text", "expected"),
    [
        (GENERATED_CFG, True),  # what Airflow writes into a new airflow.cfg: not a choice
        ("[operators]\ndefault_deferrable = False\n", False),  # written by hand or by a Helm chart
        (GENERATED_CFG.replace("= false", "= False"), False),  # the generated line, edited
    ],
    ids=["generated-defaults", "written", "edited"],
)
def test_default_deferrable_in_airflow_cfg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, file_text: str, expected: bool
) -> None:
    import airflow.configuration

    monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text(file_text)
    monkeypatch.setattr(airflow.configuration, "AIRFLOW_CONFIG", str(cfg))
    conf = airflow.configuration.conf
    had_section = conf.has_section("operators")
    conf.read_string(file_text)  # as Airflow reads its airflow.cfg at start
    try:
        task = ZendeskBulkOperator(task_id="t", resource="tickets", action="destroy_many", items=[1])
        assert task.deferrable is expected
    finally:
        configparser.ConfigParser.remove_option(conf, "operators", "default_deferrable")
        if not had_section and not conf.items("operators", raw=True):
            conf.remove_section("operators")
