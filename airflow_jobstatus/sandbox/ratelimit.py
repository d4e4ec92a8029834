"""Rate-limit helpers (vendor-neutral): a sliding-window counter and Retry-After rendering."""

from __future__ import annotations

import math
from collections import deque


class SlidingWindow:
    """Counts events over the last `period` seconds, for per-minute rate limits."""

    def __init__(self, period: float = 60.0) -> None:
        """Create an empty window of `period` seconds."""
        self.period = period
        self._hits: deque[float] = deque()

    def hit(self, now: float, limit: int | None) -> int | None:
        """Count one event at `now`; if `limit` is already reached, count nothing and return the
        whole seconds to wait (the Retry-After value). Return None when the event is allowed."""
        while self._hits and self._hits[0] <= now - self.period:
            self._hits.popleft()
        if limit is not None and len(self._hits) >= limit:
            return max(1, math.ceil(self._hits[0] + self.period - now))
        self._hits.append(now)
        return None

    def remaining(self, now: float, limit: int) -> int:
        """Return how many more events `limit` allows in the current window."""
        return max(0, limit - sum(1 for t in self._hits if t > now - self.period))

    def frees_in(self, now: float) -> int:
        """Whole seconds until the oldest counted event leaves the window, so one more is allowed
        (0 when the window is empty): what a sliding window can truthfully say in ``ratelimit-reset``."""
        while self._hits and self._hits[0] <= now - self.period:
            self._hits.popleft()
        if not self._hits:
            return 0
        return max(1, math.ceil(self._hits[0] + self.period - now))


def header_value(value: str | float) -> str:
    """Render a header value such as Retry-After; whole numbers lose their `.0`."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
