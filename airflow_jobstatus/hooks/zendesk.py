"""Zendesk Support job statuses: connection, parsing and the hook.

Connection (default id ``zendesk_default``): host = ``yoursubdomain.zendesk.com``, a bare subdomain,
or a full base URL; login = agent email; password = API token. Connections made for the official
``apache-airflow-providers-zendesk`` (conn type ``zendesk``) work unchanged.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, Field

from airflow_jobstatus.core.checks import SAFE_JOB_ID
from airflow_jobstatus.core.models import ItemResult, Job, JobState, map_status, percent_of
from airflow_jobstatus.core.recent import LastReads
from airflow_jobstatus.core.wording import plural
from airflow_jobstatus.errors import ConfigurationError, VendorResponseError
from airflow_jobstatus.hooks.base import JobHook, ReadRequest, validated, vendor_parser
from airflow_jobstatus.hooks.zendesk_bulk import API_PREFIX, build_request, bulk_action
from airflow_jobstatus.http.connection import ConnectionFields, base_url_from_host, is_loopback
from airflow_jobstatus.http.transport import ApiTarget

VENDOR = "Zendesk"
SHOW_MANY_BATCH = 100
#: The largest item count read from a job status (2**53: exact as a float; Zendesk jobs hold 100 items).
MAX_ITEM_COUNT = 2**53

STATUS_MAP: dict[str, JobState] = {
    "queued": JobState.QUEUED,
    "working": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "killed": JobState.CANCELLED,
}

_ITEM_FIELDS = ("index", "id", "success", "action", "status", "error", "details")


class ZendeskJobStatus(BaseModel):
    """A job status as Zendesk sends it (``GET /api/v2/job_statuses/{id}``)."""

    id: str
    status: str
    url: str | None = None
    #: Item counts: never negative, and small enough to compute a percentage from (a huge one is refused).
    total: int | None = Field(default=None, ge=0, le=MAX_ITEM_COUNT)
    progress: int | None = Field(default=None, ge=0, le=MAX_ITEM_COUNT)
    message: str | None = None
    #: A list of item results (or one object); checked by :func:`raw_items`, not copied by pydantic.
    results: Any = None
    job_type: str | None = None


#: The fields of a job status its Job is built from (the model ignores any other).
STATUS_FIELDS = tuple(ZendeskJobStatus.model_fields)


def item_succeeded(raw: dict[str, Any]) -> bool:
    """Whether one entry of a job's ``results`` succeeded: unless it says ``success: false`` or carries an
    error."""
    success = raw.get("success")
    if isinstance(success, bool):
        return success
    return not (raw.get("error") or raw.get("errors"))


def raw_items(results: Any) -> list[dict[str, Any]]:
    """A job's ``results`` as a list of entries (Zendesk sends one object for a single-item job)."""
    if results is None:
        return []
    entries = [results] if isinstance(results, dict) else results
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise VendorResponseError(
            f"{VENDOR} sent a job status that does not fit the documented shape: results: "
            "expected a list of objects"
        )
    return entries


@vendor_parser(VENDOR, "job status item")
def parse_item(raw: dict[str, Any]) -> ItemResult:
    """One entry of a job's ``results``: success unless it says ``success: false`` or carries an error."""
    error = raw.get("error") or raw.get("errors") or None
    success = item_succeeded(raw)
    details = raw.get("details")
    return ItemResult(
        index=raw.get("index") if isinstance(raw.get("index"), int) else None,
        id=raw.get("id"),
        success=success,
        action=raw.get("action"),
        status=raw.get("status"),
        error=str(error) if error else None,
        details=details if details is None or isinstance(details, str) else str(details),
        extra={key: value for key, value in raw.items() if key not in (*_ITEM_FIELDS, "errors")},
    )


@vendor_parser(VENDOR, "job status")
def parse_job(payload: Any, *, succeeded_items: bool = True) -> Job:
    """A :class:`Job` from a Zendesk job status, bare or in its ``{"job_status": ...}`` envelope.

    ``succeeded_items=False``: the job as a wait holds it (:meth:`Job.for_waiting`), built without ever
    making the succeeded items' results (a finished job of 100 items costs a few dict look-ups).
    """
    raw = payload.get("job_status", payload) if isinstance(payload, dict) else payload
    status = validated(ZendeskJobStatus, raw, VENDOR, "job status", "job_status")
    entries = raw_items(status.results)
    if not succeeded_items:
        entries = [entry for entry in entries if not item_succeeded(entry)]
    results = [parse_item(entry) for entry in entries]
    state = map_status(VENDOR, STATUS_MAP, status.status)
    if state is JobState.SUCCEEDED and any(not item.success for item in results):
        state = JobState.PARTIAL
    return Job(
        vendor="zendesk",
        id=status.id,
        state=state,
        vendor_status=status.status,
        progress=status.progress,
        total=status.total,
        percent=percent_of(status.progress, status.total),
        message=status.message,
        results=results,
        result_url=status.url,
    )


