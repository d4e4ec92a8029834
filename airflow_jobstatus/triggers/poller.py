"""One poller per (hook class, connection, hook parameters, event loop): the HTTP behind every JobTrigger.

Triggers never talk HTTP themselves: each asks the poller of its connection for its jobs, saying when
it wants them (:meth:`JobPoller.read` with a ``delay``). The poller coalesces the asks:

* when the earliest ask is due, it takes every ask due by then, and every ask due within half of its
  own delay (reading a job a little early costs nothing and puts waits in step: after a round or two,
  the waits of one connection with the same interval are read together); where the vendor reads ids in
  batches, it fills the calls it needs anyway with the soonest other asks;
* it reads the union of their job ids once, with the fewest calls the vendor allows (Zendesk's
  ``show_many`` takes 100 ids a call; Wistia and the Trade Desk read one job a call, sent concurrently),
  every call spending the connection's rate budget (:mod:`airflow_jobstatus.http.budget`);
* it hands each ask its own jobs, or the error of the call that read them: a job the vendor does not
  know fails only the waits on that job.

An ask that is cancelled (its trigger ended or hit its deadline) leaves the batch. The poller resolves
the connection once and holds a lease on the event loop's shared HTTP session while any trigger
watches through it. Every call of the poller shares one auth (:mod:`airflow_jobstatus.http.auth`): when the
vendor rejects the credentials, the connection is read again once, under the auth's lock, however many
calls were refused at the same time, and every wait goes on with the new credentials (a token rotated
in the connection needs no triggerer restart); a refresh that brings the same credentials ends the
waits with the VendorAuthError.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_jobstatus.core.checks import sane_delay
from airflow_jobstatus.core.models import Job
from airflow_jobstatus.errors import JobNotFoundError, JobStatusError, TransientVendorError
from airflow_jobstatus.http.per_loop import PerLoop
from airflow_jobstatus.triggers.waiting import within

if TYPE_CHECKING:
    from airflow_jobstatus.hooks.base import JobHook, ReadRequest
    from airflow_jobstatus.http.transport_async import AsyncTransport

#: Each event loop's pollers, by (hook path, connection, hook parameters): leased by the waits reading
#: through them (:mod:`airflow_jobstatus.http.per_loop`).
_pollers: PerLoop[tuple[str, str, str], JobPoller] = PerLoop()

#: An ask may be served this share of its delay early, to join a batch.
EARLY_SHARE = 0.5
#: A first read (no delay) waits this long for the waits starting with it, to share their batch.
FIRST_READ_GATHER = 0.05
#: Asks answered in one event-loop iteration (their triggers then run in the next one). A trigger's turn
#: costs 0.1-0.3 ms, so a slice of 5 keeps every iteration short: with 50, 1000 waits at 1 s made the
#: event-loop lag p99 25 ms; with 5, 9-13 ms (benchmarks/RESULTS.md).
DELIVER_AT_ONCE = 5
#: Read calls of one batch in flight at once (the rate budget paces them further).
MAX_CONCURRENT_CALLS = 20


@dataclass
class PollerStats:
    """What a poller did: batches read, HTTP read calls made, job ids asked for (summed over asks), and
    refreshes of its credentials (after a 401/403)."""

    batches: int = 0
    calls: int = 0
    asked: int = 0
    refreshes: int = 0


@dataclass(eq=False)
class _Ask:
    job_ids: tuple[str, ...]
    due: float
    early: float
    answer: asyncio.Future[list[Job]] = field(repr=False)
    read_at: float = 0.0


class JobPoller:
    """Reads jobs for every trigger watching through one connection in one event loop."""

    def __init__(self, hook: JobHook) -> None:
        self.hook = hook
        self.stats = PollerStats()
        self._stack: AsyncExitStack | None = None
        self._transport: AsyncTransport | None = None
        self._opening = asyncio.Lock()
        self._asks: list[_Ask] = []
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()

    @classmethod
    @asynccontextmanager
    async def watch(
        cls, hook_class: type[JobHook], conn_id: str, hook_params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[JobPoller]:
        """Join (or start) the poller of this connection and hook parameters while the block runs."""
        params = dict(hook_params or {})
        hook_path = f"{hook_class.__module__}.{hook_class.__qualname__}"
        key = (hook_path, conn_id, json.dumps(params, sort_keys=True))
        make = lambda: cls(hook_class(conn_id, **params))  # noqa: E731
        async with _pollers.lease(key, make, JobPoller._close) as poller:
            await poller._open()
            yield poller

    async def read(self, job_ids: Sequence[str], delay: float = 0.0) -> list[Job]:
        """The status of these jobs (in the order given), read in a batch due ``delay`` seconds from now.

        The batch may come up to half of ``delay`` early; a first read (``delay`` 0) comes after a few
        milliseconds, with the other waits starting at the same time. Ids the vendor could never accept
        fail at once, before joining a batch; errors of the call that read a job are raised here.
        """
        jobs, _ = await self.read_timed(job_ids, delay)
        return jobs

    async def read_timed(
        self, job_ids: Sequence[str], delay: float = 0.0, since: float | None = None, *, joining: bool = False
    ) -> tuple[list[Job], float]:
        """:meth:`read`, with ``delay`` counted from ``since`` (a ``time.monotonic()`` value, e.g. when the
        previous read was sent) instead of now; also returns when this read was sent, to pass as the next
        ``since``. A steady cadence then does not drift by each read's round trip. ``joining``: the first
        read of a wait, which may come as early as the connection's next batch (any time within
        ``delay``), so that waits starting one after another fall in step at once."""
        ids = tuple(dict.fromkeys(str(job_id) for job_id in job_ids))
        self.hook.read_requests(list(ids))  # a malformed id fails this ask only, before any request
        await self._open()
        delay = sane_delay(delay, fallback=0.0)  # a NaN due time would make the batching loop spin
        due = (time.monotonic() if since is None else since) + (delay or FIRST_READ_GATHER)
        early = delay if joining else delay * EARLY_SHARE
        ask = _Ask(ids, due, early, asyncio.get_running_loop().create_future())
        self._asks.append(ask)
        self.stats.asked += len(ids)
        self._wake.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name=f"jobstatus poller {self.hook.conn_id}")
        try:
            return await ask.answer, ask.read_at
        finally:
            if not ask.answer.done():  # cancelled: leave the batch
                ask.answer.cancel()
                if ask in self._asks:
                    self._asks.remove(ask)

    # --- the batching loop ----------------------------------------------------------------------------
    async def _run(self) -> None:
        while self._asks:
            now = time.monotonic()
            next_due = min(ask.due for ask in self._asks)
            if next_due > now:
                self._wake.clear()
                with suppress(asyncio.TimeoutError):
                    await within(self._wake.wait(), next_due - now)
                continue
            batch = self._take_batch(now)
            task = asyncio.create_task(self._read_batch(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    def _take_batch(self, now: float) -> list[_Ask]:
        """The asks to read now: those due (or nearly), then, where the vendor reads ids in batches, the
        soonest others that fit in the calls already needed (they cost no extra call)."""
        batch = [ask for ask in self._asks if ask.due - ask.early <= now]
        size = self.hook.read_batch_size
        if size > 1:
            taken = set(map(id, batch))
            room = -sum(len(ask.job_ids) for ask in batch) % size
            for ask in sorted((a for a in self._asks if id(a) not in taken), key=lambda a: a.due):
                if len(ask.job_ids) > room:
                    break
                batch.append(ask)
                room -= len(ask.job_ids)
        taken = set(map(id, batch))
        self._asks = [ask for ask in self._asks if id(ask) not in taken]
        for ask in batch:
            ask.read_at = now
        return batch

    async def _read_batch(self, batch: list[_Ask]) -> None:
        live = [ask for ask in batch if not ask.answer.done()]
        wanted = list(dict.fromkeys(job_id for ask in live for job_id in ask.job_ids))
        if not wanted:
            return
        self.stats.batches += 1
        outcome: dict[str, Job | BaseException] = {}
        try:
            await self._open()
            limit = asyncio.Semaphore(MAX_CONCURRENT_CALLS)
            requests = self.hook.read_requests(wanted)
            await asyncio.gather(*(self._read_call(request, limit, outcome) for request in requests))
        except Exception as error:  # nothing may leave a trigger waiting forever
            for job_id in wanted:
                outcome.setdefault(job_id, error)
        for start in range(0, len(live), DELIVER_AT_ONCE):
            if start:
                # Each answered ask wakes its trigger in the next loop iteration: wake them a slice at a
                # time, so that the event loop's other work never waits behind a thousand triggers.
                await asyncio.sleep(0)
            for ask in live[start : start + DELIVER_AT_ONCE]:
                _deliver(ask, outcome, self.hook.missing)

    async def _read_call(
        self, request: ReadRequest, limit: asyncio.Semaphore, outcome: dict[str, Job | BaseException]
    ) -> None:
        transport = self._transport
        assert transport is not None
        async with limit:
            self.stats.calls += 1
            try:
                jobs = await self.hook.aread(request, transport, waiting=True)
            except Exception as error:
                for job_id in request.job_ids:
                    outcome[job_id] = error
                return
            finally:
                self.stats.refreshes = transport.auth.refreshes
        found = {job.id: job for job in jobs}
        missing = [job_id for job_id in request.job_ids if job_id not in found]
        if missing:
            gone = self.hook.missing(missing)
            outcome.update((job_id, gone) for job_id in missing)
        outcome.update((job_id, found[job_id]) for job_id in request.job_ids if job_id in found)

    # --- the connection and session -------------------------------------------------------------
    async def _open(self) -> None:
        async with self._opening:
            if self._transport is not None:
                return
            stack = AsyncExitStack()
            try:
                self._transport = await stack.enter_async_context(self.hook.async_transport(budgeted=True))
            except BaseException:
                await stack.aclose()
                raise
            self._stack = stack

    async def _close(self) -> None:
        for task in [self._runner, *self._batches]:
            if task is not None and not task.done():
                task.cancel()
        stack, self._stack, self._transport = self._stack, None, None
        if stack is not None:
            await stack.aclose()


def _deliver(
    ask: _Ask, outcome: dict[str, Job | BaseException], missing: Callable[[Sequence[str]], JobNotFoundError]
) -> None:
    """Answer one ask with its jobs, or with the most telling error among them. A "not found" names this
    ask's own missing ids only (one show_many call may miss the jobs of many other tasks)."""
    if ask.answer.done():
        return
    answers = [outcome[job_id] for job_id in ask.job_ids]
    gone = [
        job_id
        for job_id, answer in zip(ask.job_ids, answers, strict=True)
        if isinstance(answer, JobNotFoundError)
    ]
    if gone:
        own = missing(gone)
        answers = [own if isinstance(answer, JobNotFoundError) else answer for answer in answers]
    errors = [answer for answer in answers if isinstance(answer, BaseException)]
    if errors:
        ask.answer.set_exception(_most_telling(errors))
    else:
        ask.answer.set_result([answer for answer in answers if isinstance(answer, Job)])


def _most_telling(errors: list[BaseException]) -> BaseException:
    """The error to raise for an ask: one that ends the wait (a permanent error) before a transient one."""
    for error in errors:
        if isinstance(error, JobStatusError) and not isinstance(error, TransientVendorError):
            return error
    return errors[0]


def active_pollers() -> int:
    """How many pollers are open in this process (for tests and benchmarks)."""
    return len(_pollers)


def poller_stats() -> list[tuple[str, PollerStats]]:
    """The connection id and stats of every open poller (for tests and benchmarks)."""
    return [(poller.hook.conn_id, poller.stats) for poller in _pollers.values()]
