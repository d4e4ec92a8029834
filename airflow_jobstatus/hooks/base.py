"""JobHook: what every vendor hook shares (connection, transport, reading jobs sync and async).

A vendor hook only says how its API looks: how a connection becomes a base URL and auth headers
(:meth:`JobHook.api_target`), which request reads which jobs (:meth:`JobHook.read_requests`) and
how a response becomes :class:`~airflow_jobstatus.core.models.Job` objects (:meth:`JobHook.parse_jobs`).
The credentials are held by an :class:`~airflow_jobstatus.http.auth.Auth` (:meth:`JobHook.make_auth`): by
default the connection's, read again when the vendor rejects them (a rotated token is picked up).
"""

from __future__ import annotations

import functools
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, ParamSpec, TypeVar
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseHook
from pydantic import BaseModel, ValidationError

from airflow_jobstatus.core.checks import DIGITS_JOB_ID, check_job_id, listed_job_ids
from airflow_jobstatus.core.models import Job
from airflow_jobstatus.errors import (
    ConfigurationError,
    JobNotFoundError,
    PermanentVendorError,
    RequestRefused,
    TransientVendorError,
    VendorAuthError,
    VendorResponseError,
    refused_input,
)
from airflow_jobstatus.http.auth import Auth, ConnectionAuth, amask_target, guarded_target, mask_target
from airflow_jobstatus.http.budget import RateBudget, budget_for, requests_per_minute, reserve_percent
from airflow_jobstatus.http.connection import ConnectionFields
from airflow_jobstatus.http.exchange import Body
from airflow_jobstatus.http.transport import ApiTarget, RetryPolicy, SyncTransport, error_reason

if TYPE_CHECKING:
    from airflow_jobstatus.http.transport_async import AsyncTransport


@dataclass(frozen=True)
class ReadRequest:
    """One GET that reads the status of ``job_ids`` (one id, or a batch)."""

    job_ids: tuple[str, ...]
    path: str
    params: dict[str, str] | None = None


