"""One stand-in triggerer: ``python tests/clients/triggerer.py CONN_ID POLL_SECONDS JOB_ID...``.

Runs one :class:`~airflow_jobstatus.triggers.job.JobTrigger` per job id in one event loop, as a triggerer
runs the waits it was given, and prints one JSON line: the outcome of each wait, the seconds the run took,
and what the process's rate budget did. The connection comes from the environment (``AIRFLOW_CONN_*``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

from airflow_jobstatus.http.budget import _budgets
from airflow_jobstatus.triggers.job import JobTrigger, WaitEvent

ZENDESK = "airflow_jobstatus.hooks.zendesk.ZendeskJobHook"


async def wait_for(trigger: JobTrigger) -> WaitEvent:
    """The one event of ``trigger``."""
    async for event in trigger.run():
        return WaitEvent.from_payload(event.payload)
    raise AssertionError("the trigger ended without an event")


async def main(conn_id: str, poll: float, job_ids: list[str]) -> dict[str, object]:
    """Wait for every job, each in its own trigger; what happened."""
    started = time.monotonic()
    triggers = [
        JobTrigger(
            hook_path=ZENDESK,
            conn_id=conn_id,
            job_ids=[job_id],
            poll_interval=poll,
            deadline=time.time() + 300,
        )
        for job_id in job_ids
    ]
    events = await asyncio.gather(*(wait_for(trigger) for trigger in triggers))
    stats = [budget.stats for budget in _budgets.values()]
    return {
        "outcomes": dict(Counter(event.outcome for event in events)),
        "seconds": round(time.monotonic() - started, 1),
        "account_stops": sum(s.account_stops for s in stats),
        "holds": sum(s.holds for s in stats),
    }


if __name__ == "__main__":
    result = asyncio.run(main(sys.argv[1], float(sys.argv[2]), sys.argv[3:]))
    print(json.dumps(result), flush=True)
