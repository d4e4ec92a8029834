"""What the triggers of one event loop share, and for how long: one registry type for all of it.

A triggerer runs every trigger in one asyncio event loop; ``dag.test()`` and tests run many loops one
after another. Objects bound to a loop (an aiohttp session, a poller, a lock) must never leak into
another, so each is kept per running loop by a :class:`PerLoop`, with one of two lifetimes:

- **leased** (:meth:`PerLoop.lease`): made by the first user, closed after the last one leaves (the
  shared HTTP session, each connection's poller);
- **kept** (:meth:`PerLoop.get`): made on first use, kept as long as its loop lives (the async Redis
  client of the shared rate budget). The rate budgets themselves are per process, not per loop
  (:mod:`airflow_jobstatus.http.budget`).

A loop that is gone takes its entries with it (the registry holds loops weakly).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Entry(Generic[V]):
    value: V
    leases: int = 0


class PerLoop(Generic[K, V]):
    """Values by key, one set per running event loop (see the module docstring for the lifetimes)."""

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[K, _Entry[V]]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, key: K, make: Callable[[], V]) -> V:
        """The running loop's value for ``key``, made by ``make`` on first use and kept with the loop."""
        _, entry = self._entry(key, make)
        return entry.value

    @asynccontextmanager
    async def lease(
        self, key: K, make: Callable[[], V], close: Callable[[V], Awaitable[None]]
    ) -> AsyncIterator[V]:
        """The running loop's value for ``key`` while the block runs: made by ``make`` for the first lease,
        closed by ``close`` (and forgotten) when the last lease ends."""
        entries, entry = self._entry(key, make)
        entry.leases += 1
        try:
            yield entry.value
        finally:
            entry.leases -= 1
            if entry.leases == 0:
                if entries.get(key) is entry:
                    del entries[key]
                await close(entry.value)

    def _entry(self, key: K, make: Callable[[], V]) -> tuple[dict[K, _Entry[V]], _Entry[V]]:
        """The running loop's entries and the one for ``key`` (made by ``make`` if missing)."""
        entries = self._by_loop.setdefault(asyncio.get_running_loop(), {})
        entry = entries.get(key)
        if entry is None:
            entry = entries[key] = _Entry(make())
        return entries, entry

    def values(self) -> Iterator[V]:
        """Every value held now, in every loop (for stats, tests and benchmarks)."""
        for entries in list(self._by_loop.values()):
            for entry in list(entries.values()):
                yield entry.value

    def __len__(self) -> int:
        """How many values are held now, in every loop."""
        return sum(len(entries) for entries in list(self._by_loop.values()))
