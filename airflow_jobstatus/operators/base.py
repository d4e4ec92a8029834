"""SubmitJobOperator: submit any number of items as vendor bulk jobs, wait for them, return per-item results.

The flow, the same for every vendor:

1. split the input into requests of at most ``max_items_per_job`` items, and submit them on the worker
   (never in the trigger), at most ``max_jobs_in_flight`` jobs at a time. A submit the vendor refuses
   for now (HTTP 429: too many jobs, rate limit) was not accepted: wait for our running jobs (or the
   ``Retry-After``) and send the same request again;
2. record every job id in the task state store and push the ids to XCom (``job_ids``) at once;
3. wait for the wave of jobs: deferred (one trigger for all of them) or polling in the worker; then
   store the wave's results in XCom and submit the next wave;
4. merge the per-item results back into input order and judge them (``on_partial``).

A later try of the task reads the ledger (:mod:`airflow_jobstatus.ledger`) back: it reattaches to jobs
still running, keeps what finished well and sends again only the items that never reached the vendor
or that their job reported failed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_jobstatus.checks import check_flag, sane_delay, whole_number
from airflow_jobstatus.compat import AirflowException, AirflowFailException
from airflow_jobstatus.defaults import (
    DEFAULT_MAX_JOBS_IN_FLIGHT,
    DEFAULT_ON_PARTIAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_REATTACH_ON_CLEAR,
    DEFAULT_RESUBMIT_UNCONFIRMED,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_FOR_COMPLETION,
)
from airflow_jobstatus.deployment import resolve_deferrable
from airflow_jobstatus.errors import (
    ConfigurationError,
    JobNotFoundError,
    NoJobCreated,
    PermanentVendorError,
    RequestRefused,
    TransientVendorError,
    VendorAuthError,
    VendorResponseError,
)
from airflow_jobstatus.job_task import JobTaskMixin, positive_seconds
from airflow_jobstatus.ledger import (
    LEDGER_KEY,
    DuplicateJobId,
    JobRecord,
    Ledger,
    describe_indexes,
    fingerprint,
    submit_details,
)
from airflow_jobstatus.models import ItemResult, Job
from airflow_jobstatus.operators.items import job_level_results, merge_results
from airflow_jobstatus.operators.row_store import RowStore
from airflow_jobstatus.operators.tries import attempt, started_anew
from airflow_jobstatus.outcomes import OnPartial, Verdict, check_on_partial
from airflow_jobstatus.transport import RetryPolicy
from airflow_jobstatus.triggers.cadence import PollCadence, check_max_poll_interval
from airflow_jobstatus.triggers.job import JobTrigger, WaitEvent
from airflow_jobstatus.wording import plural

if TYPE_CHECKING:
    from airflow.sdk import Context


#: Seconds to wait after a refused submit when the vendor sends no Retry-After.
REFUSED_SUBMIT_WAIT = 10.0
#: Submit answers that refuse the request's content (bad request, field errors): a retry of the task
#: would send the same input and be refused again, so the task fails without retrying.
INPUT_REFUSED = frozenset({400, 422})


class JobWaitTimeout(AirflowException):
    """The jobs did not end before the operator's ``timeout``; a retry reattaches to them."""


