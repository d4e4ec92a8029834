"""JobSensor: waits for vendor jobs to end, in the triggerer (default) or in the worker."""

from __future__ import annotations

import ast
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_jobstatus.compat import AirflowFailException, AirflowSensorTimeout
from airflow_jobstatus.core.checks import check_flag, listed_job_ids, short_repr
from airflow_jobstatus.core.models import JobState
from airflow_jobstatus.core.outcomes import UNFINISHED_ENDS, OnPartial, check_on_partial, judge
from airflow_jobstatus.core.wording import plural
from airflow_jobstatus.defaults import DEFAULT_ON_PARTIAL, DEFAULT_POLL_INTERVAL, DEFAULT_WAIT_FOR_ALL
from airflow_jobstatus.deployment import resolve_deferrable
from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.job_task import HookT, JobTaskMixin, positive_seconds
from airflow_jobstatus.triggers.cadence import check_max_poll_interval
from airflow_jobstatus.triggers.job import JobTrigger, WaitEvent

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_jobstatus.core.models import Job
    from airflow_jobstatus.core.outcomes import Verdict


class JobSensor(JobTaskMixin[HookT], BaseSensorOperator):
    """Waits until vendor jobs end; returns the final job (or list of jobs) as JSON-ready dicts.

    With several jobs, the sensor fails as soon as one of them has ended in a way that fails the task
    (failed, killed, cancelled or expired; partial unless ``on_partial="warn"``), naming that job and its
    error and listing the jobs still running: those are not cancelled at the vendor. ``wait_for_all=True``
    waits until every job has ended, then reports them all.

    Vendor sensors set ``hook_class``. Deferrable by default: the wait runs in the triggerer and holds
    no worker slot; ``deferrable=False`` polls in the worker (``mode="reschedule"`` frees the slot
    between polls).

    Vendor sensors repeat these arguments in their own signatures (``timeout`` included), with the
    defaults of :mod:`airflow_jobstatus.defaults`. Details: README, "Wait for jobs in a DAG".

    :param job_id: one job id, or a list of them (templated; required).
    :param conn_id: the Airflow connection (default None: the hook's default connection; vendor sensors
        name it, e.g. ``zendesk_conn_id``).
    :param poll_interval: seconds between status reads, the shortest wait between them when deferred
        (default 30.0); also the ``poke_interval`` of a wait in the worker unless that is given.
    :param max_poll_interval: deferred waits read less often while the jobs' progress says they are far
        from done, up to this many seconds (default None: 10 x ``poll_interval``, at most 600); set it to
        ``poll_interval`` for a fixed interval. See README, "Many waits on one connection" (how often a
        wait polls).
    :param timeout: Airflow's sensor ``timeout``: seconds (or a timedelta) to wait in all before failing
        with the jobs' last progress (default None: ``[sensors] default_timeout``, 7 days unless the
        deployment changes it).
    :param on_partial: a job that ended with failed items: ``"fail"`` the task listing them (default),
        or ``"warn"``: log every failed item and succeed.
    :param wait_for_all: ``False`` (default): fail as soon as one job's end fails the task, while others
        still run; ``True``: wait until every job has ended before judging them.
    :param deferrable: wait in the triggerer, or if False poll in the worker. Default (None): the
        deployment's ``[operators] default_deferrable`` where it sets one, else True. See README,
        "Deferrable or not".
    """

    template_fields: Sequence[str] = ("job_id",)
    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        job_id: str | int | Sequence[str | int],
        conn_id: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        on_partial: OnPartial = DEFAULT_ON_PARTIAL,
        wait_for_all: bool = DEFAULT_WAIT_FOR_ALL,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        seconds = positive_seconds("poll_interval", poll_interval)
        kwargs.setdefault("poke_interval", seconds)
        super().__init__(**kwargs)
        self.job_id = job_id
        self.conn_id = conn_id or self.hook_class.default_conn_name
        self.poll_interval = seconds
        self.max_poll_interval = check_max_poll_interval(self.poll_interval, max_poll_interval)
        self.on_partial = check_on_partial(on_partial)
        self.wait_for_all = check_flag("wait_for_all", wait_for_all)
        self.deferrable = resolve_deferrable(deferrable)
        self._last_jobs: list[Job] = []

    def job_ids(self) -> list[str]:
        """The (rendered) job ids as a list; raises a clear error for an empty or malformed value."""
        return parse_job_ids(self.job_id)

    def _single(self) -> bool:
        """True when one id was asked for as a scalar: the return value is then one dict, not a list."""
        return (
            isinstance(self.job_id, (str, int)) and len(self.job_ids()) == 1 and "[" not in str(self.job_id)
        )

    def execute(self, context: Context) -> Any:
        """Read the jobs once; finish now if they have ended, else wait (deferred or polling)."""
        ids = self.job_ids()
        if not self.deferrable:
            return self._poll_in_worker(context)
        jobs = self.read_jobs(ids, still="the triggerer will keep trying")
        if jobs is not None and self._decided(jobs):
            return self._finish(jobs)
        self._defer(ids)
        return None

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One read in worker mode: done when every job has ended, or (unless ``wait_for_all``) one has
        ended badly (a transient failure: not yet)."""
        jobs = self.read_jobs(self.job_ids())
        if jobs is None:
            return False
        self._last_jobs = jobs
        if not self._decided(jobs):
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish(jobs))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger: fail on error or timeout, else fetch full results and judge them (a
        ``decided`` event: one job ended badly while others still run)."""
        result = WaitEvent.from_payload(event)
        if result.outcome == "timeout":
            raise AirflowSensorTimeout(f"timed out after {self.timeout:g} s: {result.message}")
        if result.outcome == "error":
            result.raise_error()
        jobs = self.hook.get_jobs(self.job_ids())
        return self._finish(jobs)  # logs the jobs' outcome (the trigger's message would say it twice)

    def _poll_in_worker(self, context: Context) -> Any:
        self._last_jobs = []
        try:
            return super().execute(context)
        except AirflowSensorTimeout as error:
            progress = self._reporter.describe(self._last_jobs) or "no status could be read"
            raise AirflowSensorTimeout(f"{error} Last progress: {progress}") from None

    def _defer(self, ids: list[str]) -> None:
        # One job has nothing to end early: its trigger then serializes as in releases before end_early_on.
        early = [] if self.wait_for_all or len(ids) < 2 else failing_states(self.on_partial)
        trigger = JobTrigger.for_hook(
            self.hook_class,
            self.conn_id,
            ids,
            self.poll_interval,
            time.time() + self.timeout,
            hook_params=self.hook_params(),
            max_poll_interval=self.max_poll_interval,
            end_early_on=[state.value for state in early],
        )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=trigger.defer_timeout())

    def _decided(self, jobs: list[Job]) -> bool:
        """True when the wait is over: every job has ended, or (unless ``wait_for_all``) one ended badly."""
        if all(job.state.is_terminal for job in jobs):
            return True
        failing = failing_states(self.on_partial)
        return not self.wait_for_all and any(job.state in failing for job in jobs)

    def _finish(self, jobs: list[Job]) -> Any:
        verdict = judge(jobs, self.on_partial)
        running = [job.id for job in jobs if not job.state.is_terminal]
        if running and not verdict.ok:
            verdict = self._decided_early(jobs, running)
        verdict.log_to(self.log)
        if not verdict.ok:
            raise AirflowFailException(verdict.error_message())
        dicts = [self.hook_class.job_for_xcom(job) for job in jobs]
        return dicts[0] if self._single() else dicts

    def _decided_early(self, jobs: list[Job], running: list[str]) -> Verdict:
        """The verdict of a wait ended by a bad end while jobs still run: the ended jobs' verdict, its
        summary naming the jobs still running."""
        verdict = judge([job for job in jobs if job.state.is_terminal], self.on_partial)
        verdict.summary = (
            f"{verdict.summary}; {plural(len(running), 'job')} still running, not cancelled at "
            f"{self.hook_class.vendor}: {', '.join(running)} (wait_for_all=True waits for every job "
            "before failing)"
        )
        return verdict


def failing_states(on_partial: OnPartial) -> tuple[JobState, ...]:
    """The end states that fail a sensor (as :func:`~airflow_jobstatus.core.outcomes.judge` decides): a job
    that did not finish its work, and a partial one unless ``on_partial="warn"``."""
    return UNFINISHED_ENDS + ((JobState.PARTIAL,) if on_partial == "fail" else ())


def parse_job_ids(value: Any) -> list[str]:
    """Job ids from a list, one id, a comma-separated string, or a rendered list such as ``"['a', 'b']"``."""
    raw = value
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                raw = ast.literal_eval(text)
            except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):  # TypeError: [{[]: 1}]
                raise ConfigurationError(
                    f"job_id {short_repr(value, 80)} looks like a list but cannot be read"
                ) from None
        else:
            raw = text.replace(",", " ").split()
    elif isinstance(raw, int) and not isinstance(raw, bool):
        raw = [raw]
    listed = list(raw) if isinstance(raw, (list, tuple)) else []
    return listed_job_ids(listed, value)
