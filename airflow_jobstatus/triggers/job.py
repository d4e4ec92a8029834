"""JobTrigger: waits in the triggerer until every job of a vendor connection has ended.

One trigger class serves every vendor: its kwargs name the hook class, the connection id, the job
ids, the poll interval and an absolute deadline (never a secret), so a restarted triggerer rebuilds
the same wait. Only a terminal state of every job, a job ending in one of the ``end_early_on`` states
(when given), the deadline, or a permanent error (bad credentials, unknown job, a broken answer after
retries) ends it; transient errors are logged and the wait goes on. The event it yields is small: the
states and counts of the jobs, not their results.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, NoReturn, cast, get_args

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_jobstatus.compat import AirflowException, AirflowFailException
from airflow_jobstatus.core.checks import finite_number, positive_seconds, short_repr
from airflow_jobstatus.core.models import TERMINAL_STATE_VALUES, Job
from airflow_jobstatus.core.outcomes import end_reason
from airflow_jobstatus.core.wording import plural
from airflow_jobstatus.errors import ConfigurationError, JobStatusError
from airflow_jobstatus.http.transport import error_reason
from airflow_jobstatus.triggers.cadence import check_max_poll_interval
from airflow_jobstatus.triggers.steps import DEADLINE, WaitSteps

if TYPE_CHECKING:
    from airflow_jobstatus.hooks.base import JobHook

#: ``ended``: every job ended; ``decided``: a job ended in one of the trigger's ``end_early_on`` states
#: while others were still running (only a trigger given ``end_early_on`` yields it).
Outcome = Literal["ended", "decided", "timeout", "error"]
#: Extra time Airflow gives a deferral beyond the trigger's own deadline.
DEFERRAL_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class JobSummary:
    """The few fields of a job an event carries."""

    id: str
    state: str
    vendor_status: str
    progress: int | None = None
    total: int | None = None
    percent: float | None = None
    failed_items: int = 0

    @classmethod
    def of(cls, job: Job) -> JobSummary:
        """Summarize a job."""
        return cls(
            job.id,
            job.state.value,
            job.vendor_status,
            job.progress,
            job.total,
            job.percent,
            len(job.failed_items),
        )


@dataclass(frozen=True)
class WaitEvent:
    """The payload of the TriggerEvent a JobTrigger yields."""

    outcome: Outcome
    message: str
    jobs: list[JobSummary] = field(default_factory=list)
    resume: dict[str, Any] | None = None
    #: False for an error no retry can change (the connection's settings or credentials): the task then
    #: fails without retrying. (Events of earlier releases lack it: they count as retryable.)
    retryable: bool = True

    @classmethod
    def of(
        cls,
        outcome: Outcome,
        message: str,
        jobs: Sequence[Job],
        resume: dict[str, Any] | None = None,
        retryable: bool = True,
    ) -> WaitEvent:
        """An event carrying the summaries of ``jobs`` (and the trigger's ``resume`` data)."""
        return cls(outcome, message, [JobSummary.of(job) for job in jobs], resume, retryable)

    def raise_error(self) -> NoReturn:
        """Raise this error event's failure: AirflowFailException when no retry can help, else
        AirflowException (the task's retries apply)."""
        if not self.retryable:
            raise AirflowFailException(
                f"{self.message} (not retried: fix the connection, then clear the task)"
            )
        raise AirflowException(self.message)

    def to_payload(self) -> dict[str, Any]:
        """Plain JSON for the TriggerEvent."""
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> WaitEvent:
        """Rebuild from a TriggerEvent payload; an outcome this release does not know is refused (a task
        must never take an event it cannot read for jobs that ended)."""
        outcome = payload.get("outcome") if isinstance(payload, dict) else None
        if outcome not in get_args(Outcome):
            raise AirflowException(
                f"the trigger's event has no outcome this release knows ({short_repr(outcome)}; expected one "
                f"of {', '.join(get_args(Outcome))}): was it written by a newer release? A retry waits again"
            )
        jobs = [JobSummary(**job) for job in payload.get("jobs", [])]
        return cls(
            outcome=cast(Outcome, outcome),
            message=payload.get("message", ""),
            jobs=jobs,
            resume=payload.get("resume"),
            retryable=bool(payload.get("retryable", True)),
        )


class JobTrigger(BaseTrigger):
    """Waits until every job in ``job_ids`` ends, the ``deadline`` passes, or an error is permanent (or,
    with ``end_early_on``, until one job ends in one of those states).

    :param hook_path: import path of the vendor hook class (a JobHook subclass).
    :param conn_id: the Airflow connection the hook reads.
    :param job_ids: the jobs to wait for.
    :param poll_interval: seconds between status reads.
    :param deadline: absolute end of the wait, as a UNIX timestamp.
    :param resume: plain JSON data handed back unchanged in the event (an operator's ledger), so the
        task resumes with nothing but the event. (Defer ``kwargs`` would do, but ``dag.test()`` drops
        them when a trigger fires.) Never a secret.
    :param hook_params: plain keyword arguments of the hook besides the connection (e.g. the Trade
        Desk's ``job_kind``, which says which status path reads the ids). Never a secret.
    :param max_poll_interval: the longest wait between reads while the jobs' progress says they are far
        from done (:mod:`~airflow_jobstatus.triggers.cadence`); None: 10 x ``poll_interval``, at most
        10 minutes. Equal to ``poll_interval``: a fixed interval.
    :param end_early_on: terminal job states (:class:`~airflow_jobstatus.core.models.JobState` values, e.g.
        ``["failed", "cancelled", "expired"]``) that end the wait as soon as one job reaches one of them,
        with the event's outcome ``"decided"`` and the other jobs left running (never cancelled). Empty
        (the default, and what a trigger serialized before this parameter existed gets): wait until every
        job has ended.
    """

    def __init__(
        self,
        hook_path: str,
        conn_id: str,
        job_ids: Sequence[str],
        poll_interval: float,
        deadline: float,
        resume: dict[str, Any] | None = None,
        hook_params: dict[str, Any] | None = None,
        max_poll_interval: float | None = None,
        end_early_on: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.hook_path = hook_path
        self.conn_id = conn_id
        self.job_ids = [str(job_id) for job_id in job_ids]
        self.poll_interval = positive_seconds("poll_interval", poll_interval)
        self.deadline = finite_number("deadline", deadline)
        self.resume = resume
        self.hook_params = dict(hook_params or {})
        self.max_poll_interval = check_max_poll_interval(self.poll_interval, max_poll_interval)
        self.end_early_on = check_end_early_on(end_early_on)
        #: What the running wait knows (the jobs as last read), for :meth:`on_kill`; never serialized.
        self._steps: WaitSteps | None = None

    @classmethod
    def for_hook(
        cls,
        hook_class: type[JobHook],
        conn_id: str,
        job_ids: Sequence[str],
        poll_interval: float,
        deadline: float,
        resume: dict[str, Any] | None = None,
        hook_params: dict[str, Any] | None = None,
        max_poll_interval: float | None = None,
        end_early_on: Sequence[str] | None = None,
    ) -> JobTrigger:
        """A trigger reading ``job_ids`` with ``hook_class`` (its import path is derived, never typed)."""
        hook_path = f"{hook_class.__module__}.{hook_class.__qualname__}"
        return cls(
            hook_path,
            conn_id,
            job_ids,
            poll_interval,
            deadline,
            resume,
            hook_params,
            max_poll_interval,
            end_early_on,
        )

    def defer_timeout(self) -> timedelta:
        """What to give ``defer(timeout=...)``: the time to the deadline plus a grace, so that the trigger's
        own timeout message arrives before Airflow's generic one."""
        return timedelta(seconds=max(self.deadline - time.time(), 0.0)) + DEFERRAL_GRACE

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and plain kwargs: enough for a restarted triggerer to resume the wait.

        ``end_early_on`` is left out when empty: a wait for every job serializes exactly as in releases
        before it, which can still rebuild it.
        """
        kwargs: dict[str, Any] = {
            "hook_path": self.hook_path,
            "conn_id": self.conn_id,
            "job_ids": list(self.job_ids),
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "resume": self.resume,
            "hook_params": self.hook_params,
            "max_poll_interval": self.max_poll_interval,
        }
        if self.end_early_on:
            kwargs["end_early_on"] = list(self.end_early_on)
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll through the connection's poller until the wait ends; yield one event."""
        event = await self._wait()
        yield TriggerEvent(event.to_payload())

    async def on_kill(self) -> None:
        """A user marked the deferred task failed or success, or cleared it (Airflow 3.3+ calls this then,
        and never on a timeout, a triggerer restart or a hand-over to another triggerer; Airflow before 3.3
        never calls it). None of our vendors can cancel a job: one warning in the task's log says so and
        names the jobs left running (an info line when every job had ended). Nothing is sent to the
        vendor."""
        try:
            vendor, noun = self.hook_path.rpartition(".")[2] or "vendor", "jobs"
            try:
                hook_class = await hook_class_of(self.hook_path)
                vendor, noun = hook_class.vendor, hook_class.jobs_noun
            except Exception:  # a hook that cannot be loaded still leaves its jobs running
                pass
            seen = {job.id: job for job in (self._steps.jobs if self._steps else [])}
            running = [
                job_id for job_id in self.job_ids if job_id not in seen or not seen[job_id].state.is_terminal
            ]
            message = kill_message(vendor, noun, self.conn_id, running, len(self.job_ids))
            (self.log.warning if running else self.log.info)(message)
        except Exception:  # on_kill must never fail: Airflow would only log a traceback
            self.log.warning("the task was stopped while waiting; its jobs may keep running at the vendor")

    async def _wait(self) -> WaitEvent:
        from airflow_jobstatus.triggers.poller import JobPoller

        steps = self._steps = WaitSteps(self)
        try:
            hook_class = await hook_class_of(self.hook_path)
            async with JobPoller.watch(hook_class, self.conn_id, self.hook_params) as poller:
                reader = poller.reader(self.job_ids)  # ids the vendor could never accept fail here
                # The poller runs the steps as answers arrive; this task only awaits the end.
                ended = reader.follow(steps.step)
                try:
                    steps.start(reader)
                    outcome = await ended
                finally:
                    reader.leave()
            if outcome is DEADLINE:  # the next read would come after the deadline
                await asyncio.sleep(max(self.deadline - time.time(), 0.0))
                progress = steps.reporter.describe(steps.jobs) or "no status could be read"
                return self.event("timeout", f"the wait reached its deadline: {progress}", steps.jobs)
            return cast(WaitEvent, outcome)
        except asyncio.TimeoutError:  # the vendor held back a read (Retry-After, retries) past the deadline
            progress = steps.reporter.describe(steps.jobs) or "no status could be read"
            message = f"the wait reached its deadline while the vendor held back: {progress}"
            return self.event("timeout", message, steps.jobs)
        except JobStatusError as error:
            self.log.error(str(error))
            # Our errors that no retry can change (configuration, credentials...) are AirflowFailExceptions.
            fixed_only_by_hand = isinstance(error, AirflowFailException)
            return WaitEvent.of(
                "error", str(error), steps.jobs, self.resume, retryable=not fixed_only_by_hand
            )
        except Exception as error:  # never a foreign traceback out of a trigger: the task gets a clear event
            self.log.exception("the wait failed unexpectedly")
            message = (
                f"the wait failed unexpectedly ({error_reason(error)}): this is a defect of "
                "airflow-jobstatus, please report it with the triggerer's log"
            )
            return self.event("error", message, steps.jobs)

    def event(self, outcome: Outcome, message: str, jobs: Sequence[Job]) -> WaitEvent:
        """The event ending this wait (carrying its ``resume`` data)."""
        return WaitEvent.of(outcome, message, jobs, self.resume)

    def decided(self, decided: Sequence[Job], jobs: Sequence[Job]) -> WaitEvent:
        """The event of a wait ended early by ``decided`` (jobs in an ``end_early_on`` state)."""
        return self.event("decided", decided_message(decided, jobs), jobs)


#: The most job ids a kill message names (the rest are counted).
KILL_MESSAGE_IDS = 50


def kill_message(vendor: str, noun: str, conn_id: str, running: Sequence[str], total: int) -> str:
    """What :meth:`JobTrigger.on_kill` logs: the jobs left running at ``vendor``, which cannot cancel them."""
    stopped = "the task was stopped while it waited (marked failed or success, or cleared)"
    if not running:
        return f"{stopped}; its {plural(total, f'{vendor} job')} had all ended (connection '{conn_id}')"
    named = ", ".join(running[:KILL_MESSAGE_IDS])
    if len(running) > KILL_MESSAGE_IDS:
        named += f" and {len(running) - KILL_MESSAGE_IDS} more"
    of_total = f" of {total}" if len(running) < total else ""
    return (
        f"{stopped}, but {plural(len(running), f'{vendor} job')}{of_total} keep running at {vendor}: {named} "
        f"(connection '{conn_id}'). {vendor} {noun} cannot be cancelled from Airflow: let them finish, or "
        "stop them with the vendor's own tools"
    )


def check_end_early_on(states: Sequence[str] | None) -> list[str]:
    """Validate ``end_early_on``: terminal JobState values (duplicates dropped, order kept)."""
    if states is None:
        return []
    if isinstance(states, str):  # one state given bare would be read letter by letter
        states = [states]
    wrong = [state for state in states if state not in TERMINAL_STATE_VALUES]
    if wrong:
        named = ", ".join(map(repr, wrong))
        choices = ", ".join(TERMINAL_STATE_VALUES)
        raise ConfigurationError(f"end_early_on takes terminal job states ({choices}), not {named}")
    return list(dict.fromkeys(states))


def decided_message(decided: Sequence[Job], jobs: Sequence[Job]) -> str:
    """What a ``decided`` event says: the jobs that ended the wait and why, and the ids still running."""
    ended = "; ".join(f"job {job.id} ended {job.vendor_status}: {end_reason(job)}" for job in decided)
    running = [job.id for job in jobs if not job.state.is_terminal]
    return f"{ended}; still running (not cancelled): {', '.join(running)}"


#: Hook classes loaded so far, by import path: only the first wait of a class loads it (in a thread).
_hook_classes: dict[str, type[JobHook]] = {}


async def hook_class_of(hook_path: str) -> type[JobHook]:
    """The hook class at ``hook_path``, loaded in a thread the first time (the first trigger of a triggerer
    would otherwise block the shared event loop for a few hundred milliseconds while aiohttp and the vendor
    module load), then at once."""
    hook_class = _hook_classes.get(hook_path)
    if hook_class is None:
        hook_class = _hook_classes[hook_path] = await asyncio.to_thread(load_hook_class, hook_path)
    return hook_class


def load_hook_class(hook_path: str) -> type[JobHook]:
    """Import a JobHook subclass by its dotted path (refusing anything else), and the async transport."""
    importlib.import_module("airflow_jobstatus.http.transport_async")
    from airflow_jobstatus.hooks.base import JobHook

    module_name, _, class_name = hook_path.rpartition(".")
    hook_class = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(hook_class, type) and issubclass(hook_class, JobHook)):
        raise ConfigurationError(f"{hook_path!r} is not a job hook class")
    return hook_class
