"""The submission ledger and the merging of per-item results (pure logic, on Zendesk's documented shapes)."""

from __future__ import annotations

import json

from airflow_jobstatus.hooks.zendesk import parse_item
from airflow_jobstatus.ledger import Ledger, describe_indexes, fingerprint, from_ranges, to_ranges
from airflow_jobstatus.models import ItemResult, Job, JobState
from airflow_jobstatus.operators.items import merge_results
from airflow_jobstatus.operators.zendesk import match_results


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
