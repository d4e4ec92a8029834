"""HTTP for workers (requests) and triggers (one shared aiohttp session per event loop).

Both worlds share one policy, defined here once: which answers are retried (connection errors,
timeouts, 429, 5xx and unparsable bodies, for idempotent reads only), how long to wait
(``Retry-After`` first, else exponential backoff with jitter), and which exception each failure
becomes. Submits are never retried blindly: the caller decides.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from airflow_jobstatus.checks import UnsafeJson, loads_json, sane_delay
from airflow_jobstatus.errors import (
    CertificateError,
    ConfigurationError,
    JobStatusError,
    PermanentVendorError,
    ResponseTooLarge,
    TransientVendorError,
    VendorAuthError,
    VendorResponseError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    import requests

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
BODY_EXCERPT_CHARS = 200
#: The largest answer of the API host read by default (decompressed): 4 MiB, five times the largest real
#: status answer (Zendesk show_many of 100 jobs x 100 items, ~0.8 MB). Extra ``max_response_bytes``.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
#: The longest Retry-After honoured as sent (one hour); a longer one is cut to this, a garbage one ignored.
MAX_RETRY_AFTER = 3600.0
#: Pieces in which answers are read, so that a size cap stops a large one early.
READ_CHUNK = 64 * 1024
#: What a header value may hold: visible ASCII and spaces (no CR/LF, no control or non-ASCII character).
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")
#: A secret shorter than this is not scrubbed from answers (it would blank ordinary words).
MIN_SCRUBBED_SECRET = 6


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
            if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
                raise ConfigurationError(
                    f"connection '{self.conn_id}': the value of header {name} (from the connection's "
                    "credentials or settings) holds a line break, a control character or a non-ASCII "
                    "character: set the token or password again, without them"
                )

    def scrub(self, body: bytes) -> bytes:
        """``body`` with every secret of the connection replaced by ``***`` (a vendor may echo a token)."""
        for secret in self.secrets:
            for form in _secret_forms(secret):
                if form in body:
                    body = body.replace(form, b"***")
        return body

    def url(self, path_or_url: str) -> str:
        """Absolute URL for an API path (``/api/v2/x``) or an absolute URL on the API host."""
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.base_url.rstrip("/") + "/", path_or_url.lstrip("/"))

    def headers_for(self, url: str) -> dict[str, str]:
        """Request headers for ``url``: the auth headers only when it is on the API host."""
        headers = {"Accept": "application/json", "User-Agent": "airflow-jobstatus"}
        if _origin(url) == _origin(self.base_url):
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


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), at most
    :data:`MAX_RETRY_AFTER`. Garbage (``nan``, ``inf``, text, an impossible date) counts as no header."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
            seconds = when.timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def body_excerpt(body: bytes) -> str:
    """The first characters of a response body, on one line, for error messages."""
    text = body[: BODY_EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    return " ".join(text.split())[:BODY_EXCERPT_CHARS]


def interpret_response(
    target: ApiTarget, method: str, url: str, status: int, headers: Mapping[str, str], body: bytes
) -> Any:
    """Turn one HTTP answer into parsed JSON, or raise the exception that says what to do."""
    where = f"{method} {without_query(url)}"
    body = target.scrub(body)
    if 200 <= status < 300:
        if not body.strip():
            return None
        try:
            return loads_json(body)
        except UnsafeJson as error:  # JSON, but with NaN or nesting that overflows: broken, not transient
            raise VendorResponseError(
                f"{target.vendor} answered {where} with HTTP {status} but the body cannot be used: {error}",
                status=status,
            ) from None
        except ValueError:
            if body.lstrip()[:1] in (b"{", b"["):  # broken JSON: retried, then the wait ends naming it
                raise VendorResponseError(
                    f"{target.vendor} answered {where} with HTTP {status} but the body is not JSON: "
                    f"{body_excerpt(body)!r}",
                    status=status,
                ) from None
            # A page that is not JSON at all (a proxy's HTML, a captive portal) says nothing of the job: like
            # the proxy pages of 5xx answers, it may be gone on the next read.
            raise TransientVendorError(
                f"{target.vendor} answered {where} with HTTP {status} but the body is not JSON (a proxy's "
                f"page?): {body_excerpt(body)!r}",
                status=status,
            ) from None
    if 300 <= status < 400:
        raise PermanentVendorError(
            f"{target.vendor} answered {where} with a redirect (HTTP {status}) to "
            f"{headers.get('Location', '?')}: set connection '{target.conn_id}' host to the API's "
            "final address (credentials are never sent across a redirect)",
            status=status,
        )
    if status in (401, 403):
        raise VendorAuthError(
            f"connection '{target.conn_id}' was rejected by {target.vendor} (HTTP {status} on {where}): "
            f"check the token and login in the connection. {target.vendor} said: {body_excerpt(body)!r}",
            status=status,
        )
    if status in RETRYABLE_STATUSES:
        raise TransientVendorError(
            f"{target.vendor} answered {where} with HTTP {status}: {body_excerpt(body)!r}",
            status=status,
            retry_after=parse_retry_after(headers.get("Retry-After")),
        )
    raise PermanentVendorError(
        f"{target.vendor} answered {where} with HTTP {status}: {body_excerpt(body)!r}",
        status=status,
        payload=_json_or_none(body),
    )


def _json_or_none(body: bytes) -> Any:
    """An error body's JSON, or None when it is empty or not JSON."""
    try:
        return loads_json(body) if body.strip() else None
    except ValueError:
        return None


