"""Wistia background jobs: connection, parsing, and the hook (status reads and every job-creating call).

Connection (default id ``wistia_default``): password = API token (sent as ``Authorization: Bearer``);
host optional, a full base URL replacing ``https://api.wistia.com/modern``; extra ``api_version``
(sent as ``X-Wistia-API-Version``, default ``2026-03``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any, ClassVar

from pydantic import BaseModel

from airflow_jobstatus.core.models import ItemResult, Job, JobState, map_status
from airflow_jobstatus.errors import (
    ConfigurationError,
)
from airflow_jobstatus.hooks.base import JobHook, ReadRequest, validated, vendor_parser
from airflow_jobstatus.hooks.wistia_calls import (
    WistiaCall,
    bulk_delete_subfolders_call,
    bulk_tag_call,
    copy_folder_call,
    import_url_call,
    media_bulk_call,
    swap_call,
    translate_call,
    trim_call,
)
from airflow_jobstatus.http.connection import ConnectionFields, base_url_from_host
from airflow_jobstatus.http.pacing import RequestWindow
from airflow_jobstatus.http.transport import ApiTarget

VENDOR = "Wistia"
DEFAULT_BASE_URL = "https://api.wistia.com/modern"
DEFAULT_API_VERSION = "2026-03"
#: ``PUT /medias/move``: at most this many requests per window (seconds).
MOVE_LIMIT, MOVE_PERIOD = 10, 300.0

STATUS_MAP: dict[str, JobState] = {
    "queued": JobState.QUEUED,
    "started": JobState.RUNNING,
    "finished": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
}
_API_VERSION = re.compile(r"^\d{4}-\d{2}$")


class WistiaJobStatus(BaseModel):
    """A background job as Wistia sends it (``{"id": 382476, "status": "started"}``)."""

    id: int | str
    status: str


@vendor_parser(VENDOR, "job status")
def parse_job(payload: Any) -> Job:
    """A :class:`Job` from a job status, bare or in its ``{"background_job_status": ...}`` envelope.

    A submit's answer works too: its ``message``, ``partial_errors`` (as failed items) and other fields
    (``container``, ``destination``, ``media``: in ``extra``) are kept.
    """
    outer = payload if isinstance(payload, dict) else {}
    raw = outer.get("background_job_status", payload)
    status = validated(WistiaJobStatus, raw, VENDOR, "job status", "background_job_status")
    rejected = [
        ItemResult(id=entry.get("media_id"), success=False, error=str(entry.get("error") or "refused"))
        for entry in outer.get("partial_errors") or []
        if isinstance(entry, dict)
    ]
    skip = {"background_job_status", "partial_errors", "message"}
    message = outer.get("message")
    return Job(
        vendor="wistia",
        id=str(status.id),
        state=map_status(VENDOR, STATUS_MAP, status.status),
        vendor_status=status.status,
        message=str(message) if message else None,
        results=rejected,
        extra={key: value for key, value in outer.items() if key not in skip} if raw is not outer else {},
    )


def error_text(payload: Any) -> str | None:
    """Wistia's error body on one line.

    Its shapes: ``{"errors": {field: [...]}}``, ``{"errors": [...]}`` and ``{"error": "..."}``.
    """
    if not isinstance(payload, dict):
        return None
    errors = payload.get("errors")
    if isinstance(errors, dict):
        parts = []
        for name, messages in errors.items():
            listed = messages if isinstance(messages, list) else [messages]
            parts.append(f"{name}: " + "; ".join(str(message) for message in listed))
        return " | ".join(parts) or None
    if isinstance(errors, list) and errors:
        return "; ".join(str(message) for message in errors)
    error = payload.get("error")
    return str(error) if error else None


def wistia_target(fields: ConnectionFields) -> ApiTarget:
    """Base URL, Bearer header and API version header from a connection (raises before any request)."""
    if not fields.password:
        raise ConfigurationError(
            f"connection '{fields.conn_id}' has no API token: set its password to a Wistia API token "
            "(Account settings > API access)"
        )
    version = fields.extra_str("api_version") or DEFAULT_API_VERSION
    if not _API_VERSION.match(version):
        raise ConfigurationError(
            f"connection '{fields.conn_id}': extra api_version {version!r} must look like "
            f"{DEFAULT_API_VERSION} (year-month of the Wistia API release)"
        )
    base = base_url_from_host(fields, fields.host) if fields.host else DEFAULT_BASE_URL
    return ApiTarget(
        vendor=VENDOR,
        conn_id=fields.conn_id,
        base_url=base,
        headers={"Authorization": f"Bearer {fields.password}"},
        plain_headers={"X-Wistia-API-Version": version},
    )


class WistiaHook(JobHook):
    """Reads Wistia background job statuses, sync and async, and makes every job-creating call.

    Each submit method sends one request, once (never retried: a lost answer is reported, not resent)
    and returns the queued :class:`~airflow_jobstatus.core.models.Job`, with the answer's ``message``,
    ``partial_errors`` (failed items of ``results``) and other fields (``extra``). Bad input raises
    :class:`~airflow_jobstatus.errors.ConfigurationError` before any request; Wistia's 400/422 raise
    :class:`~airflow_jobstatus.errors.PermanentVendorError` with its field errors; a rate limit
    (429, or 503 with ``Retry-After``) raises :class:`~airflow_jobstatus.errors.TransientVendorError`
    with ``retry_after``. Submits are synchronous on purpose: operators submit on the worker, and only
    the wait runs in the triggerer (:meth:`aget_job`).
    Media moves are paced to Wistia's 10 requests per 5 minutes by waiting.

    :param wistia_conn_id: the Airflow connection (default ``wistia_default``).
    """

    vendor = VENDOR
    jobs_noun: ClassVar[str] = "background jobs"
    conn_name_attr = "wistia_conn_id"
    default_conn_name = "wistia_default"
    conn_type = "jobstatus_wistia"
    hook_name = "Wistia (background jobs)"
    refusal_statuses: ClassVar[frozenset[int]] = frozenset({429, 503})
    retention_note: ClassVar[str] = "the id is wrong, or Wistia no longer keeps the job's status"
    #: Half of the account limit (600 requests a minute).
    default_requests_per_minute: ClassVar[float] = 300.0

    def __init__(self, wistia_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=wistia_conn_id, **kwargs)
        self.move_window = RequestWindow(MOVE_LIMIT, MOVE_PERIOD, what="Wistia media moves")

    # --- reading jobs ---------------------------------------------------------------------------
    def api_target(self, fields: ConnectionFields) -> ApiTarget:
        """Base URL and headers for this connection."""
        return wistia_target(fields)

    def read_requests(self, job_ids: Sequence[str]) -> list[ReadRequest]:
        """One ``GET /background_job_status/{id}`` per job (Wistia has no batch read)."""
        return self.per_job_requests(job_ids, "/background_job_status/{id}")

    def parse_jobs(self, request: ReadRequest, payload: Any) -> list[Job]:
        """The job in a status answer."""
        return [parse_job(payload)]

    @classmethod
    def error_detail(cls, payload: Any) -> str | None:
        """Wistia's error body (field errors included) on one line."""
        return error_text(payload)

    def check_request(self) -> ReadRequest:
        """``GET /account``: any token may read it."""
        return ReadRequest((), "/account")

    # --- job-creating calls -----------------------------------------------------------------------
    def submit(self, call: WistiaCall) -> Job:
        """Send one job-creating call (built by :mod:`~airflow_jobstatus.hooks.wistia_calls`) once."""
        pace = self.move_window.turn() if call.path == "/medias/move" else nullcontext(0.0)
        with pace:
            payload = self.submit_request(call.method, call.path, call.body, f"to {call.what}")
        job = parse_job(payload)
        self.log.info("%s: job %s (%s)", call.what, job.id, job.message or job.vendor_status)
        return job

    def bulk_tag(self, hashed_ids: Sequence[str], tag_names: Sequence[str]) -> Job:
        """``POST /taggings/bulk_create``: add ``tag_names`` to every media in ``hashed_ids``."""
        return self.submit(bulk_tag_call(hashed_ids, tag_names))

    def trim_media(self, hashed_id: str, trims: Sequence[str], keep_trims: bool | None = None) -> Job:
        """``POST /medias/{hashed_id}/trims``: ``trims`` as ``HH:MM:SS.mmm-HH:MM:SS.mmm`` ranges."""
        return self.submit(trim_call(hashed_id, trims, keep_trims))

    def archive_media(self, hashed_ids: Sequence[str]) -> Job:
        """``PUT /medias/archive`` (at most 100 media)."""
        return self.submit(media_bulk_call("archive", hashed_ids))

    def restore_media(self, hashed_ids: Sequence[str], folder_id: str) -> Job:
        """``PUT /medias/restore`` into ``folder_id`` (at most 100 media)."""
        return self.submit(media_bulk_call("restore", hashed_ids, folder_id))

    def move_media(self, hashed_ids: Sequence[str], folder_id: str, subfolder_id: str | None = None) -> Job:
        """``PUT /medias/move`` (at most 100 media; 10 requests per 5 minutes, waited for here).

        Media Wistia could not move come back as failed items (its 207 ``partial_errors``).
        """
        return self.submit(media_bulk_call("move", hashed_ids, folder_id, subfolder_id))

    def copy_media(self, hashed_ids: Sequence[str], folder_id: str) -> Job:
        """``PUT /medias/copy`` into ``folder_id``."""
        return self.submit(media_bulk_call("copy", hashed_ids, folder_id))

    def swap_media(self, hashed_id: str, replacement_media_id: str) -> Job:
        """``PUT /medias/{hashed_id}/swap``: replace its file with ``replacement_media_id``'s."""
        return self.submit(swap_call(hashed_id, replacement_media_id))

    def translate_media(
        self, hashed_id: str, target_language: str, source_language: str | None = None
    ) -> Job:
        """``POST /medias/{hashed_id}/translate``."""
        return self.submit(translate_call(hashed_id, target_language, source_language))

    def import_url(self, url: str, folder_id: str | None = None) -> Job:
        """``POST /medias/import_url``: import the file at ``url`` as a new media."""
        return self.submit(import_url_call(url, folder_id))

    def copy_folder(self, folder_id: str, admin_email: str | None = None) -> Job:
        """``POST /folders/{folder_id}/copy``."""
        return self.submit(copy_folder_call(folder_id, admin_email))

    def bulk_delete_subfolders(self, folder_id: str, hashed_ids: Sequence[str]) -> Job:
        """``DELETE /folders/{folder_id}/subfolders/bulk_delete``."""
        return self.submit(bulk_delete_subfolders_call(folder_id, hashed_ids))
