"""Reader: the reads of one wait through its connection's poller (:mod:`airflow_jobstatus.triggers.poller`).

A wait keeps one Reader of its jobs and arms one read at a time, saying when it wants it (a ``delay``): it
either awaits each answer (:meth:`Reader.read`) or *follows* its jobs (:meth:`Reader.follow`): the poller
then runs the wait's step function as each answer arrives (:mod:`airflow_jobstatus.triggers.steps`), and the
wait awaits only the end. The poller puts the reader in a batch when its read is due; the reader hands out
the answer: its own jobs, or the most telling error of the calls that read them.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow_jobstatus.core.checks import sane_delay
from airflow_jobstatus.core.models import Job
from airflow_jobstatus.errors import JobNotFoundError, JobStatusError, TransientVendorError

if TYPE_CHECKING:
    from airflow_jobstatus.triggers.poller import JobPoller

#: An ask may be served this share of its delay early, to join a batch.
EARLY_SHARE = 0.5
#: A first read (no delay) waits this long for the waits starting with it, to share their batch.
FIRST_READ_GATHER = 0.05

#: What a follower does with each answer (its jobs, or the error of the call that read them): it calls
#: :meth:`Reader.again` for the next read, or :meth:`Reader.end`.
Step = Callable[["Reader", "list[Job] | BaseException"], None]


class Reader:
    """The reads of one wait through a poller: its job ids (checked once), and its one pending read.

    Two ways to read. :meth:`read` awaits one answer. :meth:`follow` hands every answer to a step function
    that the poller runs as the answer arrives (in the context of the wait that called :meth:`follow`, so
    that its log lines keep the wait's context: Airflow routes a trigger's lines to its task's log by it);
    the step arms the next read (:meth:`again`) or ends the follow (:meth:`end`), and the wait awaits only
    that end. A triggerer with 10,000 waits at 1 s makes 10,000 reads a second: a follow's read allocates
    nothing that outlives it (whatever lives until the next read is walked by the garbage collector, whose
    full collections pause the event loop), and wakes no task.

    A reader is its own place in the poller's queue (at most one pending read).
    """

    __slots__ = (
        "answer",
        "context",
        "due",
        "expires",
        "job_ids",
        "jobs",
        "opens",
        "poller",
        "read_at",
        "step",
        "taken",
    )

    def __init__(self, poller: JobPoller, job_ids: tuple[str, ...]) -> None:
        self.poller = poller
        self.job_ids = job_ids
        #: When the pending read is due (monotonic), from when it may join a batch, and when its wait's
        #: deadline passes (a read still under way then answers asyncio.TimeoutError).
        self.due = self.opens = 0.0
        self.expires = math.inf
        #: The pending read's answer (:meth:`read`), or the end of the follow (:meth:`follow`).
        self.answer: asyncio.Future[Any] | None = None
        self.step: Step | None = None
        self.context: contextvars.Context | None = None
        self.taken = True  # not in the queue: the pending read is in a batch, or no read is armed
        self.read_at = 0.0
        self.jobs: list[Job] = []  # the last answer (handed out again when no job in it changed)

    @property
    def pending(self) -> bool:
        """An answer is awaited (the read, or the follow, was not cancelled or ended)."""
        return self.answer is not None and not self.answer.done()

    async def read(
        self,
        delay: float = 0.0,
        since: float | None = None,
        *,
        joining: bool = False,
        expires: float = math.inf,
    ) -> tuple[list[Job], float]:
        """The status of the jobs (in the order given), read in a batch due ``delay`` seconds after ``since``
        (a ``time.monotonic()`` value; None: now), and when that read was sent (the next ``since``: a
        steady cadence then does not drift by each read's round trip).

        The batch may come up to half of ``delay`` early; ``joining`` (a wait's first read) lets it come as
        early as the connection's next batch, so that waits starting one after another fall in step at
        once. A first read with no delay comes after a few milliseconds, with the other waits starting at
        the same time. ``expires`` (monotonic): the read is abandoned with ``asyncio.TimeoutError`` if
        still under way then. Errors of the call that read a job are raised here.
        """
        if self.pending:
            raise RuntimeError("a reader reads one batch at a time")
        if self.poller._transport is None:
            await self.poller._open()
        self.step = None
        answer = self.answer = asyncio.get_running_loop().create_future()
        self._arm(delay, since, joining, expires)
        try:
            # A cancel of the wait cancels this plain future: nothing in between can swallow it.
            jobs: list[Job] = await answer
        finally:
            self.leave()
        return jobs, self.read_at

    def follow(self, step: Step) -> asyncio.Future[Any]:
        """Hand every answer to ``step`` until it calls :meth:`end`; the returned future is that end (its
        result or exception). Call :meth:`again` for the first read. Await the future, then
        :meth:`leave` (a cancel of the awaiting wait cancels the future: the reader then leaves the queue).
        A step that raises ends the follow with its exception."""
        if self.pending:
            raise RuntimeError("a reader reads one batch at a time")
        self.step = step
        self.context = contextvars.copy_context()
        self.answer = asyncio.get_running_loop().create_future()
        return self.answer

    def again(
        self, delay: float, since: float | None = None, *, joining: bool = False, expires: float = math.inf
    ) -> None:
        """Arm the follow's next read (see :meth:`read` for the arguments)."""
        if self.step is None or not self.pending:
            raise RuntimeError("again() is for a reader that follows")
        self._arm(delay, since, joining, expires)

    def end(self, result: Any = None, error: BaseException | None = None) -> None:
        """End the follow with ``result`` (or ``error``); nothing more is read."""
        answer = self.answer
        if answer is not None and not answer.done():
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(result)
        self.leave()

    def leave(self) -> None:
        """Leave the poller's queue (a read armed and not yet in a batch is dropped)."""
        if not self.taken:
            self.poller._asks.pop(self, None)
            self.taken = True

    def _arm(self, delay: float, since: float | None, joining: bool, expires: float) -> None:
        delay = sane_delay(delay, fallback=0.0)  # a NaN due time would make the batching loop spin
        start = since if since is not None and math.isfinite(since) else time.monotonic()
        self.due = start + (delay or FIRST_READ_GATHER)
        self.opens = self.due - (delay if joining else delay * EARLY_SHARE)
        self.expires = math.inf if math.isnan(expires) else expires
        self.taken = False
        self.poller._add(self)

    def _answer(
        self, found: list[Job | BaseException], missing: Callable[[Sequence[str]], JobNotFoundError]
    ) -> bool:
        """Hand this reader its jobs (or the most telling error among them); True when it woke a task."""
        result: list[Job] | BaseException
        errors = [item for item in found if isinstance(item, BaseException)]
        if errors:
            result = _most_telling(_own_missing(self.job_ids, found, errors, missing))
        else:
            jobs = self.jobs
            same = len(jobs) == len(found) and all(new is old for new, old in zip(found, jobs, strict=True))
            result = self.jobs = jobs if same else found  # type: ignore[assignment]
        answer = self.answer
        assert answer is not None
        step = self.step
        if step is None:
            if isinstance(result, BaseException):
                answer.set_exception(result)
            else:
                answer.set_result(result)
            return True
        assert self.context is not None
        try:
            self.context.run(step, self, result)
        except Exception as error:  # a defect of the step: its wait ends with it
            self.end(error=error)
        else:
            if self.taken and not answer.done():  # the step armed no read and did not end
                self.end(error=RuntimeError("the wait's step armed no next read"))
        return False


def _own_missing(
    job_ids: tuple[str, ...],
    found: list[Job | BaseException],
    errors: list[BaseException],
    missing: Callable[[Sequence[str]], JobNotFoundError],
) -> list[BaseException]:
    """``errors`` with "not found" naming this reader's own missing ids only (one show_many call may miss
    the jobs of many other tasks)."""
    gone = [job_id for job_id, item in zip(job_ids, found, strict=True) if isinstance(item, JobNotFoundError)]
    if not gone:
        return errors
    own = missing(gone)
    return [own if isinstance(error, JobNotFoundError) else error for error in errors]


def _most_telling(errors: list[BaseException]) -> BaseException:
    """The error to raise for an ask: one that ends the wait (a permanent error) before a transient one."""
    for error in errors:
        if isinstance(error, JobStatusError) and not isinstance(error, TransientVendorError):
            return error
    return errors[0]
