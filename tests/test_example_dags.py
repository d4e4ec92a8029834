"""The shipped example DAGs run as written against the sandbox (no vendor account)."""

from __future__ import annotations

from pathlib import Path

from airflow_harness import run_dag
from conftest import CANARY_TOKEN, tradedesk_connection, wistia_connection, zendesk_connection

from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.sandbox.tradedesk_jobs import row_count

EXAMPLES = Path(__file__).resolve().parent.parent / "example_dags"


def test_zendesk_wait_for_job_example(sandbox: SandboxServer) -> None:
    zendesk = sandbox.state.zendesk
    ids = [
        zendesk.create_job(total=40, duration=2.0),
        zendesk.create_job(total=10, duration=1.0, failed_indexes=[3]),
    ]
    result = run_dag(
        (EXAMPLES / "zendesk_wait_for_job.py").read_text(),
        "zendesk_wait_for_job",
        env={"AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url)},
        conf={"job_ids": ids},
    )
    assert result.state == "success"
    assert result.task_states == {"wait_for_jobs": "success", "summarize": "success"}
    assert [job["id"] for job in result.xcom("wait_for_jobs")] == ids
    assert result.xcom("summarize") == {"jobs": 2, "items": 50, "failed_items": 1}
    assert "failed item: index=3" in result.logs["summarize"]
    assert CANARY_TOKEN not in result.output


def test_zendesk_bulk_update_example(sandbox: SandboxServer) -> None:
    sandbox.state.zendesk.fail_ids = {1042}
    result = run_dag(
        (EXAMPLES / "zendesk_bulk_update.py").read_text(),
        "zendesk_bulk_update",
        env={"AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url)},
    )
    assert result.task_states == {"plan_updates": "success", "update_tickets": "success", "report": "success"}
    assert [submit.count for submit in sandbox.state.zendesk.submits] == [100, 100, 50]
    rows = result.xcom("update_tickets")
    assert [row["id"] for row in rows] == list(range(1001, 1251))
    assert result.xcom("report") == {"tickets": 250, "updated": 249, "failed": 1}
    assert "ticket 1042 (item 41) failed: TicketUpdateFailed" in result.logs["report"]
    assert "Pausing task as DEFERRED" in result.logs["update_tickets"]
    assert CANARY_TOKEN not in result.output


def test_wistia_tag_and_trim_example(sandbox: SandboxServer) -> None:
    result = run_dag(
        (EXAMPLES / "wistia_tag_and_trim.py").read_text(),
        "wistia_tag_and_trim",
        env={"AIRFLOW_CONN_WISTIA_DEFAULT": wistia_connection(sandbox.url)},
    )
    assert result.task_states == {
        "list_media": "success",
        "tag_media": "success",
        "trim_intro": "success",
        "report": "success",
    }
    submits = sandbox.state.wistia.submits
    assert sorted((s.path, s.count) for s in submits) == [
        ("/wistia/medias/intro0001/trims", 1),
        ("/wistia/taggings/bulk_create", 50),
        ("/wistia/taggings/bulk_create", 100),
        ("/wistia/taggings/bulk_create", 100),
    ]
    trim = next(s for s in submits if s.path.endswith("/trims"))
    assert trim.body == {"trims": ["00:00:00.000-00:00:05.000"]}
    assert [len(row["hashed_ids"]) for row in result.xcom("tag_media")] == [100, 100, 50]
    assert result.xcom("report") == {"jobs": 4, "media_done": 251, "media_failed": 0}
    assert "Pausing task as DEFERRED" in result.logs["tag_media"]
    assert CANARY_TOKEN not in result.output


def test_wistia_example_reports_a_failed_trim(sandbox: SandboxServer) -> None:
    result = run_dag(
        (EXAMPLES / "wistia_tag_and_trim.py").read_text(),
        "wistia_tag_and_trim",
        env={"AIRFLOW_CONN_WISTIA_DEFAULT": wistia_connection(sandbox.url)},
        conf={"count": 5, "trim_media": "introjobfail"},
    )
    assert result.task_states["trim_intro"] == "failed"
    assert result.task_states["report"] == "success"  # all_done: the report still runs
    assert result.xcom("report") == {"jobs": 2, "media_done": 5, "media_failed": 1}
    assert "it covered media introjobfail" in result.logs["trim_intro"]


def test_tradedesk_graphql_report_example(sandbox: SandboxServer, tmp_path: Path) -> None:
    result = run_dag(
        (EXAMPLES / "tradedesk_graphql_report.py").read_text(),
        "tradedesk_graphql_report",
        env={"AIRFLOW_CONN_TRADEDESK_DEFAULT": tradedesk_connection(sandbox.url)},
        conf={"partner_id": "partner42", "output_base": f"file://{tmp_path}"},
    )
    assert result.task_states == {"run_report": "success", "read_report": "success"}
    (submit,) = sandbox.state.tradedesk.submits
    assert 'advertisers(partnerId: "partner42")' in submit.body["query"]
    stored = result.xcom("run_report")
    (written,) = tmp_path.glob("advertisers-*.json")
    assert stored["path"] == f"file://{written}" and stored["size"] == written.stat().st_size
    assert result.xcom("read_report") == {"bytes": stored["size"], "data": {"rows": row_count(2000)}}
    assert "sha256 ok" in result.logs["read_report"]
    assert "Pausing task as DEFERRED" in result.logs["run_report"]
    assert CANARY_TOKEN not in result.output
    assert sandbox.state.tradedesk.auth_leaks == []