@vendor_parser(VENDOR, "job status")
def parse_jobs_payload(
    payload: Any, *, succeeded_items: bool = True, last_reads: LastReads | None = None
) -> list[Job]:
    """Jobs from a single-job answer or a ``{"job_statuses": [...]}`` list answer. ``last_reads``: a job
    whose status is as at its last read through it is the Job built then (see core/recent.py)."""
    if isinstance(payload, dict) and isinstance(payload.get("job_statuses"), list):
        items = payload["job_statuses"]
    else:
        items = [payload]
    if last_reads is None:
        return [parse_job(item, succeeded_items=succeeded_items) for item in items]
    build = functools.partial(parse_job, succeeded_items=succeeded_items)
    return [last_reads.job(item, build, _status_of(item)) for item in items]


def _status_of(item: Any) -> Any:
    return item.get("job_status", item) if isinstance(item, dict) else item


def zendesk_base_url(fields: ConnectionFields) -> str:
    """``https://sub.zendesk.com`` from a host, a bare subdomain, or a full URL (``/api/v2`` trimmed)."""
    if not fields.host:
        raise ConfigurationError(
            f"connection '{fields.conn_id}': host is empty; set it to yoursubdomain.zendesk.com, "
            "the bare subdomain, or a full URL such as http://127.0.0.1:8900"
        )
    host = fields.host
    name = host.split(":")[0]
    if "://" not in host and "." not in name and not is_loopback(name):
        host = f"{name}.zendesk.com"
    base = base_url_from_host(fields, host)
    return base[: -len(API_PREFIX)] if base.endswith(API_PREFIX) else base


def zendesk_authorization(fields: ConnectionFields) -> str:
    """The ``Authorization`` header, with the official provider's precedence.

    ``use_token`` (password is an API token), extra ``token``, extra ``oauth_token`` (Bearer), then the
    password: an API token for our connection type, a plain password for conn type ``zendesk``.
    """
    token = None
    if fields.extra_bool("use_token") and fields.password:
        token = fields.password
    elif fields.extra_str("token"):
        token = fields.extra_str("token")
    elif fields.extra_str("oauth_token"):
        return f"Bearer {fields.extra_str('oauth_token')}"
    elif fields.password and fields.conn_type != "zendesk":
        token = fields.password
    elif not fields.password:
        raise ConfigurationError(
            f"connection '{fields.conn_id}' has no credentials: set the password to an API token "
            "(and the login to the agent's email), or the extra oauth_token"
        )
    if not fields.login:
        raise ConfigurationError(
            f"connection '{fields.conn_id}': login is empty; set it to the email of the agent "
            "who owns the API token"
        )
    user = f"{fields.login}/token" if token is not None else fields.login
    secret = token if token is not None else fields.password
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")


