"""The Trade Desk Workflows jobs: connection, the hook (status reads, submits, result download).

Connection (default id ``tradedesk_default``): password = the ``TTD-Auth`` token; extra ``environment``
(``production`` or ``sandbox``) picks the vendor's base URL; host optional, a full base URL replacing
both (how a local sandbox is reached).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, cast

from airflow_jobstatus.core.checks import DIGITS_JOB_ID, check_job_id
from airflow_jobstatus.core.models import Job, JobState
from airflow_jobstatus.core.results import DEFAULT_INLINE_LIMIT, ResultSource, deliver_result
from airflow_jobstatus.errors import (
    ConfigurationError,
    NoJobCreated,
    PermanentVendorError,
    RequestRefused,
    VendorResponseError,
)
from airflow_jobstatus.hooks.base import JobHook, ReadRequest
from airflow_jobstatus.hooks.tradedesk_models import (
    JOB_KINDS,
    VENDOR,
    JobKind,
    graphql_submit_errors,
    parse_graphql_job,
    parse_job,
    problem_text,
)
from airflow_jobstatus.hooks.tradedesk_submits import STANDARD_JOBS, check_payload, check_query
from airflow_jobstatus.http.connection import ConnectionFields, base_url_from_host
from airflow_jobstatus.http.transport import ApiTarget, Download, open_download

ENVIRONMENTS: dict[str, str] = {
    "production": "https://api.thetradedesk.com/workflows",
    "sandbox": "https://ext-api.sb.thetradedesk.com/workflows",
}
STATUS_PATHS: dict[str, str] = {
    "graphql": "/graphqlbulkjob/{id}",
    "standard": "/standardjob/{id}/status",
    "legacy": "/bulkjob/{id}/status",
}


def check_job_kind(value: str) -> JobKind:
    """A job kind, or a ConfigurationError naming the choices."""
    if value not in JOB_KINDS:
        raise ConfigurationError(f"job_kind must be one of {', '.join(JOB_KINDS)}, not {value!r}")
    return cast(JobKind, value)


def tradedesk_target(fields: ConnectionFields) -> ApiTarget:
    """Base URL and ``TTD-Auth`` header from a connection (raises before any request if incomplete)."""
    if not fields.password:
        raise ConfigurationError(
            f"connection '{fields.conn_id}' has no token: set its password to a TTD-Auth token "
            "(The Trade Desk UI: Developer > API tokens)"
        )
    environment = (fields.extra_str("environment") or "production").lower()
    if environment not in ENVIRONMENTS:
        raise ConfigurationError(
            f"connection '{fields.conn_id}': extra environment {environment!r} must be 'production' or "
            "'sandbox' (or set host to a full base URL)"
        )
    base = base_url_from_host(fields, fields.host) if fields.host else ENVIRONMENTS[environment]
    return ApiTarget(
        vendor=VENDOR, conn_id=fields.conn_id, base_url=base, headers={"TTD-Auth": fields.password}
    )


class TradeDeskHook(JobHook):
    """Reads The Trade Desk's job statuses (sync and async), submits jobs and downloads their results.

    One hook reads one kind of job id (``job_kind``): ``"graphql"`` (GraphQL bulk query jobs),
    ``"standard"`` (standard jobs) or ``"legacy"`` (bulk jobs of SDKs up to 0.6). Submits work whatever
    the kind. A submit is sent once, never resent (it could create a second job).

    :param tradedesk_conn_id: the Airflow connection (default ``tradedesk_default``).
    :param job_kind: which status path reads job ids.
    """

    vendor = VENDOR
    conn_name_attr = "tradedesk_conn_id"
    default_conn_name = "tradedesk_default"
    conn_type = "jobstatus_tradedesk"
    hook_name = "The Trade Desk (Workflows jobs)"
    check_request_may_404: ClassVar[bool] = True
    retention_note: ClassVar[str] = "the id is wrong, or belongs to another job kind (job_kind)"

    def __init__(
        self, tradedesk_conn_id: str = default_conn_name, job_kind: str = "standard", **kwargs: Any
    ) -> None:
        super().__init__(conn_id=tradedesk_conn_id, **kwargs)
        self.job_kind = check_job_kind(job_kind)

    # --- reading jobs ---------------------------------------------------------------------------
    def api_target(self, fields: ConnectionFields) -> ApiTarget:
        """Base URL and ``TTD-Auth`` header for this connection."""
        return tradedesk_target(fields)

    def read_requests(self, job_ids: Sequence[str]) -> list[ReadRequest]:
        """One GET per job on the status path of ``job_kind`` (there is no batch read)."""
        return self.per_job_requests(job_ids, STATUS_PATHS[self.job_kind])

    def parse_jobs(self, request: ReadRequest, payload: Any) -> list[Job]:
        """The job in a status answer."""
        if self.job_kind == "graphql" and isinstance(payload, dict) and payload.get("job") is None:
            raise PermanentVendorError(
                f"{VENDOR} answered the status of GraphQL job {request.job_ids[0]} without a job: "
                f"{payload.get('errors') or 'no reason given'}"
            )
        return [parse_job(payload, self.job_kind)]

    @classmethod
    def error_detail(cls, payload: Any) -> str | None:
        """A ProblemDetails body on one line: ``title: detail``."""
        return problem_text(payload)

    def check_request(self) -> ReadRequest:
        """A status read of job 0, which does not exist: a 404 proves the token was accepted."""
        return ReadRequest((), "/standardjob/0/status")

    @classmethod
    def job_for_xcom(cls, job: Job) -> dict[str, Any]:
        """The job without ``raw_result`` (up to 20 MB): results go through :meth:`download_result`."""
        return job.model_dump(mode="json", exclude={"raw_result"})

    # --- submits --------------------------------------------------------------------------------
    def submit_graphql_query(
        self,
        query: str,
        *,
        callback_url: str | None = None,
        callback_headers: Mapping[str, str] | None = None,
        beta_features: str | None = None,
    ) -> Job:
        """``POST /graphqlbulkqueryjob``: start a GraphQL bulk query job; returns it as queued.

        An answer with GraphQL errors and no job (HTTP 200) raises RequestRefused showing them. The values
        of ``callback_headers`` (often a credential of the callback's receiver) are masked in task logs.
        """
        body: dict[str, Any] = {"query": check_query(query)}
        if callback_url:
            callback: dict[str, Any] = {"callbackUrl": callback_url}
            if callback_headers:
                from airflow.sdk.log import mask_secret

                for value in callback_headers.values():
                    mask_secret(value)
                callback["callbackHeaders"] = [{"key": k, "value": v} for k, v in callback_headers.items()]
            body["callbackInput"] = callback
        if beta_features:
            body["betaFeatures"] = beta_features
        payload = self.submit_request("POST", "/graphqlbulkqueryjob", body, "a GraphQL bulk query job")
        errors = graphql_submit_errors(payload)
        if errors:
            raise RequestRefused(
                f"{VENDOR} refused the GraphQL bulk query: " + " | ".join(errors), payload=payload
            )
        job = parse_graphql_job(payload["payload"]["data"])
        self.log.info("started GraphQL bulk query job %s", job.id)
        return job

    def submit_standard_job(self, kind: str, payload: Mapping[str, Any]) -> Job:
        """Start a standard job; ``kind`` is one of :data:`STANDARD_JOBS` (``first_party_data``,
        ``third_party_data``, ``campaign_create``, ``campaign_update``, ``ad_group_create``,
        ``ad_group_update``) and ``payload`` its JSON body, camelCase as the API takes it.

        Raises :class:`~airflow_jobstatus.errors.NoJobCreated` (its ``payload`` is the answer) when the
        API answers in full without a job (a ``validateInputOnly`` update).
        """
        call = STANDARD_JOBS.get(kind)
        if call is None:
            raise ConfigurationError(f"kind must be one of {', '.join(STANDARD_JOBS)}, not {kind!r}")
        body = check_payload(call, payload)
        answer = self.submit_request(call.method, call.path, body, call.what)
        job_id = answer.get("id") if isinstance(answer, dict) else None
        if job_id is None:
            raise NoJobCreated(f"{VENDOR} answered {call.what} without starting a job", payload=answer)
        try:
            job_id = check_job_id(VENDOR, job_id, DIGITS_JOB_ID)
        except ConfigurationError as error:  # the vendor's answer, not our input, is wrong
            raise VendorResponseError(
                f"{VENDOR} answered {call.what} with a job id that is not one: {error}"
            ) from None
        self.log.info("started %s: job %s", call.what, job_id)
        return Job(vendor="tradedesk", id=str(job_id), state=JobState.QUEUED, vendor_status="Accepted")

    # --- results --------------------------------------------------------------------------------
    @contextmanager
    def open_result(self, url: str) -> Iterator[Download]:
        """Stream a job's result link; the TTD-Auth token is never sent (see ``open_download``).

        The link, and each redirect hop, must be a public https host (see
        :mod:`airflow_jobstatus.http.downloads`): a loopback one when the API host is loopback too (the
        sandbox), private ones with the connection extra ``allow_private_result_hosts``, plain http with
        ``allow_insecure_http``. The ``[jobstatus]`` download limits are read (and checked) here, before
        any request."""
        from airflow_jobstatus.http.downloads import DownloadLimits, HostPolicy

        limits = DownloadLimits.from_settings()
        extra = self.get_connection(self.conn_id).extra_dejson
        hosts = HostPolicy.for_connection(self.transport.target.base_url, extra, self.conn_id)
        with open_download(VENDOR, url, allow_hosts=hosts, limits=limits) as download:
            yield download

    def download_result(
        self,
        job: Job,
        output_path: str | None = None,
        *,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        overflow: Callable[[], str] | None = None,
    ) -> Any:
        """A finished job's result: its parsed JSON (at most ``inline_limit`` bytes), or, with
        ``output_path``, ``{"path", "size", "sha256"}`` of the copy streamed there (see
        :mod:`airflow_jobstatus.core.results`). A bigger result without ``output_path`` goes to the path
        ``overflow()`` gives, or raises ResultTooLarge without it. ``job`` should be fresh from
        :meth:`get_job`: it carries ``raw_result`` when small and ``result_url`` otherwise.
        """
        source = ResultSource(job.id, job.raw_result, job.result_url)
        return deliver_result(
            source,
            self.open_result,
            output_path=output_path,
            inline_limit=inline_limit,
            retry=self.retry,
            overflow=overflow,
        )
