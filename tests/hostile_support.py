"""What the hostile-vendor tests share: a loop-lag monitor, fast retries, and wait helpers."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_jobstatus.http import transport, transport_async
from airflow_jobstatus.triggers.job import JobTrigger, WaitEvent

ZENDESK_HOOK = "airflow_jobstatus.hooks.zendesk.ZendeskJobHook"
TRADEDESK_HOOK = "airflow_jobstatus.hooks.tradedesk.TradeDeskHook"
WISTIA_HOOK = "airflow_jobstatus.hooks.wistia.WistiaHook"
#: The most an event-loop tick may come late while a hostile answer is handled (generous for 2 busy cores;
#: the failures this guards against froze the loop for seconds or for ever).
MAX_LAG = 0.3


class LoopLag:
    """Measures how late a 10 ms ticker on the running event loop wakes up, while the block runs."""

    def __init__(self, tick: float = 0.01) -> None:
        self.tick = tick
        self.worst = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(self.tick)
            self.worst = max(self.worst, time.monotonic() - started - self.tick)
            self.ticks += 1

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def trigger(
    hook_path: str,
    job_ids: list[str],
    *,
    conn_id: str,
    wait: float = 20.0,
    poll: float = 0.1,
    hook_params: dict[str, Any] | None = None,
) -> JobTrigger:
    """A JobTrigger as an operator would defer with it."""
    return JobTrigger(
        hook_path=hook_path,
        conn_id=conn_id,
        job_ids=job_ids,
        poll_interval=poll,
        deadline=time.time() + wait,
        hook_params=hook_params,
    )


async def wait_for_event(
    job_trigger: JobTrigger, *, within: float = 15.0
) -> tuple[WaitEvent, LoopLag, float]:
    """Run the trigger to its one event (at most ``within`` seconds) with a lag monitor on the loop; the
    event, the monitor and the seconds it took."""
    started = time.monotonic()
    async with LoopLag() as lag:
        events = await asyncio.wait_for(_events(job_trigger), timeout=within)
    assert len(events) == 1
    return WaitEvent.from_payload(events[0].payload), lag, time.monotonic() - started


async def _events(job_trigger: JobTrigger) -> list[Any]:
    return [event async for event in job_trigger.run()]


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reads retry after ~50 ms instead of ~1 s (the same number of attempts), on both transports."""
    quick = functools.partial(transport.RetryPolicy, backoff_base=0.05, backoff_max=0.2)
    monkeypatch.setattr(transport, "RetryPolicy", quick)
    monkeypatch.setattr(transport_async, "RetryPolicy", quick)
    yield
