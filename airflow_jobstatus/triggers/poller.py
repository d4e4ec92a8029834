"""One poller per (hook class, connection, event loop): the HTTP behind every JobTrigger.

Triggers never talk HTTP themselves: they ask the poller of their connection for their jobs. The
poller resolves the connection once, holds a lease on the event loop's shared session for as long
as any trigger watches through it, and reads jobs with the hook's fewest calls. Coalescing the
reads of many triggers into batch calls, and a per-connection rate budget, belong here too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from airflow_jobstatus.models import Job

if TYPE_CHECKING:
    from airflow_jobstatus.hooks.base import JobHook
    from airflow_jobstatus.transport_async import AsyncTransport

_pollers: dict[tuple[asyncio.AbstractEventLoop, str, str, str], JobPoller] = {}


class JobPoller:
    """Reads jobs for every trigger watching through one connection in one event loop."""

    def __init__(self, hook: JobHook) -> None:
        self.hook = hook
        self.watchers = 0
        self._stack: AsyncExitStack | None = None
        self._transport: AsyncTransport | None = None
        self._opening = asyncio.Lock()

    @classmethod
    @asynccontextmanager
    async def watch(
        cls, hook_class: type[JobHook], conn_id: str, hook_params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[JobPoller]:
        """Join (or start) the poller of this connection and hook parameters while the block runs."""
        params = dict(hook_params or {})
        hook_path = f"{hook_class.__module__}.{hook_class.__qualname__}"
        key = (asyncio.get_running_loop(), hook_path, conn_id, json.dumps(params, sort_keys=True))
        poller = _pollers.get(key)
        if poller is None:
            poller = _pollers[key] = cls(hook_class(conn_id, **params))
        poller.watchers += 1
        try:
            await poller._open()
            yield poller
        finally:
            poller.watchers -= 1
            if poller.watchers == 0:
                _pollers.pop(key, None)
                await poller._close()

    async def read(self, job_ids: Sequence[str]) -> list[Job]:
        """The current status of these jobs."""
        await self._open()
        return await self.hook.aget_jobs(job_ids, self._transport)

    async def _open(self) -> None:
        async with self._opening:
            if self._transport is not None:
                return
            stack = AsyncExitStack()
            try:
                self._transport = await stack.enter_async_context(self.hook.async_transport())
            except BaseException:
                await stack.aclose()
                raise
            self._stack = stack

    async def _close(self) -> None:
        stack, self._stack, self._transport = self._stack, None, None
        if stack is not None:
            await stack.aclose()


def active_pollers() -> int:
    """How many pollers are open in this process (for tests and benchmarks)."""
    return len(_pollers)
