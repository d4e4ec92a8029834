"""HTTP for workers (requests) and triggers (one shared aiohttp session per event loop).

Both worlds share one policy, defined here once: which answers are retried (connection errors,
timeouts, 429, 5xx and unparsable bodies, for idempotent reads only), how long to wait
(``Retry-After`` first, else exponential backoff with jitter), and which exception each failure
becomes. Submits are never retried blindly: the caller decides.
"""

from __future__ import annotations

import json
import logging
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from airflow_jobstatus.errors import (
    PermanentVendorError,
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
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def body_excerpt(body: bytes) -> str:
    """The first characters of a response body, on one line, for error messages."""
    text = body[: BODY_EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    return " ".join(text.split())[:BODY_EXCERPT_CHARS]


def interpret_response(
    target: ApiTarget, method: str, url: str, status: int, headers: Mapping[str, str], body: bytes
) -> Any:
    """Turn one HTTP answer into parsed JSON, or raise the exception that says what to do."""
    where = f"{method} {without_query(url)}"
    if 200 <= status < 300:
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise VendorResponseError(
                f"{target.vendor} answered {where} with HTTP {status} but the body is not JSON: "
                f"{body_excerpt(body)!r}",
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
        return json.loads(body) if body.strip() else None
    except ValueError:
        return None


def parsed(
    target: ApiTarget, method: str, url: str, status: int, payload: Any, parse: Callable[[Any], Any] | None
) -> Any:
    """``parse(payload)``, with a shape error restated as where it came from (URL, status, body start)."""
    if parse is None:
        return payload
    try:
        return parse(payload)
    except VendorResponseError as error:
        excerpt = body_excerpt(json.dumps(payload, default=str).encode())
        raise VendorResponseError(
            f"{target.vendor} answered {method} {without_query(url)} with HTTP {status}, but {error}. "
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

        try:
            response = self._session.request(
                method,
                url,
                params=params,
                json=json_body,
                headers=self.target.headers_for(url),
                timeout=self.target.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise TransientVendorError(
                f"could not reach {self.target.vendor} ({method} {without_query(url)}): "
                f"{type(error).__name__}"
            ) from None
        return response.status_code, interpret_response(
            self.target, method, response.url, response.status_code, response.headers, response.content
        )

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()


@dataclass
class Download:
    """An open result download: its chunks, and its size when the server said it."""

    chunks: Iterator[bytes]
    size: int | None


@contextmanager
def open_download(
    vendor: str, url: str, *, chunk_size: int = 1 << 20, timeout: float = 60.0
) -> Iterator[Download]:
    """Stream a self-authorising result link. No credential of any kind is sent: a result host is never
    the API host, whatever its address. Redirects are followed (nothing secret can leak through them).

    A refused link (4xx) raises PermanentVendorError; an unreachable host, 5xx or a cut connection
    TransientVendorError (also while reading the chunks). The chunks are the document itself: a body the
    host sends compressed anyway (``Content-Encoding``) is decompressed, and its size is then unknown.
    """
    import requests

    # identity: the bytes stored are the document's, and Content-Length counts them.
    headers = {"Accept": "application/json", "Accept-Encoding": "identity", "User-Agent": "airflow-jobstatus"}
    where = without_query(url)
    try:
        response = requests.get(url, headers=headers, stream=True, timeout=timeout)
    except requests.RequestException as error:
        raise TransientVendorError(f"could not download {where}: {type(error).__name__}") from None
    with response:
        if response.status_code >= 400:
            excerpt = body_excerpt(response.content)
            error_type = (
                TransientVendorError if response.status_code in RETRYABLE_STATUSES else PermanentVendorError
            )
            raise error_type(
                f"{vendor}'s result link answered HTTP {response.status_code} ({where}): {excerpt!r}",
                status=response.status_code,
            )
        length = response.headers.get("Content-Length")
        if response.headers.get("Content-Encoding", "identity").lower() != "identity":
            length = None  # the length of the compressed bytes, not of the chunks
        yield Download(
            _chunks(response, chunk_size, where), int(length) if length and length.isdigit() else None
        )


def _chunks(response: requests.Response, chunk_size: int, where: str) -> Iterator[bytes]:
    import requests

    try:
        yield from response.iter_content(chunk_size)
    except requests.RequestException as error:
        raise TransientVendorError(f"the download of {where} was cut off: {type(error).__name__}") from None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def without_query(url: str) -> str:
    """The URL without its query string (for messages)."""
    return url.split("?", 1)[0]
