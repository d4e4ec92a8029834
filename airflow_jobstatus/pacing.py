"""Client-side pacing: keep a route under a vendor's documented "N requests per T seconds" by waiting."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)


class RequestWindow:
    """Allows at most ``limit`` requests in any ``period`` seconds; :meth:`wait_turn` sleeps until one may go.

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
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Seconds until another request may go (0 when it may go now)."""
        with self._lock:
            return self._delay(self._clock())

    def _delay(self, now: float) -> float:
        while self._sent and self._sent[0] <= now - self.period:
            self._sent.popleft()
        if len(self._sent) < self.limit:
            return 0.0
        return self._sent[0] + self.period - now

    def wait_turn(self) -> float:
        """Block until a request may go, count it as sent, and return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                pause = self._delay(now)
                if pause <= 0:
                    self._sent.append(now)
                    return waited
            log.info(
                "%s are limited to %d per %g s: waiting %.1f s before the next one",
                self.what,
                self.limit,
                self.period,
                pause,
            )
            self._sleep(pause)
            waited += pause