class SubmitJobOperator(JobTaskMixin, BaseOperator):
    """Base of the operators that submit vendor bulk jobs and wait for them (see the module docstring).

    A vendor operator sets ``hook_class`` and defines :meth:`prepare_items` and :meth:`submit_items`,
    and usually :meth:`item_results`.

    Vendor operators repeat these arguments in their own signatures, with the defaults of
    :mod:`airflow_jobstatus.defaults`. Details: README, "Run a Zendesk bulk job in a DAG" and the
    sections after it.

    :param conn_id: the Airflow connection (default None: the hook's default connection; vendor
        operators name it, e.g. ``zendesk_conn_id``).
    :param poll_interval: seconds between status reads while waiting, the shortest wait between them
        (default 30.0).
    :param max_poll_interval: reads come less often while the jobs' progress says they are far from done,
        up to this many seconds (default None: 10 x ``poll_interval``, at most 600); set it to
        ``poll_interval`` for a fixed interval. See README, "Many waits on one connection" (how often a
        wait polls).
    :param timeout: how long one try waits for all its jobs, in seconds or as a timedelta (default one
        day); then the try fails with the jobs' last progress, and a retry reattaches to them.
    :param on_partial: items that failed in finished jobs: ``"fail"`` the task listing them (default) or
        ``"warn"``: log each and succeed. A failed or killed job always fails the task.
    :param max_jobs_in_flight: the most jobs this task keeps queued or running at once (default 10).
    :param resubmit_unconfirmed: on a retry, send again a request whose answer was lost (it may have
        reached the vendor; default False). Vendor operators turn it on for requests that are safe to
        repeat. See README, "What a retry does".
    :param results_path: a folder (object storage URL such as ``s3://bucket/prefix``, or an absolute local
        path) for the per-item results (default None): the task then returns a manifest of
        ``results.jsonl`` there instead of the rows. Without it, an input of more than ``[jobstatus]
        max_xcom_items`` items (default 1,000) goes to the deployment's ``[jobstatus] result_base_path``
        the same way; see README, "What XCom holds".
    :param wait_for_completion: True (default) waits for the jobs and returns their results; False
        submits every job, pushes their ids (XCom ``job_ids``) and returns that list at once, for a
        vendor sensor downstream to wait on. The input must then fit in ``max_jobs_in_flight`` jobs.
        See README, "Submit without waiting".
    :param reattach_on_clear: a cleared task runs again and submits everything anew (default False); True
        makes a clear carry on like a retry: reattach to the jobs of the earlier run. See README,
        "Retry vs clear".
    :param deferrable: wait in the triggerer or, if False, poll in the worker. Default (None): the
        deployment's ``[operators] default_deferrable`` where it sets one, else True. See README,
        "Deferrable or not".
    """

    max_items_per_job: ClassVar[int] = 100
    ui_color = "#dceefb"
    #: True when the return value is one row per input item (see row_store); False for an operator whose
    #: request has one result of its own (it never goes to a rows file).
    per_item_rows: ClassVar[bool] = True
    #: Where this try keeps results and waves (chosen in execute, from the arguments and input size).
    _rows: RowStore = RowStore(None)

    def __init__(
        self,
        *,
        conn_id: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        on_partial: OnPartial = DEFAULT_ON_PARTIAL,
        max_jobs_in_flight: int = DEFAULT_MAX_JOBS_IN_FLIGHT,
        resubmit_unconfirmed: bool = DEFAULT_RESUBMIT_UNCONFIRMED,
        results_path: str | None = None,
        wait_for_completion: bool = DEFAULT_WAIT_FOR_COMPLETION,
        reattach_on_clear: bool = DEFAULT_REATTACH_ON_CLEAR,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.hook_class.default_conn_name
        self.poll_interval = positive_seconds("poll_interval", poll_interval)
        self.max_poll_interval = check_max_poll_interval(self.poll_interval, max_poll_interval)
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        self.timeout = positive_seconds("timeout", seconds)
        self.on_partial = check_on_partial(on_partial)
        self.max_jobs_in_flight = whole_number("max_jobs_in_flight", max_jobs_in_flight, minimum=1)
        self.resubmit_unconfirmed = resubmit_unconfirmed
        self.results_path = results_path
        self.wait_for_completion = check_flag("wait_for_completion", wait_for_completion)
        self.reattach_on_clear = check_flag("reattach_on_clear", reattach_on_clear)
        self.deferrable = resolve_deferrable(deferrable)

    # --- what a vendor operator defines ----------------------------------------------------------
    def prepare_items(self) -> list[Any]:
        """The rendered input as a list of items, checked (raise ConfigurationError naming the field)."""
        raise NotImplementedError

    def submit_items(self, items: list[Any]) -> Job:
        """Send one request for ``items`` (at most ``max_items_per_job``) and return the queued job."""
        raise NotImplementedError

    def item_results(self, job: Job, record: JobRecord, items: list[Any]) -> dict[int, ItemResult]:
        """Results of an ended job keyed by input index (``record.items``: what it was sent, in order)."""
        return job_level_results(job, record.items)

    def conclude(
        self, context: Context, items: list[Any], ledger: Ledger, jobs: dict[str, Job]
    ) -> tuple[Any, Verdict]:
        """The return value and the verdict once every job has ended (``jobs``: by id).

        By default one result per input item, in input order (:func:`merge_results`); a vendor whose
        jobs report no per-item outcome may return one row per job instead.
        """
        answering = ledger.answering()
        per_job = {record.id: self.item_results(jobs[record.id], record, items) for record in answering}
        merged = merge_results(len(items), ledger.owners(), jobs, per_job, self.on_partial)
        return merged.items, merged.verdict

    def publish_job_ids(self, context: Context, ledger: Ledger) -> None:
        """Push the ids of the jobs submitted so far to XCom (``job_ids``), as soon as they are known (the
        first MAX_XCOM_JOB_IDS when the results go to object storage: ``job_ids.json`` there lists all)."""
        context["ti"].xcom_push(key="job_ids", value=self._rows.xcom_job_ids(ledger.job_ids()))

    def request_identity(self) -> Any:
        """What identifies the request apart from the items (e.g. endpoint and change): part of the ledger's
        fingerprint, so a retry with another request never reuses earlier jobs."""
        return type(self).__name__

    def submitted_line(self, job_id: str, chunk: list[int]) -> str:
        """The log line for a new job: ``job 7 covers items 0-99`` (which input items it was sent)."""
        return f"job {job_id} covers {describe_indexes(chunk)}"

    # --- Airflow entry points ------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        """Submit (or reattach to an earlier try's jobs), then wait wave by wave and return the results."""
        items = self.prepare_items()
        if not self.wait_for_completion:
            self._check_fits_in_flight(items)
        self._choose_rows(context, items)
        ledger = self._open_ledger(context, items)
        deadline = time.time() + self.timeout
        if not self.wait_for_completion:
            return self._submit_only(context, items, ledger, deadline)
        return self._advance(context, items, ledger, deadline)

    def _choose_rows(self, context: Context, items: list[Any]) -> None:
        if not self.per_item_rows:  # one result for the whole request: it decides its own shape
            self._rows = RowStore(None)
            return
        self._rows = RowStore.choose(context, len(items), self.results_path)
        self._rows.check()

    def _check_fits_in_flight(self, items: list[Any]) -> None:
        most = self.max_items_per_job * self.max_jobs_in_flight
        if len(items) > most:
            raise ConfigurationError(
                f"wait_for_completion=False submits every job at once, at most max_jobs_in_flight="
                f"{self.max_jobs_in_flight} jobs of {self.max_items_per_job} items ({most} items), but "
                f"items holds {len(items)}: raise max_jobs_in_flight to "
                f"{-(-len(items) // self.max_items_per_job)}, split the input, or wait for completion"
            )

    def _submit_only(self, context: Context, items: list[Any], ledger: Ledger, deadline: float) -> list[str]:
        """Submit what is still to send (a retry sends only that) and return every job id, not waiting."""
        while ledger.pending(len(items)):
            self._submit_wave(context, items, ledger, deadline, wait_for_room=False)
        ledger.load(context.get("task_state_store"))
        self.publish_job_ids(context, ledger)
        ledger.note_published()
        self._save(context, ledger)
        job_ids = ledger.job_ids()
        self.log.info(
            "submitted %s; not waiting for them (wait_for_completion=False)", plural(len(job_ids), "job")
        )
        return job_ids

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after a wave's trigger: record the wave, then submit the next one or finish."""
        wait = WaitEvent.from_payload(event)
        if not wait.resume:
            raise AirflowException(f"the trigger's event carries no ledger to resume from: {wait.message}")
        state, deadline = Ledger.from_json(wait.resume["ledger"]), float(wait.resume["deadline"])
        if wait.outcome == "timeout":
            raise JobWaitTimeout(f"timed out after {self.timeout:g} s: {wait.message}; a retry reattaches")
        if wait.outcome == "error":
            wait.raise_error()
        self.log.info("%s", wait.message)
        items = self.prepare_items()
        self._choose_rows(context, items)
        self._store_wave(context, state, self.hook.get_jobs(state.active_ids()))
        return self._advance(context, items, state, deadline)

    # --- the flow -------------------------------------------------------------------------------
    def _advance(self, context: Context, items: list[Any], ledger: Ledger, deadline: float) -> Any:
        while True:
            self._submit_wave(context, items, ledger, deadline)
            active = ledger.active_ids()
            if not active:
                return self._finish(context, items, ledger)
            if self.deferrable:
                self.log.info("waiting for %s in the triggerer", plural(len(active), "job"))
                # The ledger's head as just saved (a few KB, whatever the number of jobs); the whole
                # ledger only where there is no task state store to hold the rest.
                has_store = context.get("task_state_store") is not None
                state = ledger.head_json() if has_store else ledger.to_json()
                trigger = JobTrigger.for_hook(
                    self.hook_class,
                    self.conn_id,
                    active,
                    self.poll_interval,
                    deadline,
                    resume={"ledger": state, "deadline": deadline},
                    hook_params=self.hook_params(),
                    max_poll_interval=self.max_poll_interval,
                )
                self.defer(trigger=trigger, method_name="execute_complete", timeout=trigger.defer_timeout())
            self._store_wave(context, ledger, self._poll_until_ended(active, deadline))

    def _submit_wave(
        self, context: Context, items: list[Any], ledger: Ledger, deadline: float, wait_for_room: bool = True
    ) -> None:
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
        while True:
            ledger.unconfirmed = list(chunk)
            self._save(context, ledger)
            try:
                job = self.submit_items([items[i] for i in chunk])
            except (ConfigurationError, VendorAuthError) as error:  # nothing created; every try would fail
                self._never_sent(context, ledger)
                raise AirflowFailException(
                    f"the submit of {describe_indexes(chunk)} was not sent: {error} (not retried: fix the "
                    "connection or the arguments, then clear the task)"
                ) from None
            except TransientVendorError as error:
                if not error.reached:  # the connection was never made: nothing can exist at the vendor
                    self._never_sent(context, ledger)
                    raise AirflowException(
                        f"the submit of {describe_indexes(chunk)} was not sent ({error}); a retry of the "
                        "task sends it"
                    ) from None
                if not self.hook_class.is_refusal(error):
                    raise AirflowException(
                        f"the answer to the submit of {describe_indexes(chunk)} was lost ({error}): "
                        f"{self.hook_class.vendor} may or may not have accepted it; a retry of the task "
                        "checks before sending anything again"
                    ) from None
                self._never_sent(context, ledger)
                if wait_for_room and ledger.active_ids():
                    self.log.info("%s: waiting for this task's running jobs before sending more", error)
                    return False
                self._sleep_for_refusal(error, deadline)
                continue
            except VendorResponseError as error:  # a success whose body we cannot read: as if lost
                raise AirflowException(
                    f"the answer to the submit of {describe_indexes(chunk)} could not be read ({error}): "
                    f"{self.hook_class.vendor} may or may not have accepted it; a retry of the task "
                    "checks before sending anything again"
                ) from None
            except PermanentVendorError as error:
                self._never_sent(context, ledger)
                message = f"the submit of {describe_indexes(chunk)} was refused: {error}"
                if isinstance(error, RequestRefused) or error.status in INPUT_REFUSED:  # so would a retry
                    raise AirflowFailException(f"{message} (not retried: fix the input)") from None
                raise AirflowException(message) from None
            except NoJobCreated:  # answered in full: nothing to wait for, nothing unconfirmed
                self._never_sent(context, ledger)
                raise
            vendor = self.hook_class.vendor
            if not job.id.strip():
                raise AirflowException(
                    f"{vendor} answered the submit of {describe_indexes(chunk)} without a job id: it may "
                    "or may not have accepted it; a retry of the task checks before sending anything again"
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
            return True

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

    def _poll_until_ended(self, job_ids: list[str], deadline: float) -> list[Job]:
        jobs: list[Job] = []
        cadence = PollCadence(self.poll_interval, self.max_poll_interval)
        while True:
            delay = self.poll_interval
            try:
                jobs = self.hook.get_jobs(job_ids)
            except TransientVendorError as error:
                self.log.warning("%s; still waiting", error)
            else:
                self._reporter.report(jobs)
                if all(job.state.is_terminal for job in jobs):
                    return jobs
                delay = cadence.next_delay(jobs, time.monotonic())
            if time.time() >= deadline:
                progress = self._reporter.describe(jobs) or "no status could be read"
                raise JobWaitTimeout(f"timed out after {self.timeout:g} s: {progress}; a retry reattaches")
            time.sleep(min(delay, max(deadline - time.time(), 0.0)))

    def _store_wave(self, context: Context, ledger: Ledger, jobs: Sequence[Job]) -> None:
        """Keep a finished wave's full jobs in XCom: the vendor may forget them before the last wave ends."""
        for job in jobs:
            ledger.set_state(job.id, job.state)
        ledger.waves += 1
        stored = [self.hook_class.job_for_xcom(job) for job in jobs]
        self._rows.put_wave(context, ledger.waves, stored)
        self._save(context, ledger)

    def _finish(self, context: Context, items: list[Any], ledger: Ledger) -> list[dict[str, Any]]:
        ledger.load(context.get("task_state_store"))  # a resumed ledger holds only its head so far
        if ledger.publish_due(final=True):
            self.publish_job_ids(context, ledger)
            ledger.note_published()
        jobs: dict[str, Job] = {}
        for wave in range(1, ledger.waves + 1):
            jobs.update(
                (data["id"], Job.model_validate(data))
                for data in self._rows.get_wave(context, self.task_id, wave)
            )
        answering = ledger.answering()
        missing = [record.id for record in answering if record.id not in jobs]
        if missing:
            jobs.update((job.id, job) for job in self.hook.get_jobs(missing))
        result, verdict = self.conclude(context, items, ledger, jobs)
        result = self._rows.deliver(result, ledger.job_ids())
        for line in verdict.warnings:
            self.log.warning("%s", line)
        for line in verdict.failures:
            self.log.error("%s", line)
        if not verdict.ok:
            context["ti"].xcom_push(key="return_value", value=result)
            raise AirflowException(verdict.error_message())
        self.log.info("%s", verdict.summary)
        return result

    # --- the ledger across tries ------------------------------------------------------------------
    def _open_ledger(self, context: Context, items: list[Any]) -> Ledger:
        digest = fingerprint([self.request_identity(), items])
        try_number, max_tries = attempt(context)
        store = context.get("task_state_store")
        saved = store.get(LEDGER_KEY) if store is not None else None
        if store is None:
            self.log.warning(
                "this Airflow has no task state store (Airflow < 3.3): a retry of this task cannot "
                "know what an earlier try submitted and will submit everything again"
            )
        if not isinstance(saved, dict) or not saved:
            return Ledger(digest, try_number, max_tries=max_tries)
        ledger = Ledger.from_json(saved)  # the head (or the whole ledger, as earlier releases wrote it)
        if ledger.fingerprint != digest:
            self.log.warning(
                "the input changed since try %d: its jobs (%d) are not reused, everything is submitted",
                ledger.try_number,
                ledger.job_count,
            )
            return Ledger(digest, try_number, max_tries=max_tries)
        run_again = started_anew(ledger, try_number, max_tries)
        if run_again and not self.reattach_on_clear:
            self.log.warning(
                "%s: this run submits everything anew, the earlier run's jobs (%d) are not reused "
                "(reattach_on_clear=True makes a clear reattach instead)",
                run_again,
                ledger.job_count,
            )
            return Ledger(digest, try_number, max_tries=max_tries)
        if run_again:
            self.log.info("%s: reattaching, as reattach_on_clear=True asks", run_again)
        ledger.max_tries = max_tries
        ledger.load(store)
        return self._reattach(context, ledger, items, try_number)

    def _reattach(self, context: Context, ledger: Ledger, items: list[Any], try_number: int) -> Ledger:
        earlier = ledger.try_number
        ledger.try_number, ledger.waves = try_number, 0
        ledger.note_published(0)  # a new try starts with an empty XCom
        if ledger.unconfirmed:
            what = describe_indexes(ledger.unconfirmed)
            if not self.resubmit_unconfirmed:
                raise AirflowFailException(
                    f"try {earlier} sent {what} to {self.hook_class.vendor} but its answer was lost, so "
                    f"they may exist there already; sending them again could duplicate them. Check in "
                    f"{self.hook_class.vendor}, then set resubmit_unconfirmed=True on the task to send "
                    "them again (or change the input)"
                )
            self.log.warning("try %d sent %s without an answer: sending them again", earlier, what)
            ledger.unconfirmed = []
        live = [record.id for record in ledger.answering()]
        if live:
            self.log.info("reattaching to %s submitted by earlier tries: %s", plural(len(live), "job"), live)
            try:
                jobs = self.hook.get_jobs(live)
            except JobNotFoundError as error:
                raise AirflowFailException(
                    f"earlier tries submitted jobs that {self.hook_class.vendor} no longer knows ({error}), "
                    "so their items may well have been applied. To submit everything again, change the "
                    f"input, or delete this task's state key '{LEDGER_KEY}' (REST API: DELETE "
                    f".../taskInstances/<task_id>/state-store/{LEDGER_KEY}) and clear the task"
                ) from None
            self._reporter.report(jobs)
            ended = [job for job in jobs if job.state.is_terminal]  # their states: _store_wave below
            owners = ledger.owners()
            redo: list[int] = []
            for job in ended:
                record = ledger.record(job.id)
                results = self.item_results(job, record, items)
                redo += [
                    i
                    for i in record.items
                    if owners[i] is record and not (i in results and results[i].success)
                ]
            if redo:
                self.log.warning(
                    "sending %s again: their earlier job reported them failed", describe_indexes(redo)
                )
            ledger.redo = redo
            self.publish_job_ids(context, ledger)
            ledger.note_published()
            if ended:  # this try's first wave: XCom of the earlier try is gone
                self._store_wave(context, ledger, ended)
                return ledger
        self._save(context, ledger)
        return ledger

    def _save(self, context: Context, ledger: Ledger) -> None:
        """Write what changed: the ledger's small head, and a segment of ended jobs when one fills."""
        ledger.save(context.get("task_state_store"))