class ZendeskJobHook(JobHook):
    """Reads Zendesk Support job statuses (``/api/v2/job_statuses``), sync and async, and submits bulk jobs.

    :param zendesk_conn_id: the Airflow connection (ours, or one made for the official Zendesk provider).
    """

    vendor = VENDOR
    jobs_noun: ClassVar[str] = "job statuses"
    conn_name_attr = "zendesk_conn_id"
    default_conn_name = "zendesk_default"
    conn_type = "jobstatus_zendesk"
    hook_name = "Zendesk (job status)"
    retention_note: ClassVar[str] = (
        "the id is wrong, or its status data expired (Zendesk keeps a job status for a day at most, "
        "and only its last 100 or so jobs)"
    )
    #: Half of the smallest plan's account limit (Team: 200 a minute), which every integration shares.
    default_requests_per_minute: ClassVar[float] = 100.0
    #: A Zendesk limit is per account, and an account is one subdomain: every user and token shares it.
    rate_limit_per_host: ClassVar[bool] = True
    read_batch_size: ClassVar[int] = SHOW_MANY_BATCH
    #: Zendesk job ids are hex strings (32 characters); letters, digits, ``_`` and ``-`` are accepted.
    job_id_pattern: ClassVar[re.Pattern[str]] = SAFE_JOB_ID

    def __init__(self, zendesk_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=zendesk_conn_id, **kwargs)
        #: What the waits reading through this hook (one poller) read last: an unchanged status is not
        #: validated and built again.
        self._last_reads = LastReads(STATUS_FIELDS)

    def api_target(self, fields: ConnectionFields) -> ApiTarget:
        """Base URL and auth header for this connection (raises before any request if incomplete)."""
        return ApiTarget(
            vendor=VENDOR,
            conn_id=fields.conn_id,
            base_url=zendesk_base_url(fields),
            headers={"Authorization": zendesk_authorization(fields)},
        )

    def read_requests(self, job_ids: Sequence[str]) -> list[ReadRequest]:
        """One show call for a single job; ``show_many`` in batches of 100 otherwise (ids checked first)."""
        job_ids = self.check_job_ids(job_ids)
        if len(job_ids) == 1:
            return [
                ReadRequest((job_ids[0],), f"{API_PREFIX}/job_statuses/{quote(job_ids[0], safe='')}.json")
            ]
        batches = [tuple(job_ids[i : i + SHOW_MANY_BATCH]) for i in range(0, len(job_ids), SHOW_MANY_BATCH)]
        return [
            ReadRequest(batch, f"{API_PREFIX}/job_statuses/show_many.json", {"ids": ",".join(batch)})
            for batch in batches
        ]

    def parse_jobs(self, request: ReadRequest, payload: Any) -> list[Job]:
        """Jobs from a show or show_many answer."""
        return parse_jobs_payload(payload)

    def parse_jobs_for_wait(self, request: ReadRequest, payload: Any) -> list[Job]:
        """Jobs from a show or show_many answer, as a wait holds them: succeeded items are never built, and
        a job whose status is as at its last read (most reads of a running job) is the Job built then."""
        return parse_jobs_payload(payload, succeeded_items=False, last_reads=self._last_reads)

    def check_request(self) -> ReadRequest:
        """The job status list: cheap, and any agent may read it."""
        return ReadRequest((), f"{API_PREFIX}/job_statuses.json", {"page[size]": "1"})

    def submit_bulk(
        self,
        resource: str,
        action: str,
        items: Sequence[Any],
        *,
        change: Mapping[str, Any] | None = None,
        use_external_ids: bool = False,
        target_id: int | None = None,
    ) -> Job:
        """Submit one bulk job (at most 100 items) and return it as Zendesk queued it.

        Bad input raises :class:`ConfigurationError` before any request. The submit is sent once and
        never resent (only once more with fresh credentials when Zendesk rejected the old ones: a 401
        created nothing): a refusal by the job limit or the rate limit raises
        :class:`~airflow_jobstatus.errors.TransientVendorError` (status 429, ``retry_after``), which
        means nothing was created and the same items may be sent again after the wait.

        :param resource: ``tickets``, ``deleted_tickets``, ``ticket_imports``, ``users``,
            ``organizations``, ``organization_memberships`` or ``group_memberships``.
        :param action: ``create_many``, ``update_many``, ``create_or_update_many``, ``destroy_many``,
            ``mark_many_as_spam`` or ``merge`` (as the resource offers them).
        :param items: record ids (destroy, spam, merge sources, update_many with ``change``) or objects
            (create, create_or_update, update_many without ``change``: each with an ``id``).
        :param change: update_many only: the one change applied to every id in ``items``.
        :param use_external_ids: the ids in ``items`` are external ids (users and organizations
            update_many and destroy_many).
        :param target_id: merge only: the ticket the source tickets are merged into.
        :return: the queued :class:`~airflow_jobstatus.core.models.Job`.
        """
        endpoint = bulk_action(resource, action)
        request = build_request(
            endpoint, items, change=change, use_external_ids=use_external_ids, target_id=target_id
        )
        what = f"a {resource} {action} job"
        payload = self.submit_request(
            request.method, request.path, request.json_body, what, params=request.params
        )
        job = parse_job(payload)
        self.log.info("submitted %s %s of %s: job %s", resource, action, plural(len(items), "item"), job.id)
        return job
