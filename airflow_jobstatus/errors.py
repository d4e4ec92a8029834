"""Exceptions raised by hooks and the transport; each message says what to fix."""

from __future__ import annotations

from typing import Any

from airflow_jobstatus.compat import AirflowException, AirflowFailException


class JobStatusError(AirflowException):
    """Base class of every error raised by this provider."""


class ConfigurationError(JobStatusError, AirflowFailException):
    """A connection or argument is wrong; raised before any request is sent. The task fails without
    retrying: every try would meet the same connection and arguments."""


class PermanentVendorError(JobStatusError):
    """The vendor refused a request for a reason that retrying will not change.

    ``payload`` is the vendor's parsed JSON error body when it sent one (field errors, error codes).
    """

    def __init__(self, message: str, *, status: int | None = None, payload: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.payload = payload


class RequestRefused(PermanentVendorError):
    """The vendor refused the content of a request (e.g. GraphQL errors in a 200 answer): the same
    request would be refused again."""


class VendorAuthError(PermanentVendorError, AirflowFailException):
    """The vendor rejected the connection's credentials (HTTP 401/403). The task fails without retrying:
    fix the connection, then clear the task."""


class JobNotFoundError(PermanentVendorError):
    """The vendor does not know these job ids (wrong, or their status data expired)."""

    def __init__(self, message: str, *, job_ids: list[str], status: int | None = 404) -> None:
        super().__init__(message, status=status)
        self.job_ids = job_ids


class TransientVendorError(JobStatusError):
    """A failure that may go away: connection error, timeout, 429 or 5xx, after retries."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        reached: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        #: False when no byte of the request can have reached the vendor (the connection was never made:
        #: refused, name not resolved, connect timeout): a submit that failed so was never sent.
        self.reached = reached


class VendorResponseError(PermanentVendorError):
    """A successful answer whose body is not the JSON we expect (bad JSON, a shape that fails validation).

    The transport retries it a few times before raising: a proxy may serve a bad page once.
    """


class ResponseTooLarge(PermanentVendorError):
    """An answer was larger than the connection allows (``max_response_bytes``): not read further, not
    retried (a status answer is small; one this large is a broken or hostile server)."""


class CertificateError(PermanentVendorError):
    """The API host's TLS certificate could not be verified: retrying cannot fix it."""


class NoJobCreated(JobStatusError):
    """The vendor answered a submit in full, without starting a job (e.g. a validate-only request).

    ``payload`` is its answer: the result itself.
    """

    def __init__(self, message: str, *, payload: Any) -> None:
        super().__init__(message)
        self.payload = payload


# --- result downloads (airflow_jobstatus.downloads) -----------------------------------------------
class UnsafeResultHost(PermanentVendorError, AirflowFailException):
    """A result link, or one of its redirect hops, points at a host a worker must not reach (plain http,
    a loopback, private, link-local or cloud metadata address...): refused before connecting, and the
    task is not retried (a fresh link from the same vendor would be refused the same way)."""


class ResultLimitExceeded(PermanentVendorError, AirflowFailException):
    """A result download broke one of its limits (size, inflation, deadline, throughput): the partial
    copy is removed and the task is not retried. ``setting`` names the Airflow setting that moves the
    limit, ``limit`` its value."""

    def __init__(self, message: str, *, setting: str, limit: float) -> None:
        super().__init__(message)
        self.setting = setting
        self.limit = limit
