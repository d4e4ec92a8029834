"""A local emulator of the vendor job APIs (Zendesk, Wistia, The Trade Desk), for tests, demos and DAG
development.

Run it with `python -m airflow_jobstatus.sandbox`, or in tests::

    with SandboxServer() as sandbox:
        job_id = sandbox.state.zendesk.create_job(total=3, duration=0.5)
        requests.get(f"{sandbox.url}/api/v2/job_statuses/{job_id}.json", auth=(...))
        wistia_job = sandbox.state.wistia.create_job(duration=0.5)
        requests.get(f"{sandbox.url}/wistia/background_job_status/{wistia_job}", headers={...})
        ttd_job = sandbox.state.tradedesk.create_job(kind="graphql", duration=0.5)
        requests.get(f"{sandbox.url}/tradedesk/graphqlbulkjob/{ttd_job}", headers={"TTD-Auth": ...})

Which vendors it emulates comes from their declarations (:mod:`airflow_jobstatus.vendors`): by default the
shipped ones; `SandboxServer(vendors=registered(), acme=AcmeSandboxConfig())` serves a vendor registered
in this process too, its store at `sandbox.state.store("acme")`.
"""

from .server import SandboxServer, build_app
from .state import Fault, RequestRecord, SandboxState
from .tradedesk_jobs import (
    TradeDeskJob,
    TradeDeskSandboxConfig,
    TradeDeskState,
    TradeDeskSubmit,
    iter_result,
    result_sha256,
    result_size,
)
from .wistia_jobs import JOB_FAIL_MARKER, WistiaSandboxConfig, WistiaState, WistiaSubmit
from .zendesk_jobs import ZendeskSandboxConfig, ZendeskState

__all__ = [
    "JOB_FAIL_MARKER",
    "Fault",
    "RequestRecord",
    "SandboxServer",
    "SandboxState",
    "TradeDeskJob",
    "TradeDeskSandboxConfig",
    "TradeDeskState",
    "TradeDeskSubmit",
    "WistiaSandboxConfig",
    "WistiaState",
    "WistiaSubmit",
    "ZendeskSandboxConfig",
    "ZendeskState",
    "build_app",
    "iter_result",
    "result_sha256",
    "result_size",
]
