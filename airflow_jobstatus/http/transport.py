"""HTTP for workers (requests) and triggers (one shared aiohttp session per event loop).

Both worlds share one policy (:mod:`airflow_jobstatus.http.transport_errors`, re-exported here): which answers
are retried (connection errors, timeouts, 429, 5xx and unparsable bodies, for idempotent reads only), how
long to wait (``Retry-After`` first, else exponential backoff with jitter), and which exception each
failure becomes. Submits are never retried blindly: the caller decides.

Both have one general request (:meth:`SyncTransport.request`): any method, an API path or an absolute
URL, query params, a body of any content type (:class:`~airflow_jobstatus.http.exchange.Body`), extra headers,
the answer whole or streamed; :meth:`SyncTransport.request_json` reads JSON on top of it. Every request
keeps the same rules: the answer's size cap (``max_body_bytes``), the connection's secrets scrubbed from
it, credentials only for the API host's origin and no redirect followed, header values without CR/LF.
A 401/403 from the API host refreshes the credentials once (:mod:`airflow_jobstatus.http.auth`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin

from airflow_jobstatus.core.checks import sane_delay
from airflow_jobstatus.errors import ConfigurationError, JobStatusError, TransientVendorError
from airflow_jobstatus.http.auth import Auth, StaticAuth
from airflow_jobstatus.http.budget import DEFAULT_HOLD
from airflow_jobstatus.http.exchange import (
    DEFAULT_HEADERS,
    HEADER_VALUE,
    MIN_SCRUBBED_SECRET,  # noqa: F401 (re-exported)
    Answer,
    Body,
    Outgoing,
    StreamScrubber,
    origin,
    request_headers,
    scrub,
    secret_forms,
)
from airflow_jobstatus.http.transport_errors import (  # noqa: F401 (re-exported: the policy is the transport's)
    AUTH_STATUSES,
    BODY_EXCERPT_CHARS,
    MAX_RETRY_AFTER,
    RETRYABLE_STATUSES,
    CappedBody,
    body_excerpt,
    certificate_error,
    decode_json,
    error_reason,
    interpret_response,
    is_certificate_failure,
    is_retryable,
    never_connected,
    parse_retry_after,
    parsed,
    raise_for_status,
    too_large,
    wait_before_retry,
    without_query,
)

if TYPE_CHECKING:
    import requests

    from airflow_jobstatus.http.budget import RateBudget

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The largest answer of the API host read by default (decompressed): 4 MiB, five times the largest real
#: status answer (Zendesk show_many of 100 jobs x 100 items, ~0.8 MB). Extra ``max_response_bytes``.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
#: Pieces in which answers are read, so that a size cap stops a large one early.
READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ApiTarget:
    """Where and how to call one vendor API: base URL plus auth headers (never printed)."""

    vendor: str
    conn_id: str
    base_url: str
    headers: Mapping[str, str] = field(repr=False)
    timeout: float = 30.0
    #: Headers that are not secret (an API version, say): sent to the API host too, never masked in logs.
    plain_headers: Mapping[str, str] = field(default_factory=dict)
    #: The connection's secrets as they could come back in an answer (raw token, password, header
    #: values): removed from every answer body before anything reads it (:meth:`scrub`).
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: The largest answer read from the API host (decompressed); a larger one is ResponseTooLarge.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        for name, value in {**self.headers, **self.plain_headers}.items():
            if not isinstance(value, str) or not HEADER_VALUE.fullmatch(value):
                raise ConfigurationError(
                    f"connection '{self.conn_id}': the value of header {name} (from the connection's "
                    "credentials or settings) holds a line break, a control character or a non-ASCII "
                    "character: set the token or password again, without them"
                )

    def scrub(self, body: bytes) -> bytes:
        """``body`` with every secret of the connection replaced by ``***`` (a vendor may echo a token)."""
        for secret in self.secrets:
            body = scrub(body, secret_forms(secret))
        return body

    def url(self, path_or_url: str) -> str:
        """Absolute URL for an API path (``/api/v2/x``) or an absolute URL on the API host."""
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.base_url.rstrip("/") + "/", path_or_url.lstrip("/"))

    def same_origin(self, url: str) -> bool:
        """Whether ``url`` is on the API host's origin (scheme, host and port): the only one that gets the
        credentials."""
        return origin(url) == origin(self.base_url)

    def headers_for(self, url: str) -> dict[str, str]:
        """Request headers for ``url``: the auth headers only when it is on the API host."""
        headers = dict(DEFAULT_HEADERS)
        if self.same_origin(url):
            headers.update(self.plain_headers)
            headers.update(self.headers)
        return headers


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure."""

    attempts: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 300.0

    def attempts_for(self, method: str, retry: bool | None) -> int:
        """How many tries a request gets: reads are retried, writes only when the caller says so."""
        retry = method.upper() == "GET" if retry is None else retry
        return self.attempts if retry else 1

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based): finite, at most ``retry_after_max``."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (min(attempt, 64) - 1))
        backoff = random.uniform(ceiling / 2, ceiling)
        if retry_after is None:
            return sane_delay(backoff, fallback=self.backoff_max, ceiling=self.backoff_max)
        return sane_delay(retry_after, fallback=backoff, ceiling=self.retry_after_max)


