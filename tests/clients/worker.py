"""One stand-in worker: ``python tests/clients/worker.py CONN_ID POLL_SECONDS JOB_ID``.

Reads the job with the hook's blocking transport every ``POLL_SECONDS``, as a sensor with
``deferrable=False`` does, until the job ends; prints one JSON line: the states it saw. The connection
comes from the environment (``AIRFLOW_CONN_*``).
"""

from __future__ import annotations

import json
import sys
import time

from airflow_jobstatus.hooks.zendesk import ZendeskJobHook


def main(conn_id: str, poll: float, job_id: str) -> list[str]:
    """The states of the job, read until it ends."""
    hook = ZendeskJobHook(conn_id)
    seen: list[str] = []
    while True:
        state = hook.get_job(job_id).state
        seen.append(state.value)
        print(json.dumps({"read": state.value}), flush=True)
        if state.is_terminal:
            return seen
        time.sleep(poll)


if __name__ == "__main__":
    print(json.dumps({"seen": main(sys.argv[1], float(sys.argv[2]), sys.argv[3])}), flush=True)
