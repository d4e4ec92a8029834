"""How the transports read an HTTP answer: which failures are retried, how long to wait, and which
exception each failure becomes. Shared by :mod:`airflow_jobstatus.http.transport` (which re-exports it) and
:mod:`airflow_jobstatus.http.transport_async`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from airflow_jobstatus.core.checks import UnsafeJson, loads_json
from airflow_jobstatus.errors import (
    CertificateError,
    JobStatusError,
    PermanentVendorError,
    ResponseTooLarge,
    TransientVendorError,
    VendorAuthError,
    VendorResponseError,
    retried_in_request,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow_jobstatus.http.transport import ApiTarget, RetryPolicy

log = logging.getLogger("airflow_jobstatus.http.transport")

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: The statuses by which the API host rejects credentials: the auth is refreshed once (see auth.py).
AUTH_STATUSES = frozenset({401, 403})
BODY_EXCERPT_CHARS = 200
#: The longest Retry-After honoured as sent (one hour); a longer one is cut to this, a garbage one ignored.
MAX_RETRY_AFTER = 3600.0


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
    body = target.scrub(body)
    if 200 <= status < 300:
        return decode_json(target, method, url, status, body)
    raise_for_status(target, method, url, status, headers, body)
    raise AssertionError("unreachable")


def decode_json(target: ApiTarget, method: str, url: str, status: int, body: bytes) -> Any:
    """The JSON of a successful answer's (scrubbed) body: None when empty; VendorResponseError when it is
    broken JSON, TransientVendorError when it is no JSON at all (a proxy's page)."""
    where = f"{method} {without_query(url)}"
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


def raise_for_status(
    target: ApiTarget, method: str, url: str, status: int, headers: Mapping[str, str], body: bytes
) -> None:
    """Raise the exception that says what to do about an answer that is not a success (nothing for a
    2xx); ``body`` is scrubbed first."""
    if 200 <= status < 300:
        return
    where = f"{method} {without_query(url)}"
    body = target.scrub(body)
    if 300 <= status < 400:
        raise PermanentVendorError(
            f"{target.vendor} answered {where} with a redirect (HTTP {status}) to "
            f"{headers.get('Location', '?')}: set connection '{target.conn_id}' host to the API's "
            "final address (credentials are never sent across a redirect)",
            status=status,
        )
    if status in AUTH_STATUSES:
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


class CappedBody:
    """An answer's body gathered piece by piece, for both transports: ResponseTooLarge as soon as it passes
    ``limit`` (default ``target.max_body_bytes``; counted after decompression), or at once when its
    Content-Length says so. ``keep=False`` only counts (a streamed answer)."""

    def __init__(
        self,
        target: ApiTarget,
        where: str,
        headers: Mapping[str, str],
        limit: int | None = None,
        *,
        keep: bool = True,
    ) -> None:
        self.target, self.where = target, where
        self.limit = target.max_body_bytes if limit is None else limit
        self.size = 0
        self._keep = keep
        self._body = bytearray()
        length = headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.limit and not headers.get("Content-Encoding"):
            raise too_large(target, where, self.limit)

    def add(self, chunk: bytes) -> None:
        """Append (or count) one piece of the body."""
        self.size += len(chunk)
        if self._keep:
            self._body += chunk
        if self.size > self.limit:
            raise too_large(self.target, self.where, self.limit)

    def value(self) -> bytes:
        """The whole body."""
        return bytes(self._body)


def too_large(target: ApiTarget, where: str, limit: int | None = None) -> ResponseTooLarge:
    """The error for an answer above ``limit`` (default ``target.max_body_bytes``)."""
    limit = target.max_body_bytes if limit is None else limit
    return ResponseTooLarge(
        f"{target.vendor} answered {where} with more than {limit} bytes, the most read from "
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
    """True for failures worth another try of an idempotent request (the rule of
    :func:`airflow_jobstatus.errors.retried_in_request`)."""
    return retried_in_request(error)


def wait_before_retry(policy: RetryPolicy, error: Exception, attempt: int, attempts: int) -> float:
    """Seconds to wait before trying again after ``error``; re-raises it when no retry is due."""
    if not is_retryable(error) or attempt >= attempts:
        raise error
    wait = policy.delay(attempt, getattr(error, "retry_after", None))
    log.warning("%s; retrying in %.1f s (attempt %d of %d)", error, wait, attempt + 1, attempts)
    return wait


def without_query(url: str) -> str:
    """The URL without its query string (for messages)."""
    return url.split("?", 1)[0]