def as_auth(target: ApiTarget | Auth) -> Auth:
    """``target`` as an Auth: an ApiTarget given as it is never refreshes (:class:`StaticAuth`)."""
    return target if isinstance(target, Auth) else StaticAuth(target)


def json_body_of(value: Any, body: Body | None) -> Body | None:
    """The body of a JSON request: ``body`` when given, else ``value`` as JSON (None: no body)."""
    if body is not None:
        if value is not None:
            raise ConfigurationError("give a request json_body or a body, not both")
        return body
    return None if value is None else Body.json(value)


def hold_budget(budget: RateBudget | None, error: Exception, retry: RetryPolicy) -> None:
    """The vendor asked us to slow down (a 429, or a Retry-After): every user of the account waits."""
    if budget is None or not isinstance(error, TransientVendorError):
        return
    if error.retry_after is not None:
        budget.hold(sane_delay(error.retry_after, fallback=DEFAULT_HOLD, ceiling=retry.retry_after_max))
    elif error.status == 429:
        budget.hold(DEFAULT_HOLD)


def refreshed_notice(target: ApiTarget, status: int, method: str, url: str) -> None:
    """Log that a request is sent again with refreshed credentials (never the credentials)."""
    log.info(
        "%s refused the credentials of connection '%s' (HTTP %d on %s %s); they were refreshed: sending "
        "the request again",
        target.vendor,
        target.conn_id,
        status,
        method,
        without_query(url),
    )


