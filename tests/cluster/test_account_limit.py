"""One vendor account's rate limit holds across the whole cluster: both triggerers and a Celery worker.

The sandbox's Zendesk account allows ``ACCOUNT_LIMIT`` requests a minute, for all its clients together
(429 beyond), and says so in its rate-limit headers. About 300 waits (``GROUPS`` mapped sensors, one
trigger each, spread over both triggerers by their ``--capacity 4``) and one wait polling on a worker
(``deferrable=False``) read every 2 s through one connection whose own budget (``requests_per_minute``) is
far above the account's limit: only what the account's headers say, and the count every process shares in
Redis (``[jobstatus] rate_limit_storage``), can hold them back, below the limit minus the reserve kept for
the account's other integrations (20 % of the limit).

The jobs run until the test ends them, ``READ_FOR`` seconds after every trigger is assigned; then every
wait must still end (the run succeeds), and the sandbox must have seen no 429 and, in any minute, at most
``ACCOUNT_LIMIT - RESERVE`` requests. One run: the account's window is a minute, so this takes 70-90 s.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from typing import Any

import pytest

from airflow_jobstatus.sandbox.state import RequestRecord

from .conftest import ClusterDeployment
from .sampling import Sighting

DAG_ID = "cluster_account_limit"
#: Requests a minute the sandbox's Zendesk account allows (all clients together).
ACCOUNT_LIMIT = 40
#: What the provider leaves to the account's other integrations: 20 % of the limit.
RESERVE = math.ceil(ACCOUNT_LIMIT * 0.20)
#: The mapped sensors (triggers). Six: all are assigned at once (2 triggerers of --capacity 4: 8 places),
#: and, as one triggerer takes at most 4, both hold some.
GROUPS = 6
JOBS_PER_GROUP = 50
#: Seconds the waits read, all deferred, before the jobs end.
READ_FOR = 25.0
WINDOW = 60.0
API = "/api/v2/"
JOB_ID = re.compile(r"[0-9a-f]{32}")


@pytest.mark.timeout(600)  # the first cluster test also starts the cluster
@pytest.mark.needs("triggerers", "workers")
def test_one_account_limit_holds_over_both_triggerers_and_a_worker(deployment: ClusterDeployment) -> None:
    api, cluster, state = deployment.api, deployment.cluster, deployment.sandbox.state
    zendesk = state.zendesk
    groups = [
        [zendesk.create_job(total=1, duration=3600.0, queued_for=0) for _ in range(JOBS_PER_GROUP)]
        for _ in range(GROUPS)
    ]
    worker_jobs = [zendesk.create_job(total=1, duration=3600.0, queued_for=0)]
    every_job = [job for group in groups for job in group] + worker_jobs
    triggerers = cluster.triggerer_job_ids
    assert len(triggerers) == 2, triggerers
    previous_limit = zendesk.requests_per_minute
    with state.lock:
        zendesk.requests_per_minute = ACCOUNT_LIMIT
        started, started_wall = state.clock(), time.time()
    ended: float | None = None
    try:
        run_id = api.trigger(DAG_ID, {"groups": groups, "worker_jobs": worker_jobs})

        def all_assigned(rows: list[Any]) -> bool:
            mine = [row for row in rows if (row.dag_id, row.run_id) == (DAG_ID, run_id)]
            return len(mine) == GROUPS and all(row.triggerer_id is not None for row in mine)

        rows = deployment.triggers.wait_until(all_assigned, "not every wait was assigned", timeout=180)
        holders = Counter(row.triggerer_id for row in rows if row.run_id == run_id)
        assert set(holders) == set(triggerers.values()), (holders, triggerers)
        api.wait_for_task(DAG_ID, run_id, "wait_on_worker", lambda ti: ti["state"] == "running", 60)
        time.sleep(READ_FOR)
        with state.lock:
            for job_id in every_job:
                zendesk.jobs[job_id].duration = 0.0
            ended = state.clock()
        api.expect_success(DAG_ID, run_id, timeout=240)
    finally:
        with state.lock:
            zendesk.requests_per_minute = previous_limit
            for job_id in every_job:  # no job left running for the next tests (the sandbox's job limit)
                zendesk.jobs[job_id].duration = 0.0
    finished = state.clock()

    with state.lock:
        calls = sorted((r for r in state.requests if r.at >= started and r.path.startswith(API)), key=_at)
    sightings = deployment.triggers.of_run(DAG_ID, run_id).get("wait", [])
    sources = _sources(calls, groups, worker_jobs, sightings, deployment.clock.skipped, cluster)
    busiest, first = _busiest_window(calls)
    held = {cluster.triggerer_of_job(job): count for job, count in holders.items()}
    report = "\n".join(
        [
            f"triggers held once all were assigned: {held}",
            _timeline(calls, sources, started, ended),
            _window_detail(calls, sources, first, started),
            _store_entries(cluster.rate_limit_storage_url, started_wall),
            f"the run took {finished - started:.1f} s",
        ]
    )
    print(report)
    assert len(sightings) == GROUPS, sightings
    assert {job for s in sightings for job in s.triggerer_ids if job is not None} == set(triggerers.values())

    statuses = Counter(call.status for call in calls)
    assert statuses[429] == 0, f"the account answered 429: {statuses}\n{report}"
    # No wait starved: every job was read after it ended (then its wait ended).
    assert ended is not None
    read_after_end = {
        job
        for call in calls
        if call.at >= ended and call.status == 200 and call.path.startswith(f"{API}job_statuses")
        for job in JOB_ID.findall(call.path + call.query)
    }
    unread = [job for job in every_job if job not in read_after_end]
    assert not unread, f"{len(unread)} jobs never read after they ended: {unread[:5]}\n{report}"
    # The waits pressed on the limit (they would send hundreds a minute): the budget was spent, not idle.
    assert busiest >= (ACCOUNT_LIMIT - RESERVE) // 2, f"only {busiest} requests in any minute\n{report}"
    assert busiest <= ACCOUNT_LIMIT - RESERVE, f"{busiest} requests in one minute\n{report}"


def _at(record: RequestRecord) -> float:
    return record.at


def _busiest_window(calls: list[RequestRecord]) -> tuple[int, int]:
    """The most requests in any ``WINDOW`` seconds (the sandbox's sliding window), and the index of the
    first of them in ``calls``."""
    times = [call.at for call in calls]
    best, best_first, end = 0, 0, 0
    for start, first in enumerate(times):
        while end < len(times) and times[end] < first + WINDOW:
            end += 1
        if end - start > best:
            best, best_first = end - start, start
    return best, best_first


def _sources(
    calls: list[RequestRecord],
    groups: list[list[str]],
    worker_jobs: list[str],
    sightings: list[Sighting],
    skipped: float,
    cluster: Any,
) -> list[str]:
    """Who sent each request, as far as the ids it read and the trigger table tell: the triggerer holding
    the group's trigger while it was deferred, else a worker (a mapped task's read before it deferred or
    after it resumed, or ``wait_on_worker``)."""
    group_of = {job: index for index, group in enumerate(groups) for job in group}
    trigger_of: dict[int, Sighting] = {}
    for sighting in sightings:
        for index, group in enumerate(groups):
            if any(group[0] in kwargs for kwargs in sighting.kwargs):
                trigger_of[index] = sighting
    found: list[str] = []
    for call in calls:
        ids = set(JOB_ID.findall(call.path + call.query))
        if ids and ids <= set(worker_jobs):
            found.append("wait_on_worker")
            continue
        names: set[str] = set()
        for index in {group_of[job] for job in ids if job in group_of}:
            trigger = trigger_of.get(index)
            if trigger is None or trigger.deferred_until is None:
                continue
            # Before its row exists (the task's read before deferring) or once resumed: a worker's.
            if trigger.first_seen + skipped <= call.at <= trigger.deferred_until + skipped + 0.5:
                job = next((job for job in reversed(trigger.triggerer_ids) if job is not None), None)
                names.add(cluster.triggerer_of_job(job) or f"triggerer job {job}")
        found.append("+".join(sorted(names)) if names else ("worker (mapped task)" if ids else "other"))
    return found


def _timeline(calls: list[RequestRecord], sources: list[str], started: float, ended: float | None) -> str:
    """The requests the account saw per 5 s: how many, their statuses and who sent them."""
    lines = [
        f"requests to {API} per 5 s (t = 0: the limit set; the jobs ended at t = {_rel(ended, started)})"
    ]
    bins: dict[int, list[int]] = {}
    for index, call in enumerate(calls):
        bins.setdefault(int((call.at - started) // 5), []).append(index)
    for slot in range(max(bins, default=-1) + 1):
        members = bins.get(slot, [])
        statuses = Counter(calls[i].status for i in members)
        who = Counter(sources[i] for i in members)
        lines.append(
            f"  {5 * slot:4d}-{5 * slot + 5:<4d} s: {len(members):3d}  status {dict(statuses)}  {dict(who)}"
        )
    lines.append(f"  total {len(calls)}, busiest {WINDOW:g} s: {_busiest_window(calls)[0]}")
    return "\n".join(lines)


def _rel(at: float | None, started: float) -> str:
    return "never" if at is None else f"{at - started:.1f} s"


def _window_detail(calls: list[RequestRecord], sources: list[str], first: int, started: float) -> str:
    """Every request of the busiest window: when (s after the limit was set), its status, who sent it, and
    what the account's window held once it arrived (the sandbox's count of the minute before it)."""
    lines = [f"the busiest {WINDOW:g} s, request by request:"]
    times = [call.at for call in calls]
    for index in range(first, len(calls)):
        call = calls[index]
        if call.at >= calls[first].at + WINDOW:
            break
        held = sum(1 for at in times[: index + 1] if at > call.at - WINDOW)
        lines.append(
            f"  {call.at - started:7.2f} s  {call.status}  {sources[index]:<22} minute so far: {held:2d}  "
            f"{call.path}"
        )
    return "\n".join(lines)


def _store_entries(url: str, started_wall: float) -> str:
    """The shared store's moving windows (``limits``: one list of hit times per key, and the key names
    the amount a hit was counted against), as seconds after the limit was set."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    lines = ["the shared store (Redis db 1), per key: hits since the limit was set"]
    try:
        for key in sorted(client.scan_iter("*")):
            if client.type(key) != b"list":
                continue
            hits = sorted(float(at) - started_wall for at in client.lrange(key, 0, -1))
            recent = [round(at, 1) for at in hits if at >= 0]
            lines.append(f"  {key.decode(errors='replace')}: {len(recent)} {recent}")
    except redis.RedisError as error:  # only a diagnostic: the assertions do not need it
        lines.append(f"  unreadable: {error!r}")
    finally:
        client.close()
    return "\n".join(lines)
