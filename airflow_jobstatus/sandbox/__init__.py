"""A local emulator of the vendor job APIs (Zendesk for now), for tests, demos and DAG development.

Run it with `python -m airflow_jobstatus.sandbox`, or in tests::

    with SandboxServer() as sandbox:
        job_id = sandbox.state.zendesk.create_job(total=3, duration=0.5)
        requests.get(f"{sandbox.url}/api/v2/job_statuses/{job_id}.json", auth=(...))
"""

from .server import SandboxServer, build_app
from .state import Fault, RequestRecord, SandboxState
from .zendesk_jobs import ZendeskSandboxConfig, ZendeskState

__all__ = [
    "Fault",
    "RequestRecord",
    "SandboxServer",
    "SandboxState",
    "ZendeskSandboxConfig",
    "ZendeskState",
    "build_app",
]
