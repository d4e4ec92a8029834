"""A small client of Airflow's REST API (``/api/v2``) for the end-to-end tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import requests

FINISHED = {"success", "failed"}
#: Task instance states past a deferral: a task waited for to defer that reaches one never will.
ENDED = {"success", "failed", "upstream_failed", "skipped", "removed"}
#: Seconds between two reads of a run or task instance while waiting for it.
POLL = 0.5


class AirflowApi:
    """Calls the api-server as the admin user (a JWT from ``POST /auth/token``)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One call; raise with the answer's text on an HTTP error."""
        response = self.session.request(method, f"{self.url}/api/v2/{path.lstrip('/')}", timeout=60, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: HTTP {response.status_code}: {response.text[:2000]}")
        return response

    def get(self, path: str, **params: Any) -> Any:
        """GET a JSON document."""
        return self.request("GET", path, params=params).json()

    # --- DAGs and runs ---------------------------------------------------------------------------
    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 120.0) -> None:
        """Wait until the dag-processor has parsed every DAG (they are known to the API)."""
        deadline = time.monotonic() + timeout
        missing = set(dag_ids)
        while missing and time.monotonic() < deadline:
            known = {dag["dag_id"] for dag in self.get("dags", limit=1000)["dags"]}
            missing -= known
            if missing:
                time.sleep(POLL)
        if missing:
            errors = self.get("importErrors")
            raise AssertionError(
                f"DAGs not parsed after {timeout:g} s: {sorted(missing)}; import errors: {errors}"
            )

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Create a manual run with ``conf``; return its run id."""
        run_id = f"e2e__{dag_id}__{uuid.uuid4().hex[:8]}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        self.request("POST", f"dags/{dag_id}/dagRuns", json=body)
        return run_id

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """The run's JSON."""
        return dict(self.get(f"dags/{dag_id}/dagRuns/{quote(run_id)}"))

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 240.0,
        until: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Wait until the run has finished (or ``until(run)`` is true); return the run's JSON."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in FINISHED or (until is not None and until(run)):
                return run
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"run {run_id} still {run['state']} after {timeout:g} s:\n{self.describe(dag_id, run_id)}"
                )
            time.sleep(POLL)

    def expect_success(self, dag_id: str, run_id: str, timeout: float = 240.0) -> dict[str, Any]:
        """Wait for the run and assert it succeeded (with every task's state and failed logs if not)."""
        run = self.wait_for_run(dag_id, run_id, timeout)
        assert run["state"] == "success", (
            f"run {run_id} ended {run['state']}:\n{self.describe(dag_id, run_id)}"
        )
        return run

    # --- task instances --------------------------------------------------------------------------
    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """The run's task instances by task id."""
        found = self.get(f"dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances", limit=1000)
        return {ti["task_id"]: ti for ti in found["task_instances"]}

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """One task instance."""
        return dict(self.get(f"dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}"))

    def wait_for_task(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        check: Callable[[dict[str, Any]], bool],
        timeout: float = 120.0,
    ) -> dict[str, Any]:
        """Wait until ``check(task instance)`` is true; return the task instance."""
        deadline = time.monotonic() + timeout
        while True:
            ti = self.task_instance(dag_id, run_id, task_id)
            if check(ti):
                return ti
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{task_id}: condition not met after {timeout:g} s: {ti}\n{self.describe(dag_id, run_id)}"
                )
            time.sleep(POLL)

    def wait_for_deferral(
        self, dag_id: str, run_id: str, task_id: str, timeout: float = 120.0, *, after_try: int = 0
    ) -> dict[str, Any]:
        """Wait until the task (in a try after ``after_try``) is deferred; fail at once if it ended
        instead. Return the task instance."""

        def deferred(ti: dict[str, Any]) -> bool:
            if ti["try_number"] <= after_try:
                return False
            if ti["state"] in ENDED:
                described = self.describe(dag_id, run_id)
                raise AssertionError(f"{task_id} ended {ti['state']} instead of deferring:\n{described}")
            return bool(ti["state"] == "deferred")

        return self.wait_for_task(dag_id, run_id, task_id, deferred, timeout)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """An XCom value of a task (JSON)."""
        return self.get(f"dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/xcomEntries/{key}")[
            "value"
        ]

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[dict[str, Any]]:
        """The structured log of one try, as the API serves it (the worker's and the triggerer's lines)."""
        path = f"dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/logs/{try_number}"
        response = self.request(
            "GET", path, params={"full_content": "true"}, headers={"Accept": "application/json"}
        )
        return list(response.json()["content"])

    def log_text(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """One try's log as the API's raw answer (every field of every line)."""
        path = f"dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/logs/{try_number}"
        return self.request(
            "GET", path, params={"full_content": "true"}, headers={"Accept": "application/json"}
        ).text

    def describe(self, dag_id: str, run_id: str) -> str:
        """Every task's state, and the last lines of the log of each task that did not succeed."""
        lines = []
        for task_id, ti in self.task_instances(dag_id, run_id).items():
            lines.append(f"{task_id}: {ti['state']} (try {ti['try_number']})")
            if ti["state"] not in (None, "success") and ti["try_number"]:
                for entry in self.log(dag_id, run_id, task_id, ti["try_number"])[-40:]:
                    lines.append(f"    {entry.get('level', '')} {entry.get('event')}")
        return "\n".join(lines)


def events(entries: list[dict[str, Any]]) -> list[str]:
    """The message of every log line."""
    return [str(entry.get("event", "")) for entry in entries]


def assert_deferred(
    api: AirflowApi, dag_id: str, run_id: str, task_id: str, try_number: int = 1
) -> list[str]:
    """Assert, from the task log served by the API, that the task deferred and the triggerer did the waiting.

    The evidence (Airflow 3.3): the task runner logs ``Pausing task as DEFERRED.`` when the worker hands
    the task over; the triggerer writes its lines for the try to a file of its own,
    ``attempt=<n>.log.trigger.<triggerer job id>.log``, listed in the log's source details, with
    ``Trigger fired event`` once the trigger yielded its event. Returns the source files of the log.
    """
    lines = events(api.log(dag_id, run_id, task_id, try_number))
    assert any(line.startswith("Pausing task as DEFERRED") for line in lines), (
        f"{task_id} never deferred: {lines}"
    )
    trigger_files = [line for line in lines if ".log.trigger." in line and line.endswith(".log")]
    assert trigger_files, f"{task_id}: no triggerer log for try {try_number}: {lines}"
    assert "Trigger fired event" in lines, f"{task_id}: the trigger fired no event: {lines}"
    return trigger_files
