"""Every exception of this provider, and the one rule for what is retried; each message says what to fix.

What is retried, and by whom:

- **Within a request** (the transport): a read is sent again after a :class:`TransientVendorError`
  (connection error, timeout, 429, 5xx) and after a :class:`VendorResponseError` (a success whose body
  cannot be read: a proxy may serve a bad page once), with backoff and ``Retry-After``; a write (a
  submit) never is: it could create a second job. :func:`retried_in_request` says it.
- **By the task's retries**: every error of this provider fails the try and lets Airflow retry it,
  except those no retry can change (the connection, the arguments, the credentials, the input the
  vendor refused, a broken ledger, an unsafe or oversized result): they are also
  ``AirflowFailException``, so the task fails at once. :func:`retried_by_task` says it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_jobstatus.compat import AirflowException, AirflowFailException
from airflow_jobstatus.core.index_ranges import describe_indexes

#: HTTP statuses by which a vendor refuses the content of a submit (bad request, field errors): the same
#: input would be refused again, so no retry of the task sends it.
INPUT_REFUSED_STATUSES = frozenset({400, 422})


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


class RequestRefused(PermanentVendorError, AirflowFailException):
    """The vendor refused the content of a request (e.g. GraphQL errors in a 200 answer): the same
    request would be refused again, so the task fails without retrying."""


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


class VendorResponseError(JobStatusError):
    """A successful answer whose body is not the JSON we expect (bad JSON, a shape that fails validation).

    Not a refusal: the transport reads it again a few times (a proxy may serve a bad page once), and a
    retry of the task may find it fixed. ``status`` is the answer's HTTP status when known; ``payload``
    stays None (kept for callers of releases where this was a PermanentVendorError).
    """

    def __init__(self, message: str, *, status: int | None = None, payload: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.payload = payload


class ResponseTooLarge(PermanentVendorError):
    """An answer was larger than the connection allows (``max_response_bytes``): not read further, not
    retried (a status answer is small; one this large is a broken or hostile server)."""


class CertificateError(PermanentVendorError):
    """The API host's TLS certificate could not be verified: retrying cannot fix it."""


class NoJobCreated(JobStatusError):
    """Not a failure: the vendor answered a submit in full, without starting a job (e.g. a validate-only
    request). ``payload`` is its answer, the result itself; an operator delivers it as the job's result
    would be (:class:`~airflow_jobstatus.operators.single_job.SingleJobOperator`)."""

    def __init__(self, message: str, *, payload: Any) -> None:
        super().__init__(message)
        self.payload = payload


# --- result downloads (airflow_jobstatus.http.downloads) -----------------------------------------------
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


class ResultTooLarge(ConfigurationError):
    """A result asked for inline (no ``output_path``) is bigger than ``inline_limit``.

    ``size`` is its size when known (inline, or the download's Content-Length), else None; ``read`` how
    many bytes were read before stopping (0 when the size was known first); ``detail`` says both in words.
    """

    def __init__(
        self,
        message: str,
        *,
        job_id: str = "",
        limit: int = 0,
        size: int | None = None,
        read: int = 0,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.limit = limit
        self.size = size
        self.read = read
        self.detail = detail


class ResultNotText(PermanentVendorError):
    """A downloaded result is not UTF-8 text, so it cannot go to XCom as it is (decoding it with
    replacement characters would corrupt it silently). With ``output_path`` its bytes are stored
    unchanged instead. ``detail`` names the first byte that is not text."""

    def __init__(self, message: str, *, job_id: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.job_id = job_id
        self.detail = detail


# --- the wait and the ledger (operators) -------------------------------------------------------------
class JobWaitTimeout(JobStatusError):
    """The jobs did not end before the operator's ``timeout``; a retry reattaches to them."""


class DuplicateJobId(JobStatusError, AirflowFailException):
    """The vendor answered two submits with one job id: no retry can tell which items that job covers."""

    def __init__(self, job_id: str, first: Sequence[int], second: Sequence[int]) -> None:
        super().__init__(
            f"the vendor answered two submits with one job id {job_id!r}: the submit of "
            f"{describe_indexes(first)} and the submit of {describe_indexes(second)}"
        )
        self.job_id, self.first, self.second = job_id, list(first), list(second)


class LedgerUnreadable(JobStatusError, AirflowFailException):
    """The ledger in the task state store is incomplete or mixes two ledgers."""


# --- the rule ---------------------------------------------------------------------------------------
def retried_in_request(error: BaseException) -> bool:
    """Whether the transport sends a read again after ``error`` (see the module docstring)."""
    return isinstance(error, (TransientVendorError, VendorResponseError))


def retried_by_task(error: BaseException) -> bool:
    """Whether Airflow's retries of the task apply to ``error`` (False: the task fails at once)."""
    return not isinstance(error, AirflowFailException)


def refused_input(error: PermanentVendorError) -> bool:
    """Whether a refused submit was refused for its content (:class:`RequestRefused`, or HTTP 400/422):
    the same input would be refused again."""
    return isinstance(error, RequestRefused) or error.status in INPUT_REFUSED_STATUSES
