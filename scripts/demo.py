"""`make demo`: run the example DAGs against the local sandbox, with no vendor account.

Starts the sandbox on a free port and points the ``zendesk_default``, ``wistia_default`` and
``tradedesk_default`` connections at it. Creates a few Zendesk jobs in it (one clean, one with failed
items, one quick) for the wait example, then bulk-updates 250 tickets with the operator example (the
sandbox refuses one), tags 250 Wistia media while trimming one, and streams a 5 MB Trade Desk GraphQL
report to a file. Runs each example DAG with ``airflow dags test`` (the CLI form of ``dag.test()``:
the triggerer's work runs in-process) and prints what happened. Airflow's home is ``.airflow/demo``
(ignored by git); the metadata DB is created on first use.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".airflow" / "demo"
#: Log messages worth showing: progress lines, deferral, outcomes, failed items, errors.
SHOWN = re.compile(
    r"^(job \w+|\d+ jobs? ended|Pausing task as DEFERRED|failed item|ticket \d+|Done\. Returned value"
    r"|tag \d+ media|trim media|started GraphQL|result of job|file://"
    r"|.*Error)"
)


def airflow_env() -> dict[str, str]:
    """Environment for the airflow CLI: a private home, the example DAGs, SQLite, no examples."""
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(HOME),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "example_dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{HOME / 'airflow.db'}",
    )
    return env


def run_dag(dag_id: str, conf: dict[str, object], env: dict[str, str]) -> bool:
    """Run one DAG with ``airflow dags test``; print the lines worth reading; True if the run succeeded."""
    command = [sys.executable, "-m", "airflow", "dags", "test", dag_id, "-c", json.dumps(conf)]
    print(f"\n$ airflow dags test {dag_id} -c '{json.dumps(conf)}'", flush=True)
    process = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    output = process.stdout + process.stderr
    for line in output.splitlines():
        message = line.split("] ", 1)[-1].split(" [airflow")[0].split(" [task]")[0].strip()
        if SHOWN.match(message):
            print("  " + message[:200], flush=True)
    succeeded = process.returncode == 0 and "state=success" in output
    print(f"  dag run: {'success' if succeeded else 'FAILED'}", flush=True)
    return succeeded


def main() -> int:
    """Run the demo; exit non-zero if a DAG run did not end as expected."""
    env = airflow_env()
    os.environ.update({k: v for k, v in env.items() if k.startswith("AIRFLOW")})
    HOME.mkdir(parents=True, exist_ok=True)
    if not (HOME / "airflow.db").exists():
        print("creating the Airflow metadata DB in .airflow/demo ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL
        )

    from airflow_jobstatus.hooks.zendesk import ZendeskJobHook
    from airflow_jobstatus.sandbox import SandboxServer

    with SandboxServer() as sandbox:
        print(f"sandbox listening on {sandbox.url}", flush=True)
        conn = {
            "conn_type": "jobstatus_zendesk",
            "host": sandbox.url,
            "login": "agent@example.com",
            "password": "sandbox-token",
        }
        env["AIRFLOW_CONN_ZENDESK_DEFAULT"] = os.environ["AIRFLOW_CONN_ZENDESK_DEFAULT"] = json.dumps(conn)
        zendesk = sandbox.state.zendesk
        job_ids = [
            zendesk.create_job(total=200, duration=30, job_type="bulk_update_tickets"),
            zendesk.create_job(
                total=150, duration=24, failed_indexes=[3, 42], job_type="bulk_update_tickets"
            ),
            zendesk.create_job(total=20, duration=16, job_type="bulk_create_users"),
        ]
        ok = run_dag("zendesk_wait_for_job", {"job_ids": job_ids}, env)

        print("\noutcome of each job (read back with ZendeskJobHook):")
        for job in ZendeskJobHook("zendesk_default").get_jobs(job_ids):
            failed = ", ".join(item.describe() for item in job.failed_items) or "none"
            print(f"  job {job.id}: {job.state.value} {job.progress_text()}; failed items: {failed}")
        reads = sandbox.state.count(method="GET", path_prefix="/api/v2/job_statuses")
        print(f"  status reads the sandbox served: {reads}")

        zendesk.job_seconds = 12.0
        zendesk.fail_ids = {1042}  # one ticket the sandbox refuses to update, to show failure reporting
        ok = run_dag("zendesk_bulk_update", {"first_ticket_id": 1001, "count": 250}, env) and ok
        print("\nwhat the sandbox accepted from ZendeskBulkOperator:")
        for submit in zendesk.submits:
            print(f"  {submit.method} {submit.path}: {submit.count} items -> job {submit.job_id}")

        wistia_conn = {
            "conn_type": "jobstatus_wistia",
            "host": f"{sandbox.url}/wistia",
            "password": sandbox.state.wistia.config.api_token,
        }
        env["AIRFLOW_CONN_WISTIA_DEFAULT"] = json.dumps(wistia_conn)
        ok = run_dag("wistia_tag_and_trim", {"count": 250, "trim_media": "intro0001"}, env) and ok
        print("\nwhat the sandbox accepted from the Wistia operators:")
        for wistia_submit in sandbox.state.wistia.submits:
            print(
                f"  {wistia_submit.method} {wistia_submit.path}: {wistia_submit.count} media "
                f"-> job {wistia_submit.job_id}"
            )

        tradedesk = sandbox.state.tradedesk
        tradedesk_conn = {
            "conn_type": "jobstatus_tradedesk",
            "host": f"{sandbox.url}/tradedesk",
            "password": tradedesk.config.api_token,
        }
        env["AIRFLOW_CONN_TRADEDESK_DEFAULT"] = json.dumps(tradedesk_conn)
        tradedesk.config.result_bytes = 5_000_000  # above the 1 MB inline limit: streamed to a file
        reports = HOME / "reports"
        ok = run_dag("tradedesk_graphql_report", {"output_base": f"file://{reports}"}, env) and ok
        print("\nwhat the sandbox served for TradeDeskGraphQLBulkQueryOperator:")
        for ttd_submit in tradedesk.submits:
            print(f"  {ttd_submit.method} {ttd_submit.path} -> job {ttd_submit.job_id}")
        print(
            f"  result downloads: {len(tradedesk.downloads)}; requests to the result host with TTD-Auth: "
            f"{len(tradedesk.auth_leaks)}"
        )
        for report in sorted(reports.glob("*.json")):
            print(f"  {report}: {report.stat().st_size} bytes")
    print("\ndemo " + ("succeeded" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
