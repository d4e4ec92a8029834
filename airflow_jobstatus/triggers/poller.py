"""One poller per (hook class, connection, hook parameters, event loop): the HTTP behind every JobTrigger.

Triggers never talk HTTP themselves: each keeps a reader of its jobs on the poller of its connection
(:mod:`airflow_jobstatus.triggers.reader`) and arms one read at a time, saying when it wants it (a
``delay``). A trigger *follows* its jobs: the poller runs the trigger's step function as each answer
arrives, and the step arms the next read or ends the wait (:mod:`airflow_jobstatus.triggers.steps`). The
poller coalesces the reads:

* when the earliest read is due, it takes every read due by then, and every read due within half of its
  own delay (reading a job a little early costs nothing and puts waits in step: after a round or two,
  the waits of one connection with the same interval are read together); where the vendor reads ids in
  batches, it fills the calls it needs anyway with the soonest other reads;
* it reads the union of their job ids once, with the fewest calls the vendor allows (Zendesk's
  ``show_many`` takes 100 ids a call; Wistia and the Trade Desk read one job a call, sent concurrently),
  every call spending the connection's rate budget (:mod:`airflow_jobstatus.http.budget`);
* it hands each reader its own jobs, or the error of the call that read them: a job the vendor does not
  know fails only the waits on that job. A read still under way when its wait's deadline passes
  (retries, a long Retry-After) is answered ``asyncio.TimeoutError`` then.

The cost per read stays flat however many waits a poller serves (10,000 in one event loop, 1 s apart,
benchmarks/RESULTS.md (h)): the queue is a dict of readers scanned once per batch (not per read), the
batching task sleeps on one timer until the earliest due time and is woken only by a read due sooner, a
follower's read allocates nothing that lives until the next one (no task wakes, no future; an unchanged
job is handed out as the same object), so the garbage collector's full collections, which pause the
whole event loop, stay rare. A wait awaits only a plain future: nothing in between can swallow its cancel.

A reader that is cancelled (its trigger ended or was cancelled) leaves the batch. The poller resolves the
connection once (one lookup however many waits start together) and holds a lease on the event loop's
shared HTTP session while any trigger watches through it; when the last one leaves, the poller's tasks
are stopped and the session released, even if that wait is cancelled again meanwhile. Every call of the
poller shares one auth (:mod:`airflow_jobstatus.http.auth`): when the vendor rejects the credentials, the
connection is read again once, under the auth's lock, however many calls were refused at the same time,
and every wait goes on with the new credentials (a token rotated in the connection needs no triggerer
restart); a refresh that brings the same credentials ends the waits with the VendorAuthError.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_jobstatus.core.models import Job
from airflow_jobstatus.http.per_loop import PerLoop
from airflow_jobstatus.triggers.reader import Reader, Step

__all__ = ["JobPoller", "PollerStats", "Reader", "Step", "active_pollers", "poller_stats"]

if TYPE_CHECKING:
    from airflow_jobstatus.hooks.base import JobHook, ReadRequest
    from airflow_jobstatus.http.transport_async import AsyncTransport

#: Each event loop's pollers, by (hook path, connection, hook parameters): leased by the waits reading
#: through them (:mod:`airflow_jobstatus.http.per_loop`).
_pollers: PerLoop[tuple[str, str, str], JobPoller] = PerLoop()

#: Reads answered in one event-loop iteration whose waits are tasks woken by the answer (:meth:`Reader.read`;
#: each runs in the next iteration). A trigger's turn costs 0.1-0.3 ms, so a slice of 5 keeps every
#: iteration short: with 50, 1000 waits at 1 s made the event-loop lag p99 25 ms; with 5, 9-13 ms.
DELIVER_AT_ONCE = 5
#: The longest run of followers' steps (:meth:`Reader.follow`, run inline, ~10 µs each) in one iteration.
DELIVERY_SLICE = 0.002
#: Read calls of one batch in flight at once (the rate budget paces them further).
MAX_CONCURRENT_CALLS = 20

#: Closings of pollers still under way after their last wait was cancelled again (kept from the GC).
_closing: set[asyncio.Task[None]] = set()


@dataclass
class PollerStats:
    """What a poller did: batches read, HTTP read calls made, job ids asked for (summed over asks), and
    refreshes of its credentials (after a 401/403)."""

    batches: int = 0
    calls: int = 0
    asked: int = 0
    refreshes: int = 0


class JobPoller:
    """Reads jobs for every trigger watching through one connection in one event loop."""

    def __init__(self, hook: JobHook) -> None:
        self.hook = hook
        self.stats = PollerStats()
        self._stack: AsyncExitStack | None = None
        self._transport: AsyncTransport | None = None
        self._opening: asyncio.Task[None] | None = None
        self._closed = False
        #: The readers waiting to join a batch (a dict: ordered, and a cancelled one leaves in O(1)).
        self._asks: dict[Reader, None] = {}
        #: The earliest due time among them (at most: a reader that left may have set it).
        self._earliest = math.inf
        self._runner: asyncio.Task[None] | None = None
        #: The runner's sleep until the earliest due time, and when it ends (an earlier ask wakes it).
        self._alarm: asyncio.Future[None] | None = None
        self._alarm_at = math.inf
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

    def reader(self, job_ids: Sequence[str]) -> Reader:
        """A reader of these jobs: ids the vendor could never accept fail here, before any batch."""
        ids = tuple(dict.fromkeys(str(job_id) for job_id in job_ids))
        self.hook.read_requests(list(ids))  # a malformed id fails this wait only, before any request
        return Reader(self, ids)

    async def read(self, job_ids: Sequence[str], delay: float = 0.0) -> list[Job]:
        """The status of these jobs (in the order given), read in a batch due ``delay`` seconds from now
        (see :meth:`Reader.read`)."""
        jobs, _ = await self.reader(job_ids).read(delay)
        return jobs

    async def read_timed(
        self, job_ids: Sequence[str], delay: float = 0.0, since: float | None = None, *, joining: bool = False
    ) -> tuple[list[Job], float]:
        """:meth:`Reader.read` of these jobs (checked at each call: a wait reading the same jobs again and
        again keeps a :meth:`reader`)."""
        return await self.reader(job_ids).read(delay, since, joining=joining)

    # --- the batching loop ----------------------------------------------------------------------------
    def _add(self, reader: Reader) -> None:
        self._asks[reader] = None
        self.stats.asked += len(reader.job_ids)
        if reader.due < self._earliest:
            self._earliest = reader.due
            if reader.due < self._alarm_at and self._alarm is not None and not self._alarm.done():
                self._alarm.set_result(None)  # due sooner than the runner sleeps: it looks again
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name=f"jobstatus poller {self.hook.conn_id}")

    async def _run(self) -> None:
        while self._asks:
            now = time.monotonic()
            if self._earliest > now:
                await self._sleep_until(self._earliest, now)
                continue
            pause = self._budget_pause()
            if pause > 0:  # nothing could be sent yet: let the batch grow meanwhile
                await asyncio.sleep(pause)
                continue
            batch = self._take_batch(now)
            if batch:
                task = asyncio.create_task(self._read_batch(batch))
                self._batches.add(task)
                task.add_done_callback(self._batches.discard)
        self._earliest = math.inf

    def _budget_pause(self) -> float:
        """Seconds until the connection's rate budget lets a read go. The batch is taken only then: a budget
        holding reads back makes fewer, fuller reads (up to the vendor's batch size) instead of many
        small ones, each waiting its turn with the few asks that were due when it was formed."""
        budget = self._transport.budget if self._transport is not None else None
        return budget.ready_in() if budget is not None else 0.0

    async def _sleep_until(self, moment: float, now: float) -> None:
        loop = asyncio.get_running_loop()
        alarm = self._alarm = loop.create_future()
        self._alarm_at = moment
        timer = loop.call_later(moment - now, _ring, alarm)
        try:
            await alarm
        finally:
            timer.cancel()
            self._alarm, self._alarm_at = None, math.inf

    def _take_batch(self, now: float) -> list[Reader]:
        """The asks to read now: those due (or nearly), then, where the vendor reads ids in batches, the
        soonest others that fit in the calls already needed (they cost no extra call). One pass over the
        queue per batch (and a batch takes every ask due within half its delay: a few batches a round)."""
        batch: list[Reader] = []
        rest: list[Reader] = []
        for reader in self._asks:
            (batch if reader.opens <= now else rest).append(reader)
        size = self.hook.read_batch_size
        room = -sum(len(reader.job_ids) for reader in batch) % size if size > 1 else 0
        if room and rest:
            fillers = []
            for reader in heapq.nsmallest(room, rest, key=_due):  # each carries an id at least
                if len(reader.job_ids) > room:
                    break
                fillers.append(reader)
                room -= len(reader.job_ids)
            if fillers:
                batch += fillers
                chosen = set(fillers)
                rest = [reader for reader in rest if reader not in chosen]
        asks = self._asks
        for reader in batch:
            del asks[reader]
            reader.taken = True
            reader.read_at = now
        self._earliest = min(map(_due, rest), default=math.inf)
        return [reader for reader in batch if reader.pending]

    async def _read_batch(self, batch: list[Reader]) -> None:
        wanted = list(dict.fromkeys(job_id for reader in batch for job_id in reader.job_ids))
        self.stats.batches += 1
        outcome: dict[str, Job | BaseException] = {}
        reading = asyncio.create_task(self._read_all(wanted, outcome))
        try:
            await self._until_read(reading, batch)
        finally:
            if not reading.done():  # every ask expired, or the poller closes: its calls stop too
                reading.cancel()
                await asyncio.wait({reading})
        await self._deliver(batch, outcome)

    async def _deliver(self, batch: list[Reader], outcome: dict[str, Job | BaseException]) -> None:
        """Answer the batch's readers, a slice at a time: a slice ends after DELIVER_AT_ONCE woken tasks (each
        runs in the next loop iteration) or DELIVERY_SLICE seconds of steps, so that the event loop's other
        work never waits behind thousands of waits. A reader's read was taken once: each is answered once
        (and one re-armed meanwhile by its step is pending again, for its next batch)."""
        woken, started = 0, time.perf_counter()
        missing = self.hook.missing
        for reader in batch:
            if woken >= DELIVER_AT_ONCE or time.perf_counter() - started > DELIVERY_SLICE:
                await asyncio.sleep(0)
                woken, started = 0, time.perf_counter()
            if reader.taken and reader.pending:
                woken += reader._answer([outcome[job_id] for job_id in reader.job_ids], missing)

    async def _until_read(self, reading: asyncio.Task[None], batch: list[Reader]) -> None:
        """Wait for ``reading``; meanwhile each reader whose deadline passes gets ``asyncio.TimeoutError``.
        (No reader of the batch is answered, so none re-armed, before the read ends.)"""
        while True:
            expiring = min((reader.expires for reader in batch if reader.pending), default=None)
            if expiring is None:
                return  # nobody waits for this read any more
            timeout = None if expiring == math.inf else max(expiring - time.monotonic(), 0.0)
            done, _ = await asyncio.wait({reading}, timeout=timeout)
            if done:
                return
            now = time.monotonic()
            for reader in batch:
                if reader.expires <= now and reader.answer is not None and not reader.answer.done():
                    reader.answer.set_exception(asyncio.TimeoutError())

    async def _read_all(self, wanted: list[str], outcome: dict[str, Job | BaseException]) -> None:
        try:
            await self._open()
            limit = asyncio.Semaphore(MAX_CONCURRENT_CALLS)
            requests = self.hook.read_requests(wanted)
            await asyncio.gather(*(self._read_call(request, limit, outcome) for request in requests))
        except Exception as error:  # nothing may leave a trigger waiting forever
            for job_id in wanted:
                outcome.setdefault(job_id, error)

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
        """Resolve the connection and lease the session, once for every wait that asks at the same time
        (each waits for the one opening; a wait cancelled meanwhile leaves at once)."""
        while self._transport is None:
            if self._closed:
                raise RuntimeError("the poller was closed")  # never: a leased poller is open
            opening = self._opening
            if opening is None or opening.done():
                opening = self._opening = asyncio.create_task(self._open_once())
            await asyncio.wait({opening})
            failure = None if opening.cancelled() else opening.exception()
            if failure is not None:  # every wait that asked meanwhile gets the same error
                raise failure

    async def _open_once(self) -> None:
        stack = AsyncExitStack()
        try:
            transport = await stack.enter_async_context(self.hook.async_transport(budgeted=True))
        except BaseException:
            await stack.aclose()
            raise
        if self._closed:  # the last wait left while the connection was resolved
            await stack.aclose()
            return
        self._stack, self._transport = stack, transport

    async def _close(self) -> None:
        """After the last wait left: stop the poller's tasks and release the session. Done in a task of its
        own, so that a second cancel of the last wait cannot leave the session open."""
        self._closed = True
        tasks = [task for task in (self._opening, self._runner, *self._batches) if task is not None]
        stack, self._stack, self._transport = self._stack, None, None
        closing = asyncio.create_task(_stop_and_close(tasks, stack), name="jobstatus poller close")
        _closing.add(closing)
        closing.add_done_callback(_closing.discard)
        await asyncio.wait({closing})


async def _stop_and_close(tasks: list[asyncio.Task[None]], stack: AsyncExitStack | None) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if stack is not None:
        await stack.aclose()


def _ring(alarm: asyncio.Future[None]) -> None:
    if not alarm.done():
        alarm.set_result(None)


def _due(reader: Reader) -> float:
    return reader.due


def active_pollers() -> int:
    """How many pollers are open in this process (for tests and benchmarks)."""
    return len(_pollers)


def poller_stats() -> list[tuple[str, PollerStats]]:
    """The connection id and stats of every open poller (for tests and benchmarks)."""
    return [(poller.hook.conn_id, poller.stats) for poller in _pollers.values()]