def _secret_forms(secret: str) -> list[bytes]:
    """The byte forms in which ``secret`` could appear in a JSON answer: as it is, and JSON-escaped."""
    if len(secret) < MIN_SCRUBBED_SECRET:
        return []
    raw = secret.encode("utf-8", errors="replace")
    escaped = json.dumps(secret)[1:-1].encode("ascii")
    return [raw] if escaped == raw else [raw, escaped]


class CappedBody:
    """An answer's body gathered piece by piece, for both transports: ResponseTooLarge as soon as it passes
    ``target.max_body_bytes`` (counted after decompression), or at once when its Content-Length says so."""

    def __init__(self, target: ApiTarget, where: str, headers: Mapping[str, str]) -> None:
        self.target, self.where = target, where
        self._body = bytearray()
        length = headers.get("Content-Length", "")
        if length.isdigit() and int(length) > target.max_body_bytes and not headers.get("Content-Encoding"):
            raise too_large(target, where)

    def add(self, chunk: bytes) -> None:
        """Append one piece of the body."""
        self._body += chunk
        if len(self._body) > self.target.max_body_bytes:
            raise too_large(self.target, self.where)

    def value(self) -> bytes:
        """The whole body."""
        return bytes(self._body)


def too_large(target: ApiTarget, where: str) -> ResponseTooLarge:
    """The error for an answer above ``target.max_body_bytes``."""
    return ResponseTooLarge(
        f"{target.vendor} answered {where} with more than {target.max_body_bytes} bytes, the most read from "
        f"an answer: the server is broken or is not {target.vendor}. If the answer is genuine, raise the "
        f"extra max_response_bytes of connection '{target.conn_id}'"
    )


def certificate_error(target: ApiTarget, where: str, error: BaseException) -> CertificateError:
    """The error for an API host whose TLS certificate failed verification."""
    return CertificateError(
        f"the TLS certificate of {target.vendor} ({where}) could not be verified ({error_reason(error)}): "
        f"fix the host in connection '{target.conn_id}', or trust its CA (REQUESTS_CA_BUNDLE / "
        "SSL_CERT_FILE); retrying cannot help"
    )


def is_certificate_failure(error: BaseException) -> bool:
    """Whether ``error`` (or an error it wraps) is a failed TLS certificate verification."""
    import ssl

    seen: set[int] = set()
    pending: list[Any] = [error]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        pending += [current.__cause__, current.__context__, *current.args]
        pending += [getattr(current, name, None) for name in ("reason", "os_error", "certificate_error")]
    return False


def never_connected(error: BaseException) -> bool:
    """Whether a requests failure happened before any connection was made (refused, name not resolved,
    connect timeout), so that no byte of the request can have reached the server."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError) or isinstance(error.__context__, NewConnectionError)


def error_reason(error: BaseException) -> str:
    """A short reason for a failure: the exception's type and the start of its message."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:160]}" if text else type(error).__name__


