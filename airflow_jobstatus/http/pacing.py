"""Client-side pacing: keep a route under a vendor's documented "N requests per T seconds" by waiting."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class RequestWindow:
    """Allows at most ``limit`` requests in any ``period`` seconds; :meth:`turn` sleeps until one may go.

    One window per hook and route (e.g. Wistia's media move: 10 requests per 5 minutes), so the vendor
    never has to refuse us; its own 429 stays the backstop for requests made elsewhere on the account.
    """

    def __init__(
        self,
        limit: int,
        period: float,
        *,
        what: str = "requests",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValueError(f"a request window needs limit >= 1 and period > 0, not {limit} per {period}")
        self.limit = limit
        self.period = period
        self.what = what
        self._clock = clock
        self._sleep = sleep
        self._done: deque[float] = deque()
        self._in_flight = 0
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Seconds until another request may go (0 when it may go now)."""
        with self._lock:
            return self._delay(self._clock())

    def _delay(self, now: float) -> float:
        while self._done and self._done[0] <= now - self.period:
            self._done.popleft()
        if len(self._done) + self._in_flight < self.limit:
            return 0.0
        if not self._done:  # every slot is held by a request still in flight
            return self.period
        return self._done[0] + self.period - now

    @contextmanager
    def turn(self) -> Iterator[float]:
        """Wait until a request may go, then hold a slot while the block sends it; yields the seconds waited.

        A request counts from the moment its answer came back: the vendor saw it no later than that, so
        a window counted from there never runs ahead of the vendor's own.
        """
        waited = 0.0
        while True:
            with self._lock:
                pause = self._delay(self._clock())
                if pause <= 0:
                    self._in_flight += 1
                    break
            log.info(
                "%s are limited to %d per %g s: waiting %.1f s before the next one",
                self.what,
                self.limit,
                self.period,
                pause,
            )
            self._sleep(pause)
            waited += pause
        try:
            yield waited
        finally:
            with self._lock:
                self._in_flight -= 1
                self._done.append(self._clock())
