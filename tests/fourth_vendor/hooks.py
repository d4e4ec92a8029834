"""AcmeHook: reads Acme bulk jobs and submits them (connection: password = API key, sent as a bearer
token; host optional, a base URL replacing ``https://api.acme.example``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel

from airflow_jobstatus.core.checks import SAFE_JOB_ID
from airflow_jobstatus.core.models import ItemResult, Job, JobState, map_status, percent_of
from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.hooks.base import JobHook, ReadRequest, validated, vendor_parser
from airflow_jobstatus.http.connection import ConnectionFields, base_url_from_host
from airflow_jobstatus.http.transport import ApiTarget

VENDOR = "Acme"
DEFAULT_BASE_URL = "https://api.acme.example"
MAX_ITEMS_PER_JOB = 50
OPERATIONS = ("upsert", "delete")
STATUS_MAP: dict[str, JobState] = {
    "queued": JobState.QUEUED,
    "working": JobState.RUNNING,
    "done": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
}


class AcmeItem(BaseModel):
    """One item's outcome, by its position in the request."""

    index: int
    key: str | None = None
    ok: bool
    error: str | None = None


class AcmeJob(BaseModel):
    """A bulk job as Acme sends it."""

    id: str
    state: str
    processed: int | None = None
    total: int | None = None
    results: list[AcmeItem] = []
    error: str | None = None


class AcmeAnswer(BaseModel):
    """Every Acme answer about a job: ``{"job": {...}}``."""

    job: AcmeJob


@vendor_parser(VENDOR, "bulk job")
def parse_job(payload: Any) -> Job:
    """A :class:`Job` from a status or submit answer; a job done with failed items is PARTIAL."""
    raw = validated(AcmeAnswer, payload, VENDOR, "bulk job", "job").job
    results = [
        ItemResult(
            index=item.index,
            id=item.key,
            success=item.ok,
            status="ok" if item.ok else "rejected",
            error=item.error,
        )
        for item in raw.results
    ]
    state = map_status(VENDOR, STATUS_MAP, raw.state)
    if state is JobState.SUCCEEDED and any(not item.success for item in results):
        state = JobState.PARTIAL
    return Job(
        vendor="acme",
        id=raw.id,
        state=state,
        vendor_status=raw.state,
        progress=raw.processed,
        total=raw.total,
        percent=percent_of(raw.processed, raw.total),
        message=raw.error,
        errors=[raw.error] if raw.error else [],
        results=results,
    )


class AcmeHook(JobHook):
    """Reads Acme bulk jobs (one GET per job) and submits them (:meth:`submit_bulk`, sent once).

    :param acme_conn_id: the Airflow connection (default ``acme_default``).
    """

    vendor = VENDOR
    conn_name_attr = "acme_conn_id"
    default_conn_name = "acme_default"
    conn_type = "jobstatus_acme"
    hook_name = "Acme (bulk jobs)"
    job_id_pattern = SAFE_JOB_ID
    default_requests_per_minute: ClassVar[float] = 120.0

    def __init__(self, acme_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=acme_conn_id, **kwargs)

    def api_target(self, fields: ConnectionFields) -> ApiTarget:
        """The base URL and the bearer header."""
        if not fields.password:
            raise ConfigurationError(f"connection '{fields.conn_id}' has no API key: set its password")
        base = base_url_from_host(fields, fields.host) if fields.host else DEFAULT_BASE_URL
        headers = {"Authorization": f"Bearer {fields.password}"}
        return ApiTarget(vendor=VENDOR, conn_id=fields.conn_id, base_url=base, headers=headers)

    def read_requests(self, job_ids: Sequence[str]) -> list[ReadRequest]:
        """One ``GET /v1/bulk_jobs/{id}`` per job."""
        return self.per_job_requests(job_ids, "/v1/bulk_jobs/{id}")

    def parse_jobs(self, request: ReadRequest, payload: Any) -> list[Job]:
        """The job of a status answer."""
        return [parse_job(payload)]

    def check_request(self) -> ReadRequest:
        """``GET /v1/me``."""
        return ReadRequest((), "/v1/me")

    @classmethod
    def error_detail(cls, payload: Any) -> str | None:
        """Acme's ``{"error", "message"}`` on one line."""
        if not isinstance(payload, dict):
            return None
        return str(payload.get("message") or payload.get("error") or "") or None

    def submit_bulk(self, operation: str, items: Sequence[dict[str, Any]]) -> Job:
        """``POST /v1/bulk_jobs``: one job for ``items`` (at most 50), sent once; the queued job."""
        body = {"operation": operation, "items": list(items)}
        payload = self.submit_request(
            "POST", "/v1/bulk_jobs", body, f"a bulk {operation} of {len(items)} items"
        )
        return parse_job(payload)
