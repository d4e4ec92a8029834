"""The submission ledger and the merging of per-item results (pure logic, on Zendesk's documented shapes);
at the end, the ledger's guarantees over real HTTP (sandbox) and in real DAG runs."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from airflow_harness import DagRunResult, run_dag_module
from conftest import zendesk_connection

from airflow_jobstatus.compat import AirflowFailException
from airflow_jobstatus.core.ledger import (
    LEDGER_FORMAT,
    LEDGER_KEY,
    SEGMENT_RECORDS,
    DuplicateJobId,
    IndexRanges,
    Ledger,
    LedgerUnreadable,
    describe_indexes,
    fingerprint,
    from_ranges,
    segment_key,
    to_ranges,
)
from airflow_jobstatus.core.models import ItemResult, Job, JobState
from airflow_jobstatus.hooks.zendesk import ZendeskJobHook, parse_item
from airflow_jobstatus.operators.items import merge_results
from airflow_jobstatus.operators.zendesk import ZendeskBulkOperator, match_results
from airflow_jobstatus.sandbox import SandboxServer
from airflow_jobstatus.triggers.job import WaitEvent


def job(
    job_id: str, state: JobState, results: list[ItemResult] | None = None, message: str | None = None
) -> Job:
    return Job(
        vendor="zendesk",
        id=job_id,
        state=state,
        vendor_status=state.value,
        results=results or [],
        message=message,
    )


def test_ranges_round_trip_and_describe() -> None:
    indexes = [0, 1, 2, 5, 7, 8]
    assert to_ranges(indexes) == [[0, 3], [5, 6], [7, 9]]
    assert from_ranges(to_ranges(indexes)) == indexes
    assert describe_indexes([5]) == "item 5"
    assert describe_indexes(range(100, 200)) == "items 100-199"
    assert describe_indexes([3, 10, 11, 12]) == "items 3, 10-12"


def test_ledger_tracks_owners_pending_and_active_jobs() -> None:
    ledger = Ledger(fingerprint([1, 2]), try_number=1)
    ledger.add("a", range(0, 100))
    ledger.add("b", range(100, 200))
    assert ledger.pending(250) == list(range(200, 250))
    assert ledger.active_ids() == ["a", "b"]
    ledger.set_state("a", JobState.PARTIAL)
    ledger.set_state("b", JobState.RUNNING)
    assert ledger.active_ids() == ["b"]
    # a retry redoes item 7: it is pending again until a new job takes it
    ledger.redo = [7]
    ledger.unconfirmed = list(range(200, 250))
    assert ledger.pending(250) == [7]
    ledger.add("c", [7])
    assert ledger.owners()[7].id == "c" and ledger.owners()[8].id == "a"
    assert ledger.redo == [] and ledger.unconfirmed == []
    again = Ledger.from_json(json.loads(json.dumps(ledger.to_json())))
    assert again == ledger
    # compact: a 10,000-item ledger fits the task state store's 64 KB default easily
    big = Ledger("f", 1)
    for start in range(0, 10_000, 100):
        big.add(f"{start:032x}", range(start, start + 100))
    assert len(json.dumps(big.to_json())) < 10_000


def test_fingerprint_changes_with_the_input() -> None:
    assert fingerprint(["tickets", [{"id": 1}]]) == fingerprint(["tickets", [{"id": 1}]])
    assert fingerprint(["tickets", [{"id": 1}]]) != fingerprint(["tickets", [{"id": 2}]])


def test_match_by_index_by_id_then_in_order() -> None:
    # create_many: index; update_many: id (in any order); create_or_update_many: neither -> in order
    created = [parse_item({"id": 244, "index": 1}), parse_item({"id": 243, "index": 0})]
    matched, stray = match_results(created, [None, None])
    assert {pos: r.id for pos, r in matched.items()} == {0: 243, 1: 244} and stray == []
    updated = [
        parse_item({"id": 91, "action": "update", "success": True, "status": "Updated"}),
        parse_item(
            {"index": 0, "id": 90, "error": "TicketUpdateFailed", "details": "locked", "success": False}
        ),
    ]
    matched, _ = match_results(updated, [90, 91])
    assert matched[0].error == "TicketUpdateFailed" and matched[1].status == "Updated"
    upserted = [
        parse_item({"id": 5, "status": "Created", "email": "a@x"}),
        parse_item({"id": 6, "status": "Updated"}),
    ]
    matched, _ = match_results(upserted, [None, None])
    assert (matched[0].id, matched[1].id) == (5, 6)
    # permanent deletion reports one object for the whole job; extra results are strays, not dropped
    matched, _ = match_results([parse_item({"success": True})], [1, 2, 3])
    assert sorted(matched) == [0, 1, 2] and all(r.success for r in matched.values())
    matched, stray = match_results([parse_item({"id": 1}), parse_item({"id": 2})], [1])
    assert len(matched) == 1 and [r.id for r in stray] == [2]


def test_merge_reports_every_item_in_input_order() -> None:
    ledger = Ledger("f", 1)
    ledger.add("a", [0, 1])
    ledger.add("b", [2, 3])
    jobs = {
        "a": job("a", JobState.PARTIAL),
        "b": job("b", JobState.FAILED, message="Job failed: boom"),
    }
    per_job = {
        "a": {
            0: ItemResult(index=0, id=10),
            1: ItemResult(index=1, id=11, success=False, error="RecordInvalid"),
        },
        "b": {2: ItemResult(index=2, id=12)},  # the failed job stopped before item 3
    }
    merged = merge_results(4, ledger.owners(), jobs, per_job, "warn")
    assert [row["index"] for row in merged.items] == [0, 1, 2, 3]
    assert [row["success"] for row in merged.items] == [True, False, True, False]
    assert [row["job_id"] for row in merged.items] == ["a", "a", "b", "b"]
    assert merged.items[3]["error"] == "job failed"
    assert not merged.verdict.ok  # a failed job fails the task whatever on_partial says
    assert "job b ended failed (Job failed: boom); it covered items 2-3" in merged.verdict.failures
    assert "job a index 1, id 11: RecordInvalid" in merged.verdict.failures
    assert "2 of 4 items succeeded" in merged.verdict.summary


def test_merge_partial_follows_on_partial() -> None:
    ledger = Ledger("f", 1)
    ledger.add("a", [0, 1])
    jobs = {"a": job("a", JobState.PARTIAL)}
    per_job = {"a": {0: ItemResult(index=0, id=1), 1: ItemResult(index=1, success=False, error="X")}}
    warned = merge_results(2, ledger.owners(), jobs, per_job, "warn")
    assert warned.verdict.ok and warned.verdict.warnings == ["job a index 1: X"]
    failed = merge_results(2, ledger.owners(), jobs, per_job, "fail")
    assert not failed.verdict.ok and failed.verdict.failures == ["job a index 1: X"]
    # a completed job that left an item out reports it as failed (NoResult), never drops it
    missing = merge_results(2, ledger.owners(), {"a": job("a", JobState.SUCCEEDED)}, {"a": {}}, "warn")
    assert [row["error"] for row in missing.items] == ["NoResult", "NoResult"]


# ----- issue 15: duplicate job ids, the stored form, compatibility -----------------------------------------
class MemoryStore:
    """A task state store in memory; values go through JSON as the real one's do."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(values or {})
        self.writes: list[tuple[str, int]] = []

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        text = json.dumps(value)
        self.values[key] = text
        self.writes.append((key, len(text)))


