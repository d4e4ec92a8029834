"""WaitSteps: what a JobTrigger decides at each answer, run by its connection's poller as the answer arrives.

A wait follows its jobs through a :class:`~airflow_jobstatus.triggers.reader.Reader`: at each answer the
poller calls :meth:`WaitSteps.step`, which logs progress, ends the wait when every job ended (or one ended in
an ``end_early_on`` state), and otherwise arms the next read after the cadence's delay; a transient error is
logged and the wait reads again after ``poll_interval`` (or the vendor's Retry-After). When the next read
would come after the deadline, the follow ends with :data:`DEADLINE` (the trigger then waits out the
deadline itself). Other errors end the follow with the error: the trigger turns it into its event.

Nothing here awaits: a step is a few dictionary look-ups when nothing changed (the poller hands back the
same list when no job changed), so thousands of waits cost the event loop little, and no task wakes for a
read that changes nothing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from airflow_jobstatus.core.checks import sane_delay
from airflow_jobstatus.core.models import Job
from airflow_jobstatus.core.outcomes import count_states
from airflow_jobstatus.core.progress import ProgressReporter
from airflow_jobstatus.errors import TransientVendorError
from airflow_jobstatus.triggers.cadence import PollCadence

if TYPE_CHECKING:
    from airflow_jobstatus.triggers.job import JobTrigger
    from airflow_jobstatus.triggers.reader import Reader

#: The end of a follow whose next read would come after the deadline.
DEADLINE = "deadline"


class WaitSteps:
    """The decisions of one wait between its reads (see the module docstring)."""

    def __init__(self, trigger: JobTrigger) -> None:
        self.trigger = trigger
        self.reporter = ProgressReporter(trigger.log)
        self.cadence = PollCadence(trigger.poll_interval, trigger.max_poll_interval)
        #: The jobs as last read (an event carries them, whatever ends the wait).
        self.jobs: list[Job] = []
        self.delay = 0.0
        self.since: float | None = None

    def start(self, reader: Reader) -> None:
        """Arm the first read. The task read the jobs just before deferring (or just submitted them): it joins
        the connection's next batch, at the latest after poll_interval (or half the time left)."""
        trigger = self.trigger
        self.delay = min(trigger.poll_interval, max(trigger.deadline - time.time(), 0.0) / 2)
        self._next(reader, joining=True)

    def step(self, reader: Reader, answer: list[Job] | BaseException) -> None:
        """One answer: end the wait, or arm the next read."""
        trigger = self.trigger
        if isinstance(answer, BaseException):
            if not isinstance(answer, TransientVendorError):
                reader.end(error=answer)  # the trigger makes its event of it
                return
            trigger.log.warning(f"{answer}; still waiting")
            asked = sane_delay(answer.retry_after, fallback=0.0)
            self.delay, self.since = max(trigger.poll_interval, asked), None
            self._next(reader)
            return
        changed = answer is not self.jobs  # the same list: no job in it changed since the last read
        self.jobs, self.since = answer, reader.read_at
        if changed:
            self.reporter.report(answer)
            if all(job.state.is_terminal for job in answer):
                reader.end(trigger.event("ended", count_states(answer), answer))
                return
            if trigger.end_early_on:
                decided = [job for job in answer if job.state.value in trigger.end_early_on]
                if decided:
                    reader.end(trigger.decided(decided, answer))
                    return
        self.delay = self.cadence.next_delay(answer, time.monotonic())
        self._next(reader)

    def _next(self, reader: Reader, joining: bool = False) -> None:
        remaining = self.trigger.deadline - time.time()
        due_in = self.delay if self.since is None else self.since + self.delay - time.monotonic()
        if due_in >= remaining:  # the next read would come after the deadline
            reader.end(DEADLINE)
            return
        # A read's own retries (a long Retry-After) never carry the wait past its deadline: the poller
        # answers TimeoutError then.
        expires = time.monotonic() + remaining
        reader.again(self.delay, self.since, joining=joining, expires=expires)
