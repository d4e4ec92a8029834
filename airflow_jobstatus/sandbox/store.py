"""What every vendor's sandbox store shares: a config that reset() restores, the lock and the clock."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

C = TypeVar("C")


class VendorStore(Generic[C]):
    """Base of the per-vendor stores (``ZendeskState``, ``WistiaState``): subclasses define :meth:`clear`."""

    def __init__(self, config: C, lock: threading.RLock, clock: Callable[[], float]) -> None:
        """Create an empty store with ``config``; ``lock`` and ``clock`` are shared with ``SandboxState``."""
        self._initial = copy.deepcopy(config)
        self.config: C = copy.deepcopy(config)
        self.lock = lock
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """Restore the initial config and forget everything the store holds."""
        with self.lock:
            self.config = copy.deepcopy(self._initial)
            self.clear()

    def clear(self) -> None:
        """Forget every job and whatever else the vendor store keeps (the config stays)."""
        raise NotImplementedError


def timed_status(elapsed: float, duration: float, queued_for: float, running: str, outcome: str) -> str:
    """A sandbox job's status ``elapsed`` seconds after creation: ``queued`` for ``queued_for`` seconds,
    then ``running`` (the vendor's word), then ``outcome`` once ``duration`` has passed."""
    if elapsed >= duration:
        return outcome
    if elapsed < queued_for:
        return "queued"
    return running
