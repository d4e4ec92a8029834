"""The engine every job operator runs on: submit, record, wait, resume, conclude.

The flow, the same for every vendor and every shape of operator:

1. the input is a list of items (a bulk operator's records; a single-job operator's one request), sent
   as requests of at most ``max_items_per_job`` items, on the worker (never in the trigger);
2. at most ``max_jobs_in_flight`` jobs are queued or running at once, and the slots are kept full: as
   soon as a job ends, the next request goes (a sliding window, not waves that wait for their slowest
   job). A submit the vendor refuses for now (HTTP 429: too many jobs, rate limit) was not accepted:
   wait for our running jobs (or the ``Retry-After``) and send the same request again;
3. every job id is recorded in the task state store (:mod:`airflow_jobstatus.core.ledger`) and pushed to
   XCom (``job_ids``) as soon as it is known;
4. the wait is deferred (one trigger for all running jobs) or, with ``deferrable=False``, a poll loop on
   the worker; the jobs that ended are kept (XCom or object storage) until the last one ends, because
   a vendor may forget a job by then;
5. once every job has ended, :meth:`JobEngineOperator.conclude` (defined by the operator shape: bulk
   items in :mod:`~airflow_jobstatus.operators.base`, one job in
   :mod:`~airflow_jobstatus.operators.single_job`) gives the return value and the verdict.

A later try reads the ledger back (:mod:`~airflow_jobstatus.operators.reattach`).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_jobstatus.compat import AirflowException
from airflow_jobstatus.core.checks import check_flag, whole_number
from airflow_jobstatus.core.ledger import JobRecord, Ledger, describe_indexes
from airflow_jobstatus.core.models import TERMINAL_STATE_VALUES, ItemResult, Job
from airflow_jobstatus.core.outcomes import OnPartial, Verdict, check_on_partial
from airflow_jobstatus.core.wording import plural
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
from airflow_jobstatus.errors import ConfigurationError, JobWaitTimeout
from airflow_jobstatus.job_task import HookT, positive_seconds
from airflow_jobstatus.operators.items import job_level_results
from airflow_jobstatus.operators.reattach import ReattachMixin
from airflow_jobstatus.operators.row_store import RowStore
from airflow_jobstatus.operators.submitting import SubmitMixin
from airflow_jobstatus.triggers.cadence import PollCadence, check_max_poll_interval
from airflow_jobstatus.triggers.job import JobTrigger, WaitEvent

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Every terminal state: a wait given them all ends as soon as one job ends (a slot is free).
ANY_END = list(TERMINAL_STATE_VALUES)


class JobEngineOperator(SubmitMixin[HookT], ReattachMixin[HookT], BaseOperator):
    """Base of every job operator: runs the flow of the module docstring.

    An operator shape defines :meth:`conclude` (and may choose where results go: :meth:`choose_rows`);
    a vendor operator sets ``hook_class`` and defines :meth:`prepare_items` and :meth:`submit_items`,
    and usually :meth:`item_results`. The arguments are documented on
    :class:`~airflow_jobstatus.operators.base.SubmitJobOperator` and on each vendor operator.
    """

    max_items_per_job: ClassVar[int] = 100
    ui_color = "#dceefb"
    #: Where this try keeps results and ended jobs (chosen in execute, by :meth:`choose_rows`).
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
        self.wait_for_completion = check_flag("wait_for_completion", wait_for_completion)
        self.reattach_on_clear = check_flag("reattach_on_clear", reattach_on_clear)
        self.deferrable = resolve_deferrable(deferrable)

    # --- what an operator shape or a vendor operator defines ---------------------------------------
    @abstractmethod
    def prepare_items(self) -> list[Any]:
        """The rendered input as a list of items, checked (raise ConfigurationError naming the field)."""

    @abstractmethod
    def submit_items(self, items: list[Any]) -> Job:
        """Send one request for ``items`` (at most ``max_items_per_job``) and return the queued job."""

    @abstractmethod
    def conclude(
        self, context: Context, items: list[Any], ledger: Ledger, jobs: dict[str, Job]
    ) -> tuple[Any, Verdict]:
        """The return value and the verdict once every job has ended (``jobs``: by id)."""

    def item_results(self, job: Job, record: JobRecord, items: list[Any]) -> dict[int, ItemResult]:
        """Results of an ended job keyed by input index (``record.items``: what it was sent, in order).
        By default the job's own outcome for each of its items."""
        return job_level_results(job, record.items)

    def choose_rows(self, context: Context, items: list[Any]) -> RowStore:
        """Where this try keeps results and ended jobs: XCom by default."""
        return RowStore(None)

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
        """Submit (or reattach to an earlier try's jobs), then wait, keep the slots full, and conclude."""
        items = self.prepare_items()
        if not self.wait_for_completion:
            self._check_fits_in_flight(items)
        self._rows = self.choose_rows(context, items)
        ledger = self._open_ledger(context, items)
        deadline = time.time() + self.timeout
        if not self.wait_for_completion:
            return self._submit_only(context, items, ledger, deadline)
        return self._advance(context, items, ledger, deadline)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger: keep the jobs that ended, then fill the free slots or conclude."""
        wait = WaitEvent.from_payload(event)
        if not wait.resume:
            raise AirflowException(f"the trigger's event carries no ledger to resume from: {wait.message}")
        state, deadline = Ledger.from_json(wait.resume["ledger"]), float(wait.resume["deadline"])
        if wait.outcome == "timeout":
            raise JobWaitTimeout(f"timed out after {self.timeout:g} s: {wait.message}; a retry reattaches")
        if wait.outcome == "error":
            wait.raise_error()
        items = self.prepare_items()
        self._rows = self.choose_rows(context, items)
        # Every running job is read again: their full results, and any that ended since the trigger's read.
        jobs = self.hook.get_jobs(state.active_ids())
        if wait.outcome == "ended":
            self.log.info("%s", wait.message)
        else:  # "decided": a job ended while others run, to send more
            self._log_ended(jobs)
        self._store_ended(context, state, jobs)
        return self._advance(context, items, state, deadline)

    # --- the flow -------------------------------------------------------------------------------
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

    def _advance(self, context: Context, items: list[Any], ledger: Ledger, deadline: float) -> Any:
        """Fill the free slots, wait until a job ends (all of them once nothing is left to send), repeat."""
        while True:
            self._submit_wave(context, items, ledger, deadline)
            active = ledger.active_ids()
            if not active:
                return self._finish(context, items, ledger)
            # While items wait for a slot, the wait ends as soon as one job ends, to send more at once.
            end_early_on = ANY_END if ledger.pending(len(items)) else None
            if self.deferrable:
                self._defer(context, ledger, active, deadline, end_early_on)
            jobs = self._poll_until_ended(active, deadline, any_end=end_early_on is not None)
            self._store_ended(context, ledger, jobs)

    def _defer(
        self,
        context: Context,
        ledger: Ledger,
        active: list[str],
        deadline: float,
        end_early_on: list[str] | None,
    ) -> None:
        self.log.info(
            "waiting for %s in the triggerer%s",
            plural(len(active), "job"),
            " (until one ends, to send more)" if end_early_on else "",
        )
        # The ledger's head as just saved (a few KB, whatever the number of jobs); the whole ledger only
        # where there is no task state store to hold the rest.
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
            end_early_on=end_early_on,
        )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=trigger.defer_timeout())

    def _poll_until_ended(self, job_ids: list[str], deadline: float, *, any_end: bool = False) -> list[Job]:
        """Poll on the worker until every job ended (``any_end``: until one did); the jobs as last read."""
        jobs: list[Job] = []
        cadence = PollCadence(self.poll_interval, self.max_poll_interval)
        while True:
            delay = self.poll_interval
            read = self.read_jobs(job_ids)
            if read is not None:
                jobs = read
                ended = [job.state.is_terminal for job in jobs]
                if all(ended):
                    return jobs
                if any_end and any(ended):
                    self._log_ended(jobs)
                    return jobs
                delay = cadence.next_delay(jobs, time.monotonic())
            if time.time() >= deadline:
                progress = self._reporter.describe(jobs) or "no status could be read"
                raise JobWaitTimeout(f"timed out after {self.timeout:g} s: {progress}; a retry reattaches")
            time.sleep(min(delay, max(deadline - time.time(), 0.0)))

    def _log_ended(self, jobs: Sequence[Job]) -> None:
        """``2 jobs ended: 7 (completed), 9 (failed); 28 jobs still running``."""
        ended = [job for job in jobs if job.state.is_terminal]
        running = len(jobs) - len(ended)
        names = ", ".join(f"{job.id} ({job.vendor_status})" for job in ended[:10])
        more = f" and {len(ended) - 10} more" if len(ended) > 10 else ""
        still = f"; {plural(running, 'job')} still running" if running else ""
        self.log.info("%s ended: %s%s%s", plural(len(ended), "job"), names, more, still)

    def _store_ended(self, context: Context, ledger: Ledger, jobs: Sequence[Job]) -> None:
        """Keep the jobs that ended (a batch in XCom or object storage: the vendor may forget them before
        the last job ends); jobs still running stay in the ledger's open set."""
        ended = [job for job in jobs if job.state.is_terminal]
        if not ended:
            return
        for job in ended:
            ledger.set_state(job.id, job.state)
        ledger.waves += 1
        stored = [self.hook_class.job_for_xcom(job) for job in ended]
        self._rows.put_wave(context, ledger.waves, stored)
        self._save(context, ledger)

    def _finish(self, context: Context, items: list[Any], ledger: Ledger) -> Any:
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
        verdict.log_to(self.log)
        if not verdict.ok:
            context["ti"].xcom_push(key="return_value", value=result)
            raise AirflowException(verdict.error_message())
        return result

    def _save(self, context: Context, ledger: Ledger) -> None:
        """Write what changed: the ledger's small head, and a segment of ended jobs when one fills."""
        ledger.save(context.get("task_state_store"))
