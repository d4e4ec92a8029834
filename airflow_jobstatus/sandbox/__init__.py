"""A local emulator of the vendor job APIs (Zendesk, Wistia), for tests, demos and DAG development.

Run it with `python -m airflow_jobstatus.sandbox`, or in tests::

    with SandboxServer() as sandbox:
        job_id = sandbox.state.zendesk.create_job(total=3, duration=0.5)
        requests.get(f"{sandbox.url}/api/v2/job_statuses/{job_id}.json", auth=(...))
        wistia_job = sandbox.state.wistia.create_job(duration=0.5)
        requests.get(f"{sandbox.url}/wistia/background_job_status/{wistia_job}", headers={...})
"""

from .server import SandboxServer, build_app
from .state import Fault, RequestRecord, SandboxState
from .wistia_jobs import JOB_FAIL_MARKER, WistiaSandboxConfig, WistiaState, WistiaSubmit
from .zendesk_jobs import ZendeskSandboxConfig, ZendeskState

__all__ = [
    "JOB_FAIL_MARKER",
    "Fault",
    "RequestRecord",
    "SandboxServer",
    "SandboxState",
    "WistiaSandboxConfig",
    "WistiaState",
    "WistiaSubmit",
    "ZendeskSandboxConfig",
    "ZendeskState",
    "build_app",
]
