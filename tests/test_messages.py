"""What our messages say (issue 16, items 8 and 12): a failure's first line says why the task failed, with
the counts after it; counts have their plurals; list arguments given as other text are refused, naming
the field. The operators run against the sandbox over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from airflow_harness import run_dag_module
from conftest import tradedesk_connection, zendesk_connection
from test_submit_ledger import MemoryStore, MemoryTi

from airflow_jobstatus.compat import AirflowException
from airflow_jobstatus.core.models import Job, JobState
from airflow_jobstatus.core.outcomes import Verdict, count_states, headline, judge
from airflow_jobstatus.core.wording import plural
from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.hooks.zendesk import ZendeskJobHook
from airflow_jobstatus.job_task import rendered_list
from airflow_jobstatus.operators.base import SubmitJobOperator
from airflow_jobstatus.operators.tradedesk import (
    TradeDeskGraphQLBulkQueryOperator,
    TradeDeskStandardJobOperator,
)
from airflow_jobstatus.operators.wistia import WistiaBulkTagOperator, WistiaMediaBulkOperator
from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator
from airflow_jobstatus.sandbox import SandboxServer

QUERY = "query { advertisers { nodes { id name } } }"
FAIL = "[sandbox:fail]"


def failure_lines(operator: SubmitJobOperator) -> tuple[list[str], MemoryTi]:
    """Run ``operator`` in the worker until it fails; the lines of its failure message, and its XCom."""
    operator.deferrable = False
    operator.poll_interval = 0.1
    ti = MemoryTi()
    with pytest.raises(AirflowException) as raised:
        operator.execute({"ti": ti, "task_state_store": MemoryStore()})
    return str(raised.value).splitlines(), ti


# --- the words ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "args", "said"),
    [
        (0, ("job",), "0 jobs"),
        (1, ("job",), "1 job"),
        (2, ("job",), "2 jobs"),
        (1, ("media", "media"), "1 media"),
        (3, ("media", "media"), "3 media"),
        (1, ("byte",), "1 byte"),
    ],
)
def test_plural_puts_the_noun_in_the_plural_unless_there_is_one(
    count: int, args: tuple[str], said: str
) -> None:
    assert plural(count, *args) == said


def test_a_headline_is_one_line_and_says_how_many_reasons_it_left_out() -> None:
    reasons = [f"id {n}: RecordInvalid:\nthe subject is\r\ntoo long" for n in range(50)]
    line = headline("50 of 60 items failed (job 7 partial)", reasons)
    assert "\n" not in line and "\r" not in line
    assert line.startswith(
        "50 of 60 items failed (job 7 partial): id 0: RecordInvalid: the subject is too long; "
    )
    assert line.endswith(" more") and len(line) < 400
    shown = line.count("RecordInvalid")
    assert f"; and {50 - shown} more" in line
    # One reason too long for a headline is shortened, never dropped.
    long = headline("job 1 failed", ["x" * 5000])
    assert long.startswith("job 1 failed: xxx") and long.endswith("...") and len(long) < 400


def test_counts_of_one_are_singular() -> None:
    job = Job(id="1", vendor="zendesk", state=JobState.SUCCEEDED, vendor_status="completed")
    assert count_states([job]) == "1 job ended: 1 succeeded"
    assert count_states([job, job.model_copy(update={"id": "2"})]) == "2 jobs ended: 2 succeeded"


def test_a_verdict_without_a_headline_starts_with_its_first_failure() -> None:
    verdict = Verdict(ok=False, summary="1 job ended: 1 failed", failures=["job 1 ended failed:\nboom"])
    assert verdict.error_message().splitlines() == [
        "job 1 ended failed: boom",
        "1 job ended: 1 failed",
        "job 1 ended failed:",
        "boom",
    ]


# --- items that are text but no list ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1,2,3", "abc", "1", '"1,2,3"', "{'a': 1}", ""])
def test_text_that_holds_no_list_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        rendered_list(text, "items")
    message = str(raised.value)
    assert message.startswith(f"items must be a list, not the text {text.strip()!r}: pass a list")
    assert 'a template that renders a JSON list such as "[1, 2, 3]"' in message


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("[1, 2, 3]", [1, 2, 3]),
        ("['a1', 'b2']", ["a1", "b2"]),
        (' [{"id": 1}] ', [{"id": 1}]),
        ("(1, 2)", (1, 2)),
    ],
)
def test_text_that_holds_a_list_is_read_back(text: str, read: Any) -> None:
    assert rendered_list(text, "items") == read


@pytest.mark.parametrize("native", [False, True], ids=["text-rendering", "native-rendering"])
def test_items_given_as_comma_separated_text_fail_before_any_request(
    sandbox: SandboxServer, zendesk_conn: str, native: bool
) -> None:
    """A DAG rendering as native objects turns "1,2,3" into a tuple: refused all the same."""
    from airflow.sdk import DAG

    with DAG(dag_id="items_text", schedule=None, render_template_as_native_obj=native):
        bulk = ZendeskBulkOperator(
            task_id="bulk",
            resource="tickets",
            action="update_many",
            items="1,2,3",
            change={"status": "solved"},
        )
    bulk.render_template_fields({"params": {}})  # type: ignore[arg-type]
    assert bulk.items == ((1, 2, 3) if native else "1,2,3")  # what Airflow's rendering made of it
    with pytest.raises(ConfigurationError, match=r"^items must be a list, not the text '1,2,3': pass a list"):
        bulk.execute({"ti": MemoryTi(), "task_state_store": MemoryStore()})
    assert sandbox.state.count(path_prefix="/api/") == 0


def test_hashed_ids_given_as_text_fail_naming_hashed_ids(sandbox: SandboxServer, wistia_conn: str) -> None:
    tag = WistiaBulkTagOperator(task_id="tag", hashed_ids="media0001,media0002", tag_names=["x"])
    with pytest.raises(
        ConfigurationError, match=r"^hashed_ids must be a list, not the text 'media0001,media0002'"
    ):
        tag.execute({"ti": MemoryTi(), "task_state_store": MemoryStore()})
    assert sandbox.state.count(path_prefix="/wistia/") == 0


def test_a_list_rendered_as_text_works_and_comma_separated_ids_fail_once(sandbox: SandboxServer) -> None:
    # tests/dags/items_from_xcom.py: "rendered" gets plan's list as rendered text, "comma" gets the text.
    result = run_dag_module(
        "items_from_xcom",
        "items_from_xcom",
        args={"planned": [101, 102, 103], "comma_text": "101,102,103"},
        env={"AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url)},
    )
    assert result.task_states == {"plan": "success", "rendered": "success", "comma": "failed"}
    assert [row["id"] for row in result.xcom("rendered")] == [101, 102, 103]
    assert result.try_numbers["comma"] == 1  # a retry would refuse it again: none is used
    assert "items must be a list, not the text '101,102,103'" in result.logs["comma"]
    assert len(sandbox.state.zendesk.submits) == 1  # the rendered list's, nothing for the text


# --- failure headlines, per vendor --------------------------------------------------------------------


def test_a_move_that_refused_a_media_says_so_first(sandbox: SandboxServer, wistia_conn: str) -> None:
    move = WistiaMediaBulkOperator(
        task_id="move", action="move", hashed_ids=["media001", "missing002"], folder_id="f0ld3r1d"
    )
    lines, ti = failure_lines(move)
    (job_id,) = ti.xcom["job_ids"]
    assert lines[0] == f"1 of 2 media refused at submit (job {job_id}): missing002: Media not found"
    assert lines[1] == "1 job ended: 1 succeeded; 2 media"
    assert f"job {job_id} refused id missing002: Media not found" in lines[2:]


def test_a_failed_wistia_job_says_it_failed_and_what_it_covered(
    sandbox: SandboxServer, wistia_conn: str
) -> None:
    tag = WistiaBulkTagOperator(task_id="tag", hashed_ids=["media001", "jobfail002"], tag_names=["x"])
    lines, ti = failure_lines(tag)
    (job_id,) = ti.xcom["job_ids"]
    assert lines[0] == f"job {job_id} failed: no reason given (it covered 2 media)"
    assert lines[1] == "1 job ended: 1 failed; 2 media"


def test_failed_zendesk_items_are_named_in_the_first_line(sandbox: SandboxServer, zendesk_conn: str) -> None:
    items = [{"id": 1}, {"id": 2, "subject": FAIL}, {"id": 3, "subject": FAIL}, {"id": 4}, {"id": 5}]
    bulk = ZendeskBulkOperator(task_id="bulk", resource="tickets", action="update_many", items=items)
    lines, ti = failure_lines(bulk)
    (job_id,) = ti.xcom["job_ids"]
    why = f"RecordInvalid: Record validation errors: a value contains {FAIL}"
    assert (
        lines[0] == f"2 of 5 items failed (job {job_id} partial): index 1, id 2: {why}; index 2, id 3: {why}"
    )
    assert lines[1] == "1 job ended: 1 partial; 3 of 5 items succeeded"
    assert lines[2:] == [f"job {job_id} index 1, id 2: {why}", f"job {job_id} index 2, id 3: {why}"]


def test_zendesk_fail_ids_are_named_in_the_first_line(sandbox: SandboxServer, zendesk_conn: str) -> None:
    sandbox.state.zendesk.fail_ids = {12}
    bulk = ZendeskBulkOperator(
        task_id="bulk", resource="tickets", action="update_many", items=[11, 12], change={"status": "solved"}
    )
    lines, ti = failure_lines(bulk)
    (job_id,) = ti.xcom["job_ids"]
    assert lines[0].startswith(f"1 of 2 items failed (job {job_id} partial): index 1, id 12: ")
    assert "Record 12 failed (sandbox fail_ids)" in lines[0]
    assert lines[1] == "1 job ended: 1 partial; 1 of 2 items succeeded"


def test_a_failed_zendesk_job_gives_its_reason_first(sandbox: SandboxServer, zendesk_conn: str) -> None:
    items = [{"id": 1, "subject": "[sandbox:job-failed]"}, {"id": 2}]
    bulk = ZendeskBulkOperator(task_id="bulk", resource="tickets", action="update_many", items=items)
    lines, ti = failure_lines(bulk)
    (job_id,) = ti.xcom["job_ids"]
    reason = ZendeskJobHook(zendesk_conn).get_job(job_id).message  # the vendor's word, as read over HTTP
    assert reason and "sandbox injected failure" in reason
    assert lines[0] == f"job {job_id} failed: {reason} (it covered items 0-1)"
    assert lines[1].startswith("1 job ended: 1 failed; ")


def test_a_failed_trade_desk_job_gives_its_errors_first(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    query = TradeDeskGraphQLBulkQueryOperator(task_id="q", query=f"{QUERY} # sandbox:failure")
    lines, ti = failure_lines(query)
    summary = ti.xcom["return_value"]
    assert summary["status"] == "Failure" and summary["errors"]
    assert lines[0] == f"job {summary['job_id']} failed: {'; '.join(summary['errors'])}"
    assert lines[1] == "1 job ended: 1 failed"


def test_a_partial_trade_desk_job_says_it_partly_failed(sandbox: SandboxServer, tradedesk_conn: str) -> None:
    payload = {"advertiserId": "adv1", "nameFilter": "sandbox:partial"}
    report = TradeDeskStandardJobOperator(task_id="r", kind="first_party_data", payload=payload)
    lines, ti = failure_lines(report)
    summary = ti.xcom["return_value"]
    assert lines[0] == f"job {summary['job_id']} partly failed: {'; '.join(summary['errors'])}"
    assert lines[1] == "1 job ended: 1 partial"


def test_expired_trade_desk_results_say_they_are_gone_first(
    sandbox: SandboxServer, tradedesk_conn: str
) -> None:
    sandbox.state.tradedesk.config.results_expire_seconds = 0
    report = TradeDeskStandardJobOperator(task_id="r", kind="third_party_data", payload={"partnerId": "p1"})
    lines, ti = failure_lines(report)
    job_id = ti.xcom["return_value"]["job_id"]
    assert lines[0] == f"the results of job {job_id} are gone (the job reports ResultsExpired)"
    assert lines[1] == "1 job ended: 1 expired"
    assert "keeps a job's results for 24 hours after it completes" in lines[2]


def test_the_sensor_verdict_of_ended_jobs_names_the_reasons(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    """The sensors fail with :func:`judge`'s message: here over jobs read from the sandbox."""
    zendesk = sandbox.state.zendesk
    ok = zendesk.create_job(total=2, duration=0)
    partial = zendesk.create_job(total=3, duration=0, failed_indexes=[1])
    failed = zendesk.create_job(total=2, duration=0, outcome="failed", message="out of quota")
    jobs = ZendeskJobHook(zendesk_conn).get_jobs([ok, partial, failed])

    only_partial = judge(jobs[:2], "fail").error_message().splitlines()
    assert only_partial[0].startswith(f"1 of 3 items failed (job {partial} partial): index 1")
    assert only_partial[1] == "2 jobs ended: 1 succeeded, 1 partial"

    with_failed = judge(jobs, "warn").error_message().splitlines()
    assert with_failed[0] == f"1 of 3 jobs did not finish: job {failed} failed: out of quota"
    assert with_failed[1] == "3 jobs ended: 1 succeeded, 1 partial, 1 failed"

    alone = judge(jobs[2:], "fail").error_message().splitlines()
    assert alone[0] == f"job {failed} failed: out of quota"


# --- log wording --------------------------------------------------------------------------------------


def test_a_query_is_logged_as_submitted_not_as_covering_item_0(sandbox: SandboxServer) -> None:
    env = {"AIRFLOW_CONN_TRADEDESK_DEFAULT": tradedesk_connection(sandbox.url)}
    args = {"query": "query { advertisers { nodes { id } } }"}
    result = run_dag_module("query_wording", "query_wording", args=args, env=env)
    assert result.task_states == {"query": "success"}
    (submit,) = sandbox.state.tradedesk.submits
    log = result.logs["query"]
    assert f"submitted the GraphQL query as job {submit.job_id}" in log
    assert "waiting for 1 job in the triggerer" in log
    assert "covers item" not in log and "1 jobs" not in log
