"""PollCadence: how long to wait before the next status read, paced by the jobs' progress.

The rule (documented in README.md, "How often a wait polls"):

* A job that reports how far it is (Zendesk ``progress``/``total``, the Trade Desk's completion
  percentage) gets an observed rate: the fraction done since this wait first saw it, per second.
  Its time left is then ``(1 - done) / rate``, and the next read comes after half of that time.
* Every other job (no progress reported, no progress observed yet, or progress going backwards) is
  read every ``poll_interval``.
* The wait reads after the shortest delay among its unfinished jobs, never sooner than
  ``poll_interval`` and never later than ``max_poll_interval``.

So a job far from done is read rarely, and reads come closer and closer as it nears completion,
ending at ``poll_interval`` when it is about to finish.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from airflow_jobstatus.core.checks import positive_seconds
from airflow_jobstatus.core.models import Job
from airflow_jobstatus.errors import ConfigurationError

#: ``max_poll_interval`` when none is given: this many times ``poll_interval`` ...
DEFAULT_CEILING_FACTOR = 10.0
#: ... but no more than this many seconds.
DEFAULT_CEILING_CAP = 600.0


def default_max_poll_interval(poll_interval: float) -> float:
    """The ceiling used when a task sets none: 10 x ``poll_interval``, at most 10 minutes (never below
    ``poll_interval``)."""
    return max(poll_interval, min(poll_interval * DEFAULT_CEILING_FACTOR, DEFAULT_CEILING_CAP))


def check_max_poll_interval(poll_interval: float, max_poll_interval: float | None) -> float:
    """``max_poll_interval`` checked against ``poll_interval`` (None: the default ceiling)."""
    if max_poll_interval is None:
        return default_max_poll_interval(poll_interval)
    ceiling = positive_seconds("max_poll_interval", max_poll_interval)
    if not ceiling >= poll_interval:
        raise ConfigurationError(
            f"max_poll_interval ({max_poll_interval}) must be at least poll_interval ({poll_interval}); "
            "set them equal to poll at a fixed interval"
        )
    return ceiling


class PollCadence:
    """Chooses the delay before each next read of one wait's jobs (see the module docstring)."""

    def __init__(self, poll_interval: float, max_poll_interval: float) -> None:
        self.poll_interval = poll_interval
        self.max_poll_interval = max(max_poll_interval, poll_interval)
        self._first_seen: dict[str, tuple[float, float]] = {}

    def next_delay(self, jobs: Sequence[Job], now: float) -> float:
        """Seconds until the next read, given the jobs just read at ``now`` (any clock, in seconds)."""
        if self.max_poll_interval == self.poll_interval:  # a fixed interval: nothing to observe
            return self.poll_interval
        delays = [self._delay_for(job, now) for job in jobs if not job.state.is_terminal]
        wanted = min(delays, default=self.poll_interval)  # each finite: see _delay_for
        return min(max(wanted, self.poll_interval), self.max_poll_interval)

    def _delay_for(self, job: Job, now: float) -> float:
        done = job.fraction_done()
        if done is None or not math.isfinite(now):  # a NaN or infinite clock: nothing to observe from
            return self.poll_interval
        first = self._first_seen.setdefault(job.id, (now, done))
        started, done_then = first
        elapsed = now - started
        if done <= done_then or not elapsed > 0:
            if done < done_then:  # went backwards: start observing again
                self._first_seen[job.id] = (now, done)
            return self.poll_interval
        rate = (done - done_then) / elapsed
        if not (math.isfinite(elapsed) and rate > 0):  # a clock jump beyond float range, or a rate of 0
            return self.poll_interval
        # A rate so small that the time left overflows to infinity: as far from done as a job can be.
        return min((1.0 - done) / rate / 2.0, self.max_poll_interval)