def parsed(
    target: ApiTarget, method: str, url: str, status: int, payload: Any, parse: Callable[[Any], Any] | None
) -> Any:
    """``parse(payload)``, with a shape error restated as where it came from (URL, status, body start)."""
    if parse is None:
        return payload
    try:
        return parse(payload)
    except JobStatusError as error:
        if not isinstance(error, VendorResponseError):
            raise
        reason = str(error)
    except Exception as error:  # a shape no check foresaw: never a foreign exception out of a read
        reason = f"it could not be read ({error_reason(error)})"
    try:
        excerpt = body_excerpt(json.dumps(payload, default=str).encode())
    except (ValueError, RecursionError):
        excerpt = "(not printable)"
    raise VendorResponseError(
        f"{target.vendor} answered {method} {without_query(url)} with HTTP {status}, but {reason}. "
        f"The body starts: {excerpt!r}",
        status=status,
    ) from None


def is_retryable(error: Exception) -> bool:
    """True for failures worth another try of an idempotent request."""
    return isinstance(error, (TransientVendorError, VendorResponseError))


def wait_before_retry(policy: RetryPolicy, error: Exception, attempt: int, attempts: int) -> float:
    """Seconds to wait before trying again after ``error``; re-raises it when no retry is due."""
    if not is_retryable(error) or attempt >= attempts:
        raise error
    wait = policy.delay(attempt, getattr(error, "retry_after", None))
    log.warning("%s; retrying in %.1f s (attempt %d of %d)", error, wait, attempt + 1, attempts)
    return wait


class SyncTransport:
    """Blocking HTTP for workers, on one ``requests.Session`` per hook."""

    def __init__(self, target: ApiTarget, retry: RetryPolicy | None = None) -> None:
        import requests  # here, not at module level: DAG files importing our operators never pay for it

        self.target = target
        self.retry = retry or RetryPolicy()
        self._session = requests.Session()

    def request_json(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        retry: bool | None = None,
        parse: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Send a request and return its parsed JSON (or ``parse(json)``); reads are retried, writes only
        if ``retry``. A ``parse`` that raises VendorResponseError (a shape that fails validation) is
        retried like a broken body, then reported with the URL, the status and the body's start."""
        attempts = self.retry.attempts_for(method, retry)
        url = self.target.url(path_or_url)
        for attempt in range(1, attempts + 1):
            try:
                status, payload = self._send(method, url, params, json_body)
                return parsed(self.target, method, url, status, payload, parse)
            except Exception as error:
                time.sleep(wait_before_retry(self.retry, error, attempt, attempts))
        raise AssertionError("unreachable")

    def _send(
        self, method: str, url: str, params: Mapping[str, str] | None, json_body: Any
    ) -> tuple[int, Any]:
        import requests

        where = f"{method} {without_query(url)}"
        started = time.monotonic()
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                json=json_body,
                headers=self.target.headers_for(url),
                timeout=self.target.timeout,
                allow_redirects=False,
                stream=True,
            )
            with response:
                capped = CappedBody(self.target, where, response.headers)
                for chunk in self._timed(response, started, where):
                    capped.add(chunk)
                body = capped.value()
        except requests.RequestException as error:
            if is_certificate_failure(error):
                raise certificate_error(self.target, where, error) from None
            raise TransientVendorError(
                f"could not reach {self.target.vendor} ({where}): {type(error).__name__}",
                reached=not never_connected(error),
            ) from None
        return response.status_code, interpret_response(
            self.target, method, response.url, response.status_code, response.headers, body
        )

    def _timed(self, response: requests.Response, started: float, where: str) -> Iterator[bytes]:
        """The body's (decompressed) pieces, as long as the whole answer stays within the target's timeout.
        requests times each socket read only, and ``iter_content`` waits for a full piece: a server sending
        a byte a second would never time out. ``read1`` returns after one socket read instead."""
        raw = response.raw
        while True:
            try:
                chunk = raw.read1(READ_CHUNK, decode_content=True)
            except Exception as error:  # urllib3's errors (timeouts, cut connections, bad gzip)
                raise TransientVendorError(
                    f"the answer of {self.target.vendor} to {where} was cut off: {type(error).__name__}"
                ) from None
            if not chunk:
                return
            if time.monotonic() - started > self.target.timeout:
                raise TransientVendorError(
                    f"{self.target.vendor} took more than {self.target.timeout:g} s to answer {where}"
                )
            yield chunk

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()


# Result downloads (host guard, size/inflation/time limits) live in downloads.py; re-exported here.
from airflow_jobstatus.downloads import Download, open_download  # noqa: E402, F401


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def without_query(url: str) -> str:
    """The URL without its query string (for messages)."""
    return url.split("?", 1)[0]