class SyncTransport:
    """Blocking HTTP for workers, on one ``requests.Session`` per hook; ``target`` may be an
    :class:`~airflow_jobstatus.http.auth.Auth` that can refresh (a bare ApiTarget cannot)."""

    def __init__(
        self, target: ApiTarget | Auth, retry: RetryPolicy | None = None, budget: RateBudget | None = None
    ) -> None:
        import requests  # here, not at module level: DAG files importing our operators never pay for it

        self.auth = as_auth(target)
        self.retry = retry or RetryPolicy()
        #: The account's rate budget (:mod:`airflow_jobstatus.http.budget`), spent by every request to the
        #: API host; None: unpaced.
        self.budget = budget
        self._session = requests.Session()

    @property
    def target(self) -> ApiTarget:
        """The API target in force (it changes when the auth is refreshed)."""
        return self.auth.target

    @target.setter
    def target(self, value: ApiTarget) -> None:
        self.auth.target = value

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool | None = None,
        stream: bool = False,
        max_bytes: int | None = None,
        timeout: float | None = None,
    ) -> Answer:
        """Send one request and return its successful :class:`Answer` (whole and scrubbed, or with
        ``stream`` its chunks: close it). Reads are retried, writes only if ``retry``; a failure raises as
        :func:`raise_for_status` says. ``max_bytes`` and ``timeout`` replace the target's cap and time
        for the whole answer (a larger result, say)."""
        out = Outgoing(method, path_or_url, params, body, headers, stream, max_bytes, timeout)

        def whole(target: ApiTarget, answer: Answer) -> Answer:
            if not stream:
                answer.body = target.scrub(answer.body)
            return answer

        return self._call(out, retry, whole)

    def request_json(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        retry: bool | None = None,
        parse: Callable[[Any], Any] | None = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send a request and return its parsed JSON (or ``parse(json)``); reads are retried, writes only
        if ``retry``. A ``parse`` that raises VendorResponseError (a shape that fails validation) is
        retried like a broken body, then reported with the URL, the status and the body's start.
        ``body`` sends another content type than JSON (a form, raw bytes)."""
        out = Outgoing(method, path_or_url, params, json_body_of(json_body, body), headers)

        def read(target: ApiTarget, answer: Answer) -> Any:
            payload = interpret_response(
                target, method, answer.url, answer.status, answer.headers, answer.body
            )
            return parsed(target, method, target.url(path_or_url), answer.status, payload, parse)

        return self._call(out, retry, read)

    def _call(self, out: Outgoing, retry: bool | None, then: Callable[[ApiTarget, Answer], T]) -> T:
        attempts = self.retry.attempts_for(out.method, retry)
        for attempt in range(1, attempts + 1):
            try:
                target, answer = self._exchange(out)
                try:
                    return then(target, answer)
                except BaseException:
                    answer.close()
                    raise
            except Exception as error:
                hold_budget(self.budget, error, self.retry)
                time.sleep(wait_before_retry(self.retry, error, attempt, attempts))
        raise AssertionError("unreachable")

    def _exchange(self, out: Outgoing) -> tuple[ApiTarget, Answer]:
        """One try: the request, sent once more with fresh credentials if the API host refused those it
        carried (and the refresh changed them). Raises for anything but a success."""
        refreshed = False
        while True:
            used, target = self.auth.version, self.auth.target
            url = target.url(out.path_or_url)
            answer = self._budgeted_send(target, url, out)
            if answer.status in AUTH_STATUSES and not refreshed and target.same_origin(url):
                refreshed = True
                if self.auth.renew(used):
                    refreshed_notice(target, answer.status, out.method, url)
                    continue
            raise_for_status(target, out.method, answer.url, answer.status, answer.headers, answer.body)
            return target, answer

    def _budgeted_send(self, target: ApiTarget, url: str, out: Outgoing) -> Answer:
        """:meth:`_send`, after waiting for the account's budget when the URL is on the API host."""
        if self.budget is None or not target.same_origin(url):
            return self._send(target, url, out)
        with self.budget.spend_blocking() as spend:
            answer = self._send(target, url, out)
            spend.saw(answer.status, answer.headers)
            return answer

    def _send(self, target: ApiTarget, url: str, out: Outgoing) -> Answer:
        import requests

        where = f"{out.method} {without_query(url)}"
        timeout = out.timeout or target.timeout
        headers = request_headers(self.auth.headers_for(url), target.headers, out.headers, out.body)
        started = time.monotonic()
        try:
            response = self._session.request(
                out.method,
                url,
                params=out.params,
                data=out.body.content if out.body is not None else None,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as error:
            if is_certificate_failure(error):
                raise certificate_error(target, where, error) from None
            raise TransientVendorError(
                f"could not reach {target.vendor} ({where}): {type(error).__name__}",
                reached=not never_connected(error),
            ) from None
        status = response.status_code
        streamed = out.stream and 200 <= status < 300
        limit = out.max_bytes if 200 <= status < 300 else None
        try:
            capped = CappedBody(target, where, response.headers, limit, keep=not streamed)
        except JobStatusError:
            response.close()
            raise
        if streamed:
            chunks = self._streamed(target, response, started, where, capped, timeout)
            return Answer(
                status, response.headers, response.url, chunks=chunks, _close=_closer(chunks, response)
            )
        with response:
            for chunk in self._timed(target, response, started, where, timeout):
                capped.add(chunk)
        return Answer(status, response.headers, response.url, body=capped.value())

    def _streamed(
        self,
        target: ApiTarget,
        response: requests.Response,
        started: float,
        where: str,
        capped: CappedBody,
        timeout: float,
    ) -> Iterator[bytes]:
        """A streamed answer's chunks: counted against the cap (not kept), scrubbed, timed as a whole."""
        scrubber = StreamScrubber(target.secrets)
        with response:
            for chunk in self._timed(target, response, started, where, timeout):
                capped.add(chunk)
                piece = scrubber.feed(chunk)
                if piece:
                    yield piece
            tail = scrubber.finish()
            if tail:
                yield tail

    def _timed(
        self, target: ApiTarget, response: requests.Response, started: float, where: str, timeout: float
    ) -> Iterator[bytes]:
        """The body's (decompressed) pieces, as long as the whole answer stays within ``timeout``.
        requests times each socket read only, and ``iter_content`` waits for a full piece: a server sending
        a byte a second would never time out. ``read1`` returns after one socket read instead."""
        raw = response.raw
        while True:
            try:
                chunk = raw.read1(READ_CHUNK, decode_content=True)
            except Exception as error:  # urllib3's errors (timeouts, cut connections, bad gzip)
                raise TransientVendorError(
                    f"the answer of {target.vendor} to {where} was cut off: {type(error).__name__}"
                ) from None
            if not chunk:
                return
            if time.monotonic() - started > timeout:
                raise TransientVendorError(f"{target.vendor} took more than {timeout:g} s to answer {where}")
            yield chunk

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()


def _closer(chunks: Iterator[bytes], response: requests.Response) -> Callable[[], None]:
    def close() -> None:
        getattr(chunks, "close", lambda: None)()
        response.close()

    return close


# Result downloads (host guard, size/inflation/time limits) live in downloads.py; re-exported here.
from airflow_jobstatus.http.downloads import Download, open_download  # noqa: E402, F401
