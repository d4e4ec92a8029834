"""No task log served by the API (and no XCom, no component output) contains the connections' token.

It scans every run in the deployment: the example runs (``example_runs``, which it asks for, so that there
is something of every vendor to scan wherever it runs) and whatever the other e2e tests ran before it
(named to come last in tests/e2e, it sees all of them in a whole run). Every connection's token is
``CANARY_TOKEN`` (tests/conftest.py), which the sandbox also expects.
"""

from __future__ import annotations

from conftest import CANARY_TOKEN

from .conftest import Deployment, ExampleRuns


def test_no_task_log_contains_the_token(deployment: Deployment, example_runs: ExampleRuns) -> None:
    api = deployment.api
    runs = api.get("dags/~/dagRuns", limit=1000)["dag_runs"]
    assert {run["dag_run_id"] for run in runs} >= set(example_runs.run_ids.values())
    scanned = 0
    for ti in api.get("dags/~/dagRuns/~/taskInstances", limit=1000)["task_instances"]:
        dag_id, run_id, task_id = ti["dag_id"], ti["dag_run_id"], ti["task_id"]
        for try_number in range(1, ti["try_number"] + 1):
            text = api.log_text(dag_id, run_id, task_id, try_number)
            assert CANARY_TOKEN not in text, (
                f"the token is in the log of {dag_id}/{run_id}/{task_id} #{try_number}"
            )
            scanned += 1
    assert scanned >= len(runs)
    xcoms = api.request("GET", "dags/~/dagRuns/~/taskInstances/~/xcomEntries", params={"limit": 1000}).text
    assert CANARY_TOKEN not in xcoms
    for path in sorted(deployment.airflow.component_logs.glob("*.log")):
        assert CANARY_TOKEN not in path.read_text(errors="replace"), f"the token is in {path}"
