"""How a job operator submits: one request per chunk of items, never twice, each failure named.

The rule for every failure of a submit (one place, for every vendor):

- nothing can have been created (a bad argument or connection, credentials refused, the connection
  never made, a refusal of the content, a refusal for now): the chunk is recorded as never sent, so a
  later submit or a retry sends it without asking;
- the answer was lost or unreadable: the chunk stays "unconfirmed" in the ledger, and a retry checks
  ``resubmit_unconfirmed`` before sending it again;
- a refusal for now (429, a job limit): wait for our own running jobs, or the ``Retry-After``, and send
  the same request again.

Errors a retry of the task cannot change fail it without retrying (AirflowFailException); the others
fail the try, and a retry carries on from the ledger.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_jobstatus.compat import AirflowException, AirflowFailException
from airflow_jobstatus.core.checks import sane_delay
from airflow_jobstatus.core.ledger import DuplicateJobId, Ledger, describe_indexes, submit_details
from airflow_jobstatus.errors import (
    ConfigurationError,
    JobWaitTimeout,
    NoJobCreated,
    PermanentVendorError,
    TransientVendorError,
    VendorAuthError,
    VendorResponseError,
    refused_input,
)
from airflow_jobstatus.http.transport import RetryPolicy
from airflow_jobstatus.job_task import HookT, JobTaskMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_jobstatus.core.models import Job

#: Seconds to wait after a refused submit when the vendor sends no Retry-After.
REFUSED_SUBMIT_WAIT = 10.0


class SubmitMixin(JobTaskMixin[HookT]):
    """Submits a job operator's pending items, at most ``max_jobs_in_flight`` jobs at a time (mixed into
    the engine, which defines the methods and attributes named under TYPE_CHECKING)."""

    if TYPE_CHECKING:
        max_items_per_job: ClassVar[int]
        max_jobs_in_flight: int
        timeout: float

        def submit_items(self, items: list[Any]) -> Job: ...
        def submitted_line(self, job_id: str, chunk: list[int]) -> str: ...
        def publish_job_ids(self, context: Context, ledger: Ledger) -> None: ...
        def _save(self, context: Context, ledger: Ledger) -> None: ...

    def _submit_wave(
        self, context: Context, items: list[Any], ledger: Ledger, deadline: float, wait_for_room: bool = True
    ) -> None:
        """Submit pending items, one chunk per job, while a slot is free (``wait_for_room`` False: all)."""
        pending = ledger.pending(len(items))
        for start in range(0, len(pending), self.max_items_per_job):
            if wait_for_room and len(ledger.active_ids()) >= self.max_jobs_in_flight:
                return
            chunk = pending[start : start + self.max_items_per_job]
            if not self._submit_chunk(context, items, ledger, chunk, deadline, wait_for_room):
                return

    def _submit_chunk(
        self,
        context: Context,
        items: list[Any],
        ledger: Ledger,
        chunk: list[int],
        deadline: float,
        wait_for_room: bool = True,
    ) -> bool:
        """Submit one chunk; False when the vendor refuses it for now while our own jobs run (unless
        ``wait_for_room`` is False: then it waits for the refusal's Retry-After and sends it again).

        The chunk counts as "unconfirmed" (sent, answer unknown) only from the moment bytes may have left
        for the vendor: a failure to resolve the connection, build the request or connect sent nothing.
        """
        _ = self.hook.transport  # the connection is resolved (and checked) before anything counts as sent
        what = describe_indexes(chunk)
        vendor = self.hook_class.vendor
        lost = (
            f"{vendor} may or may not have accepted it; a retry of the task checks before sending anything "
            "again"
        )
        while True:
            ledger.unconfirmed = list(chunk)
            self._save(context, ledger)
            try:
                job = self.submit_items([items[i] for i in chunk])
            except (ConfigurationError, VendorAuthError) as error:  # nothing created; every try would fail
                self._never_sent(context, ledger)
                raise AirflowFailException(
                    f"the submit of {what} was not sent: {error} (not retried: fix the connection or the "
                    "arguments, then clear the task)"
                ) from None
            except TransientVendorError as error:
                if not error.reached:  # the connection was never made: nothing can exist at the vendor
                    self._never_sent(context, ledger)
                    raise AirflowException(
                        f"the submit of {what} was not sent ({error}); a retry of the task sends it"
                    ) from None
                if not self.hook_class.is_refusal(error):
                    raise AirflowException(
                        f"the answer to the submit of {what} was lost ({error}): {lost}"
                    ) from None
                self._never_sent(context, ledger)
                if wait_for_room and ledger.active_ids():
                    self.log.info("%s: waiting for this task's running jobs before sending more", error)
                    return False
                self._sleep_for_refusal(error, deadline)
                continue
            except VendorResponseError as error:  # a success whose body we cannot read: as if lost
                raise AirflowException(
                    f"the answer to the submit of {what} could not be read ({error}): {lost}"
                ) from None
            except PermanentVendorError as error:
                self._never_sent(context, ledger)
                message = f"the submit of {what} was refused: {error}"
                if refused_input(error):  # so would a retry
                    raise AirflowFailException(f"{message} (not retried: fix the input)") from None
                raise AirflowException(message) from None
            except NoJobCreated:  # answered in full: nothing to wait for, nothing unconfirmed
                self._never_sent(context, ledger)
                raise
            self._record_job(context, ledger, job, chunk)
            return True

    def _record_job(self, context: Context, ledger: Ledger, job: Job, chunk: list[int]) -> None:
        """Write a new job to the ledger (and XCom ``job_ids`` when due), then log what it covers."""
        vendor = self.hook_class.vendor
        if not job.id.strip():
            raise AirflowException(
                f"{vendor} answered the submit of {describe_indexes(chunk)} without a job id: it may or may "
                "not have accepted it; a retry of the task checks before sending anything again"
            )
        try:
            ledger.add(job.id, chunk, submit_details(job))
        except DuplicateJobId as error:  # the ledger could never tell which items that job covers
            raise AirflowFailException(
                f"{vendor} answered two submits with one job id {job.id!r}: the submit of "
                f"{describe_indexes(error.first)} and the submit of {describe_indexes(error.second)}. "
                f"Not retried: check that job in {vendor} before sending these items again"
            ) from None
        self._save(context, ledger)
        if ledger.publish_due():
            ledger.load(context.get("task_state_store"))
            self.publish_job_ids(context, ledger)
            ledger.note_published()
        self.log.info("%s", self.submitted_line(job.id, chunk))

    def _never_sent(self, context: Context, ledger: Ledger) -> None:
        """Record that the chunk being submitted created nothing (never left, or refused, or answered in
        full): a later submit or a retry sends it without asking."""
        ledger.unconfirmed = []
        self._save(context, ledger)

    def _sleep_for_refusal(self, error: TransientVendorError, deadline: float) -> None:
        # Retry-After is finite and at most an hour (transport.parse_retry_after); no refusal waits longer
        # than the retry policy's cap: the next try simply asks again.
        cap = RetryPolicy().retry_after_max
        wait = sane_delay(error.retry_after, fallback=REFUSED_SUBMIT_WAIT, ceiling=cap)
        remaining = deadline - time.time()
        if remaining <= 0:
            raise JobWaitTimeout(
                f"timed out after {self.timeout:g} s while {self.hook_class.vendor} refused jobs"
            )
        self.log.warning(
            "%s: the account has no room for another job; sending it again in %.1f s", error, wait
        )
        time.sleep(min(max(wait, 0.1), remaining))