class JobHook(BaseHook, ABC):
    """Base class of the vendor job hooks: resolves the connection once and reads jobs.

    :param conn_id: the Airflow connection to use (each vendor has its own default id).
    :param retry: how transient failures of status reads are retried (default: RetryPolicy()).
    """

    vendor: ClassVar[str]
    conn_name_attr: ClassVar[str]
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]
    #: HTTP statuses by which the vendor refuses a submit for now without acting on it (rate or job limits):
    #: the same request may be sent again after ``Retry-After``. See :meth:`is_refusal`.
    refusal_statuses: ClassVar[frozenset[int]] = frozenset({429})
    #: True when :meth:`check_request` reads an id that cannot exist (the vendor has no cheaper
    #: authenticated GET): its 404 then proves the token was accepted.
    check_request_may_404: ClassVar[bool] = False
    #: Words added to a "job not found" message: how long the vendor keeps job status data.
    retention_note: ClassVar[str] = "the id is wrong, or the vendor no longer keeps its status"
    #: What the vendor calls its jobs, in messages ("job statuses", "background jobs", "jobs").
    jobs_noun: ClassVar[str] = "jobs"
    #: How many job ids one read request can carry (:meth:`read_requests` batches them by this many).
    read_batch_size: ClassVar[int] = 1
    #: Requests per minute one process (a triggerer, a worker) spends on one connection when its extra
    #: ``requests_per_minute`` is not set (see :mod:`airflow_jobstatus.http.budget`).
    default_requests_per_minute: ClassVar[float] = 300.0
    #: True when the vendor's rate limit is per API host (Zendesk: one subdomain, one account), whoever
    #: calls it; False when one host serves many accounts, told apart by their credentials.
    rate_limit_per_host: ClassVar[bool] = False
    #: The shape of this vendor's job ids (checked before any request: :meth:`check_job_ids`).
    job_id_pattern: ClassVar[re.Pattern[str]] = DIGITS_JOB_ID

    def __init__(
        self, conn_id: str | None = None, *, retry: RetryPolicy | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name
        self.retry = retry
        self._sync: SyncTransport | None = None
        self._auth: Auth | None = None
        #: The connection's rate (extra ``requests_per_minute``), known once the connection is resolved.
        self.requests_per_minute = self.default_requests_per_minute
        #: The share of the account's limit left to its other integrations (extra
        #: ``rate_limit_reserve_percent``), known once the connection is resolved.
        self.reserve_percent = 20.0

    # --- what a vendor module defines -------------------------------------------------------
    @abstractmethod
    def api_target(self, fields: ConnectionFields) -> ApiTarget:
        """Base URL and auth headers for this vendor from the connection's fields."""

    @abstractmethod
    def read_requests(self, job_ids: Sequence[str]) -> list[ReadRequest]:
        """The GETs that read these jobs (one per job unless the vendor can batch)."""

    @abstractmethod
    def parse_jobs(self, request: ReadRequest, payload: Any) -> list[Job]:
        """Jobs found in the answer to ``request`` (a job the vendor omits is reported missing)."""

    def parse_jobs_for_wait(self, request: ReadRequest, payload: Any) -> list[Job]:
        """:meth:`parse_jobs` as a wait in the triggerer holds the jobs (:meth:`Job.for_waiting`). A vendor
        whose answers carry many item results overrides it to skip building what a wait drops."""
        return [job.for_waiting() for job in self.parse_jobs(request, payload)]

    @abstractmethod
    def check_request(self) -> ReadRequest:
        """A cheap authenticated GET used by :meth:`test_connection`."""

    @classmethod
    def is_refusal(cls, error: TransientVendorError) -> bool:
        """Whether a failed submit was refused unread, so sending it again cannot duplicate it: a 429, or
        another of :attr:`refusal_statuses` that carries ``Retry-After`` (a proxy's bare 503 may come
        after the vendor acted on the request: that answer counts as lost)."""
        if error.status == 429:
            return True
        return error.status in cls.refusal_statuses and error.retry_after is not None

    @classmethod
    def job_for_xcom(cls, job: Job) -> dict[str, Any]:
        """How a job goes into XCom (a vendor whose jobs carry large inline results leaves them out)."""
        return job.to_dict()

    @classmethod
    def error_detail(cls, payload: Any) -> str | None:
        """The vendor's error body (already parsed JSON) on one line, for refused submits; None if unknown."""
        return None

    def check_job_ids(self, job_ids: Sequence[Any]) -> list[str]:
        """The ids as text, each one of the vendor's shape (:attr:`job_id_pattern`, at most 128 characters),
        or a ConfigurationError naming the first that is not: before any request, so an id such as
        ``../../users/me`` or ``1?x=1`` never reaches a URL."""
        return [check_job_id(self.vendor, job_id, self.job_id_pattern) for job_id in job_ids]

    def per_job_requests(self, job_ids: Sequence[str], path_template: str) -> list[ReadRequest]:
        """One GET per job on ``path_template`` (``{id}`` replaced, URL-quoted), for vendors who have no
        batch read; an id not of the vendor's shape fails before any request (:meth:`check_job_ids`)."""
        ids = self.check_job_ids(job_ids)
        return [ReadRequest((job_id,), path_template.format(id=quote(job_id, safe=""))) for job_id in ids]

    def submit_request(
        self, method: str, path: str, body: Any, what: str, *, params: Mapping[str, str] | None = None
    ) -> Any:
        """Send a job-creating request once (never retried: it could create a second job; only sent again
        once after fresh credentials replaced rejected ones) and return its parsed answer. ``body`` is
        JSON, or a :class:`~airflow_jobstatus.http.exchange.Body` of another content type (a form, raw bytes);
        ``params`` go in the query string. A refusal (4xx other than auth) names what was refused and
        the vendor's reason (:meth:`error_detail`)."""
        try:
            if isinstance(body, Body):
                return self.transport.request_json(method, path, params=params, body=body, retry=False)
            return self.transport.request_json(method, path, params=params, json_body=body, retry=False)
        except PermanentVendorError as error:
            if isinstance(error, VendorAuthError) or error.status is None or error.status >= 500:
                raise
            detail = self.error_detail(error.payload) or str(error)
            # A refusal of the content (400, 422) is a RequestRefused: the same input is refused again.
            refusal = RequestRefused if refused_input(error) else PermanentVendorError
            raise refusal(
                f"{self.vendor} refused {what} ({method} {path}, HTTP {error.status}): {detail}",
                status=error.status,
                payload=error.payload,
            ) from None

    # --- sync (workers) -----------------------------------------------------------------------
    @property
    def transport(self) -> SyncTransport:
        """The blocking transport, built from the connection on first use."""
        if self._sync is None:
            if self._auth is None:
                fields = self.connection_fields()
                target = guarded_target(self.api_target, fields)
                self._read_budget_extras(fields)
                mask_target(target)
                self._auth = self.make_auth(target, fields)
            self._sync = SyncTransport(self._auth, self.retry, self.rate_budget(self._auth.target))
        return self._sync

    def rate_account(self, target: ApiTarget) -> str:
        """A key naming the vendor account the connection calls, shared by every connection to it and never
        holding a secret: the API host, and a digest of the credentials unless
        :attr:`rate_limit_per_host`."""
        parts = urlsplit(target.base_url)
        host = f"{self.vendor}:{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower()
        if self.rate_limit_per_host:
            return host
        digest = hashlib.sha256("\n".join(target.secrets).encode()).hexdigest()[:16]
        return f"{host}:{digest}"

    def rate_budget(self, target: ApiTarget) -> RateBudget:
        """The process's budget for this connection's account (:mod:`airflow_jobstatus.http.budget`)."""
        return budget_for(
            self.conn_id,
            self.requests_per_minute,
            account=self.rate_account(target),
            name=f"{self.vendor} (connection '{self.conn_id}')",
            reserve_percent=self.reserve_percent,
        )

    def _read_budget_extras(self, fields: ConnectionFields) -> None:
        self.requests_per_minute = requests_per_minute(
            fields.extra, self.conn_id, self.default_requests_per_minute
        )
        self.reserve_percent = reserve_percent(fields.extra, self.conn_id)

    def make_auth(self, target: ApiTarget, fields: ConnectionFields) -> Auth:
        """How requests are authenticated: by default the credentials :meth:`api_target` builds from the
        connection, which a 401/403 makes read again (:class:`~airflow_jobstatus.http.auth.ConnectionAuth`).
        A vendor with OAuth returns its own :class:`~airflow_jobstatus.http.auth.Auth` (built from
        ``fields``), whose ``refresh`` asks for a new access token."""

        def load() -> ApiTarget:
            return guarded_target(self.api_target, self.connection_fields())

        async def aload() -> ApiTarget:
            return guarded_target(self.api_target, await self.aconnection_fields())

        return ConnectionAuth(target, load, aload)

    def connection_fields(self) -> ConnectionFields:
        """The connection's fields, read now (blocking)."""
        conn = self.get_connection(self.conn_id)
        return ConnectionFields.from_connection(conn, conn.extra_dejson)

    async def aconnection_fields(self) -> ConnectionFields:
        """The connection's fields, read now without blocking the event loop."""
        conn = await self.aget_connection(self.conn_id)
        extra = await conn.aextra_dejson() if hasattr(conn, "aextra_dejson") else None
        return ConnectionFields.from_connection(conn, extra)

    def get_job(self, job_id: str) -> Job:
        """The current status of one job."""
        return self.get_jobs([job_id])[0]

    def get_jobs(self, job_ids: Sequence[str]) -> list[Job]:
        """The current status of several jobs, in the order given, with the fewest calls."""
        ids = _clean_ids(job_ids)
        found: dict[str, Job] = {}
        for request in self.read_requests(ids):
            try:
                jobs = self.transport.request_json(
                    "GET", request.path, params=request.params, parse=self._parser(request)
                )
            except PermanentVendorError as error:
                raise self._not_found(request.job_ids, error) from None
            found.update((job.id, job) for job in jobs)
        return self._in_order(ids, found)

    # --- async (triggers) ---------------------------------------------------------------------
    @asynccontextmanager
    async def async_transport(self, *, budgeted: bool = True) -> AsyncIterator[AsyncTransport]:
        """A non-blocking transport on the event loop's shared session, for as long as the block runs.
        Its requests spend the account's rate budget of the process (``budgeted=False``: they do not)."""
        from airflow_jobstatus.http.transport_async import AsyncTransport, shared_session

        auth = await self._async_auth()
        budget = self.rate_budget(auth.target) if budgeted else None
        async with shared_session() as session:
            yield AsyncTransport(auth, session, self.retry, budget)

    async def aget_job(self, job_id: str) -> Job:
        """Async twin of :meth:`get_job`."""
        return (await self.aget_jobs([job_id]))[0]

    async def aget_jobs(self, job_ids: Sequence[str], transport: AsyncTransport | None = None) -> list[Job]:
        """Async twin of :meth:`get_jobs`; pass ``transport`` to reuse one across calls."""
        if transport is None:
            async with self.async_transport() as own:
                return await self.aget_jobs(job_ids, own)
        ids = _clean_ids(job_ids)
        found: dict[str, Job] = {}
        for request in self.read_requests(ids):
            found.update((job.id, job) for job in await self.aread(request, transport))
        return self._in_order(ids, found)

    async def aread(
        self, request: ReadRequest, transport: AsyncTransport, *, waiting: bool = False
    ) -> list[Job]:
        """Send one read request: the jobs it found (a 404 becomes JobNotFoundError naming its ids).
        ``waiting``: each job as a wait holds it (:meth:`~airflow_jobstatus.core.models.Job.for_waiting`)."""
        try:
            jobs: list[Job] = await transport.request_json(
                "GET", request.path, params=request.params, parse=self._parser(request, waiting)
            )
        except PermanentVendorError as error:
            raise self._not_found(request.job_ids, error) from None
        return jobs

    async def _async_auth(self) -> Auth:
        if self._auth is None:
            fields = await self.aconnection_fields()
            target = guarded_target(self.api_target, fields)
            self._read_budget_extras(fields)
            await amask_target(target)
            self._auth = self.make_auth(target, fields)
        return self._auth

    # --- connection test ----------------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """Call the vendor once with the connection and say plainly what is wrong, if anything."""
        try:
            request = self.check_request()
            self.transport.request_json("GET", request.path, params=request.params, retry=False)
        except TransientVendorError as error:
            return False, f"{error}: check the host in connection '{self.conn_id}' and the network"
        except PermanentVendorError as error:  # incl. a rejected token (401/403)
            if not (error.status == 404 and self.check_request_may_404):
                return False, str(error)
        except (VendorResponseError, ConfigurationError) as error:  # an answer we cannot read, bad settings
            return False, str(error)
        return True, f"connected to {self.vendor} at {self.transport.target.base_url}"

    # --- shared plumbing ----------------------------------------------------------------------
    def _parser(self, request: ReadRequest, waiting: bool = False) -> Callable[[Any], list[Job]]:
        """``parse_jobs`` for one request, run inside the transport's retries (a bad shape is retried)
        and, for a large answer, in the transport's parser thread (so is the slimming for a wait)."""
        if waiting:
            return lambda payload: self.parse_jobs_for_wait(request, payload)
        return lambda payload: self.parse_jobs(request, payload)

    def _not_found(self, job_ids: Sequence[str], error: PermanentVendorError) -> PermanentVendorError:
        if error.status != 404:
            return error
        return self.missing(job_ids)

    def missing(self, job_ids: Sequence[str]) -> JobNotFoundError:
        """The error for jobs the vendor does not know."""
        names = ", ".join(job_ids)
        noun = "job" if len(job_ids) == 1 else "jobs"
        return JobNotFoundError(
            f"{self.vendor} does not know {noun} {names} (connection '{self.conn_id}'): "
            f"{self.retention_note}",
            job_ids=list(job_ids),
        )

    def _in_order(self, ids: list[str], found: dict[str, Job]) -> list[Job]:
        missing = [job_id for job_id in ids if job_id not in found]
        if missing:
            raise self.missing(missing)
        return [found[job_id] for job_id in ids]


def _clean_ids(job_ids: Sequence[str]) -> list[str]:
    """The ids asked for, checked as a sensor checks its ``job_id`` (one string is refused: a list is
    expected here), each once."""
    if isinstance(job_ids, (str, bytes)):
        raise ConfigurationError("job_ids must be a list of ids, not one string")
    return list(dict.fromkeys(listed_job_ids(list(job_ids), job_ids, name="job_ids")))


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], raw: Any, vendor: str, what: str, root: str) -> M:
    """``raw`` as ``model``, or a VendorResponseError naming the first field that does not fit
    (``root``, the vendor's name for the object, when the object itself does not fit)."""
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise shape_error(error, vendor, what, root) from None
    except RecursionError:
        raise VendorResponseError(f"{vendor} sent a {what} nested too deeply to read") from None


P = ParamSpec("P")
R = TypeVar("R")


def vendor_parser(vendor: str, what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function that reads a vendor's JSON so that it raises VendorResponseError and nothing
    else: any JSON a vendor could send gives a result or our named error, never a foreign exception."""

    def decorate(parse: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(parse)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return parse(*args, **kwargs)
            except VendorResponseError:
                raise
            except ValidationError as error:
                raise shape_error(error, vendor, what, what) from None
            except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as error:
                raise VendorResponseError(
                    f"{vendor} sent a {what} that could not be read: {error_reason(error)}"
                ) from None

        return guarded

    return decorate


def shape_error(error: ValidationError, vendor: str, what: str, root: str) -> VendorResponseError:
    """A pydantic ValidationError about a vendor's answer as our VendorResponseError, naming the field."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or root
    return VendorResponseError(
        f"{vendor} sent a {what} that does not fit the documented shape: {where}: {first['msg']}"
    )