class MemoryTi:
    """The part of a task instance the operators use: try number and XCom."""

    def __init__(self, try_number: int = 1, map_index: int = -1, max_tries: int | None = None) -> None:
        self.try_number = try_number
        self.map_index = map_index
        if max_tries is not None:  # Airflow's task instances have it; leaving it out is "not known"
            self.max_tries = max_tries
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = json.loads(json.dumps(value))

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int | None = None) -> Any:
        assert map_indexes == self.map_index, "an operator reads its own map index's XCom only"
        return self.xcom.get(key)


#: A ledger exactly as the release before format 2 wrote it (``to_json``), under LEDGER_KEY and in a
#: trigger's ``resume``: two ended jobs, one job still running, a redo and an unconfirmed submit.
EARLIER_FORMAT: dict[str, Any] = {
    "fingerprint": "0123456789abcdef0123456789abcdef",
    "try": 2,
    "jobs": [
        {"id": "a1", "items": [[0, 100]], "state": "succeeded"},
        {
            "id": "b2",
            "items": [[100, 150], [160, 200]],
            "state": "partial",
            "submitted": {"message": "queued", "rejected": [{"index": 120, "success": False, "error": "X"}]},
        },
        {"id": "c3", "items": [[200, 300]], "state": None},
        {"id": "d4", "items": [[7, 8]], "state": None},
    ],
    "unconfirmed": [[300, 350]],
    "redo": [[5, 6]],
    "waves": 3,
}


def test_a_ledger_written_before_format_2_is_read_and_saved_in_the_new_form() -> None:
    ledger = Ledger.from_json(json.loads(json.dumps(EARLIER_FORMAT)))
    assert ledger.complete and ledger.job_count == 4 and (ledger.try_number, ledger.waves) == (2, 3)
    assert ledger.to_json() == EARLIER_FORMAT  # to_json is still that exact form
    owners = ledger.owners()
    assert (owners[7].id, owners[8].id, owners[165].id, owners[299].id) == ("d4", "a1", "b2", "c3")
    assert 155 not in owners and len(owners) == 290
    assert ledger.pending(400) == [5, *range(150, 160), *range(350, 400)]
    assert ledger.active_ids() == ["c3", "d4"]
    assert ledger.record("b2").message == "queued" and ledger.record("b2").rejected[0].index == 120
    store = MemoryStore()
    ledger.save(store)
    head = store.get(LEDGER_KEY)
    assert head["format"] == LEDGER_FORMAT and head["jobs"] is None  # an older release fails on it
    again = Ledger.from_json(head)
    assert again.complete  # two ended jobs: still in the head's tail, no segment yet
    assert again == ledger and again.pending(400) == ledger.pending(400)
    assert again.active_ids() == ["c3", "d4"] and again.to_json() == EARLIER_FORMAT


def test_a_long_ledger_is_saved_in_segments_and_a_head_alone_answers_a_wave() -> None:
    store = MemoryStore()
    ledger = Ledger(fingerprint([1]), try_number=1)
    for number in range(100):
        ledger.add(f"job{number}", range(number * 10, number * 10 + 10))
        ledger.save(store)
        if number >= 2:
            ledger.set_state(f"job{number - 2}", JobState.SUCCEEDED)
    ledger.save(store)
    segments = sorted(key for key in store.values if key != LEDGER_KEY)
    assert segments == [segment_key(n) for n in range(len(segments))] and len(segments) >= 2
    assert all(len(store.get(key)["records"]) == SEGMENT_RECORDS for key in segments)
    head = store.get(LEDGER_KEY)
    assert len(head["open"]) == 2 and len(head["tail"]) < SEGMENT_RECORDS
    assert len(json.dumps(head)) < 5_000
    partial = Ledger.from_json(head)
    assert not partial.complete and partial.job_count == 100
    assert partial.active_ids() == ["job98", "job99"]
    assert partial.pending(1_050) == list(range(1_000, 1_050))
    with pytest.raises(RuntimeError, match="call load"):
        partial.job_ids()
    partial.set_state("job98", JobState.FAILED)
    partial.load(store)
    assert partial.complete and partial.job_ids() == [f"job{n}" for n in range(100)]
    assert partial.record("job5").state == "succeeded" and partial.record("job98").state == "failed"
    assert partial.owners() == {i: partial.record(f"job{i // 10}") for i in range(1_000)}
    # a segment of another ledger (an earlier input) is never mixed in
    store.values[segment_key(0)] = json.dumps({"generation": "other", "records": []})
    with pytest.raises(LedgerUnreadable, match=rf"'{segment_key(0)}' is missing or belongs to another"):
        Ledger.from_json(head).load(store)


def test_two_submits_answered_with_one_job_id_are_refused_by_the_ledger() -> None:
    ledger = Ledger("f", 1)
    ledger.add("same", range(0, 100))
    with pytest.raises(DuplicateJobId) as raised:
        ledger.add("same", range(100, 200))
    message = str(raised.value)
    assert "the vendor answered two submits with one job id 'same'" in message
    assert "the submit of items 0-99 and the submit of items 100-199" in message
    assert isinstance(raised.value, AirflowFailException)  # never retried
    assert ledger.job_count == 1 and ledger.active_ids() == ["same"]
    # a ledger that an earlier release stored with the same id twice (the livelock) fails as clearly
    stuck = {**EARLIER_FORMAT, "jobs": [*EARLIER_FORMAT["jobs"], {"id": "c3", "items": [[400, 500]]}]}
    with pytest.raises(DuplicateJobId, match="job id 'c3': the submit of items 200-299 and the submit of"):
        Ledger.from_json(stuck)


def test_pending_is_computed_from_ranges() -> None:
    ledger = Ledger("f", 1)
    ledger.add("a", range(0, 500_000))
    pending = ledger.pending(1_000_000)
    assert isinstance(pending, IndexRanges) and pending.ranges == [[500_000, 1_000_000]]
    assert len(pending) == 500_000 and pending[0] == 500_000 and pending[-1] == 999_999
    assert pending[100:103] == [500_100, 500_101, 500_102] and pending[499_999:600_000] == [999_999]
    ledger.redo, ledger.unconfirmed = [3, 1], list(range(500_000, 500_010))
    assert ledger.pending(500_020) == [1, 3, *range(500_010, 500_020)]
    assert ledger.pending(500_020)[1:4] == [3, 500_010, 500_011]


# ----- the same over real HTTP (sandbox), in real DAG runs --------------------------------------------------
CREATE_USERS = "/api/v2/users/create_many"


def run_users(sandbox: SandboxServer, count: int) -> DagRunResult:
    users = [{"name": f"User {i}", "email": f"user{i}@example.com"} for i in range(count)]
    args = {
        "dag_id": "ledger_ids",
        "operator": "airflow_jobstatus.operators.zendesk.ZendeskBulkOperator",
        "task_id": "bulk",
        "kwargs": {"resource": "users", "action": "create_many", "items": users},
        "retries": 1,
        "timeout": 60,
    }
    env = {"AIRFLOW_CONN_ZENDESK_DEFAULT": zendesk_connection(sandbox.url)}
    # tests/dags/operator_task.py: one task, "bulk", with one retry
    return run_dag_module("operator_task", "ledger_ids", args=args, env=env)


def test_two_submits_answered_with_one_job_id_fail_the_task_before_it_waits(sandbox: SandboxServer) -> None:
    job_id = sandbox.state.zendesk.create_job(total=100, duration=30.0)  # a real job: reads would see it
    url = f"{sandbox.url}/api/v2/job_statuses/{job_id}.json"
    answer = {"job_status": {"id": job_id, "url": url, "status": "queued", "total": 100, "progress": None}}
    sandbox.state.add_fault(CREATE_USERS, method="POST", status=200, body=answer, count=2)
    result = run_users(sandbox, 150)
    assert result.task_states == {"bulk": "failed"}
    assert result.try_numbers["bulk"] == 1  # not retried, though the task has a retry
    log = result.logs["bulk"]
    assert (
        f"Zendesk answered two submits with one job id '{job_id}': the submit of items 0-99 and the "
        "submit of items 100-149" in log
    )
    assert "Pausing task as DEFERRED" not in log
    assert sandbox.state.count(method="POST", path_prefix=CREATE_USERS) == 2
    assert sandbox.state.count(path_prefix="/api/v2/job_statuses") == 0  # it never waited
    assert result.xcom("bulk", key="job_ids") == [job_id]


def test_a_submit_answered_without_a_job_id_is_an_unconfirmed_submit(sandbox: SandboxServer) -> None:
    answer = {"job_status": {"id": "", "url": None, "status": "queued"}}
    sandbox.state.add_fault(CREATE_USERS, method="POST", status=200, body=answer, count=1)
    result = run_users(sandbox, 2)
    assert result.task_states == {"bulk": "failed"}
    first, second = (result.ti_logs[("bulk", -1, n)] for n in (1, 2))
    assert "the answer to the submit of items 0-1 could not be read" in first
    assert "id:" in first.split("could not be read", 1)[1]  # the reason names the field
    assert "Zendesk may or may not have accepted it" in first
    # the retry does not send users that may exist already (create_many: resubmit_unconfirmed is off)
    assert "try 1 sent items 0-1 to Zendesk but its answer was lost" in second
    assert sandbox.state.count(method="POST", path_prefix=CREATE_USERS) == 1


def test_a_task_deferred_by_an_earlier_release_resumes_with_its_ledger(
    sandbox: SandboxServer, zendesk_conn: str
) -> None:
    sandbox.state.zendesk.job_seconds = 0.1
    items = [1, 2, 3]
    job = ZendeskJobHook(zendesk_conn).submit_bulk("tickets", "update_many", items, change={"status": "open"})
    operator = ZendeskBulkOperator(
        task_id="bulk", resource="tickets", action="update_many", items=items, change={"status": "open"}
    )
    digest = fingerprint([operator.request_identity(), items])
    earlier = {
        "fingerprint": digest,
        "try": 1,
        "jobs": [{"id": job.id, "items": [[0, 3]], "state": None}],
        "unconfirmed": [],
        "redo": [],
        "waves": 0,
    }
    store, ti = MemoryStore({LEDGER_KEY: json.dumps(earlier)}), MemoryTi()
    while not ZendeskJobHook(zendesk_conn).get_job(job.id).state.is_terminal:
        time.sleep(0.05)
    event = WaitEvent("ended", "1 job ended", [], {"ledger": earlier, "deadline": time.time() + 60})
    context: Any = {"ti": ti, "task_state_store": store}
    rows = operator.execute_complete(context, event.to_payload())
    assert [(row["index"], row["id"], row["success"], row["job_id"]) for row in rows] == [
        (0, 1, True, job.id),
        (1, 2, True, job.id),
        (2, 3, True, job.id),
    ]
    assert len(sandbox.state.zendesk.submits) == 1  # nothing sent again
    head = store.get(LEDGER_KEY)
    assert head["format"] == LEDGER_FORMAT and [r["id"] for r in head["tail"]] == [job.id]
    assert ti.xcom["job_ids"] == [job.id]
