"""The Wistia job store: config knobs, the job model, how a job's status follows the clock, and the
checks of submitted bodies (pure: they raise `WistiaError`, which the routes answer).

No task moves a job along: `WistiaJob.status_at()` computes the status from the clock each time it is read.
A Wistia job status carries only `id` and `status` ("queued", "started", "finished" or "failed").
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from .ratelimit import SlidingWindow
from .store import VendorStore, timed_status

#: A string in a submitted body (or the path's id) containing this makes the job end "failed".
JOB_FAIL_MARKER = "jobfail"
#: A hashed id containing this is treated as a media that does not exist (`PUT /medias/move` answers 207).
MISSING_MARKER = "missing"
#: The first job id the sandbox hands out; later ones count up from it.
FIRST_JOB_ID = 382476
OUTCOMES = ("finished", "failed")


@dataclass
class WistiaSandboxConfig:
    """Knobs of the emulated Wistia account; `reset()` returns to the config the state was built with.

    `job_seconds` is the time from creation to the final status, the first `queued_fraction` of it
    "queued". `requests_per_minute` limits every authenticated /wistia request (None: no limit), answered
    with `rate_limit_status` (429 or 503), as text/plain when `rate_limit_text`. `PUT /medias/move` allows
    `move_limit` requests per `move_period` seconds and `max_media` hashed ids per request (archive and
    restore too). `media_seconds` is every media's duration (for trims); `missing_media` are hashed ids
    that do not exist.
    """

    api_token: str = "sandbox-wistia-token"
    job_seconds: float = 3.0
    queued_fraction: float = 0.2
    requests_per_minute: int | None = None
    rate_limit_status: int = 429
    rate_limit_text: bool = False
    move_limit: int = 10
    move_period: float = 300.0
    max_media: int = 100
    media_seconds: float = 600.0
    missing_media: set[str] = field(default_factory=set)


@dataclass
class WistiaJob:
    """One background job. `created` is on the state's clock (monotonic)."""

    id: int
    created: float
    duration: float
    queued_for: float
    outcome: str
    unknown_status: str | None = None

    def status_at(self, now: float) -> str:
        """Return the status the job reports at `now` (`unknown_status`, if set, instead of "started")."""
        running = self.unknown_status or "started"
        return timed_status(now - self.created, self.duration, self.queued_for, running, self.outcome)

    def render(self, now: float, as_submitted: bool = False) -> dict[str, Any]:
        """Return the `background_job_status` object as read at `now` (`as_submitted`: as created)."""
        return {"id": self.id, "status": "queued" if as_submitted else self.status_at(now)}


@dataclass(frozen=True)
class WistiaSubmit:
    """One accepted job-creating request: method, path, number of hashed ids (or 1), its job, its body."""

    method: str
    path: str
    count: int
    job_id: int
    body: Any


def contains_marker(value: Any, marker: str = JOB_FAIL_MARKER) -> bool:
    """Tell whether any string inside `value` (nested lists and dict keys/values too) contains `marker`."""
    if isinstance(value, str):
        return marker in value
    if isinstance(value, dict):
        return any(contains_marker(k, marker) or contains_marker(v, marker) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(contains_marker(v, marker) for v in value)
    return False


class WistiaState(VendorStore[WistiaSandboxConfig]):
    """The emulated Wistia account: config knobs, jobs, accepted submits, and the API versions seen."""

    def clear(self) -> None:
        """Forget every job, submit and API version seen, and clear the rate limits."""
        with self.lock:
            self.jobs: dict[int, WistiaJob] = {}
            self.submits: list[WistiaSubmit] = []
            self.api_versions: list[str | None] = []
            self.rate_window = SlidingWindow(60.0)
            self.move_window = SlidingWindow(self.config.move_period)
            self._next_id = FIRST_JOB_ID

    def get(self, job_id: int) -> WistiaJob | None:
        """Return a job, or None when the id is unknown."""
        with self.lock:
            return self.jobs.get(job_id)

    def is_missing(self, hashed_id: str) -> bool:
        """Tell whether a media does not exist (listed in `missing_media`, or its id contains "missing")."""
        with self.lock:
            return hashed_id in self.config.missing_media or MISSING_MARKER in hashed_id

    def hit_account_limit(self) -> int | None:
        """Count one authenticated request; return the Retry-After seconds if the account limit is hit."""
        with self.lock:
            return self.rate_window.hit(self.clock(), self.config.requests_per_minute)

    def hit_move_limit(self) -> int | None:
        """Count one `PUT /medias/move`; return the Retry-After seconds if the move limit is hit."""
        with self.lock:
            self.move_window.period = self.config.move_period
            return self.move_window.hit(self.clock(), self.config.move_limit)

    def add_job(
        self, outcome: str = "finished", duration: float | None = None, unknown_status: str | None = None
    ) -> WistiaJob:
        """Store a new job with the next id and return it."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        with self.lock:
            duration = self.config.job_seconds if duration is None else duration
            job = WistiaJob(
                id=self._next_id,
                created=self.clock(),
                duration=duration,
                queued_for=duration * self.config.queued_fraction,
                outcome=outcome,
                unknown_status=unknown_status,
            )
            self._next_id += 1
            self.jobs[job.id] = job
        return job

    def create_job(
        self, outcome: str = "finished", duration: float | None = None, unknown_status: str | None = None
    ) -> int:
        """Create a job directly (no submit) and return its id; `duration` defaults to `job_seconds`."""
        return self.add_job(outcome=outcome, duration=duration, unknown_status=unknown_status).id

    def submit(self, method: str, path: str, count: int, body: Any, outcome: str) -> WistiaJob:
        """Create the job of an accepted request and record the submit; return the job."""
        with self.lock:
            job = self.add_job(outcome=outcome)
            self.submits.append(WistiaSubmit(method, path, count, job.id, copy.deepcopy(body)))
        return job


# ----- request-body validation (pure; wistia.py turns a WistiaError into its answer) -----
TRIM_FORMAT = "HH:MM:SS.mmm-HH:MM:SS.mmm"
_TRIM_RE = re.compile(r"(\d{2}):([0-5]\d):([0-5]\d)\.(\d{3})-(\d{2}):([0-5]\d):([0-5]\d)\.(\d{3})")


class WistiaError(Exception):
    """A client error answered in Wistia's shape: `{"error": ...}`, or `{"errors": ...}` for a 422."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Keep the HTTP status, the JSON body and any extra headers."""
        super().__init__(str(body))
        self.status = status
        self.body = body
        self.headers = headers or {}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> WistiaError:
    """Return a `{"error": message}` error."""
    return WistiaError(status, {"error": message}, headers)


def invalid(field: str, *messages: str) -> WistiaError:
    """Return a 422 `{"errors": {field: [messages]}}` error."""
    return WistiaError(422, {"errors": {field: list(messages)}})


def required(body: dict[str, Any], name: str) -> Any:
    """Return a required scalar field (a string or an integer); 422 when it is missing, blank or invalid."""
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise invalid(name, "can't be blank")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise invalid(name, "is invalid")
    return value


def optional(body: dict[str, Any], name: str) -> Any:
    """Return an optional scalar field, or None when it is absent or null."""
    return None if body.get(name) is None else required(body, name)


def id_list(body: dict[str, Any], name: str, what: str = "hashed ids") -> list[str]:
    """Return a field that must be a non-empty list of non-empty strings; 422 otherwise."""
    value = body.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise invalid(name, f"must be a non-empty list of {what}")
    return value


def clock_text(seconds: float) -> str:
    """Render seconds as HH:MM:SS.mmm."""
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _ms(h: str, m: str, s: str, frac: str) -> int:
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(frac)


def check_trims(body: dict[str, Any], media_seconds: float) -> None:
    """Validate `trims` (and `keep_trims`); 422 naming every bad entry."""
    trims = body.get("trims")
    if not isinstance(trims, list) or not trims or not all(isinstance(t, str) for t in trims):
        raise invalid("trims", f'must be a non-empty list of "{TRIM_FORMAT}" ranges')
    media_ms, problems = round(media_seconds * 1000), []
    for entry in trims:
        match = _TRIM_RE.fullmatch(entry)
        if match is None:
            problems.append(f"{entry} is not in the format {TRIM_FORMAT}")
            continue
        start, end = _ms(*match.groups()[:4]), _ms(*match.groups()[4:])
        if start >= end:
            problems.append(f"{entry} starts at or after its end")
        elif end > media_ms:
            problems.append(f"{entry} ends after the media ({clock_text(media_seconds)})")
    if problems:
        raise invalid("trims", *problems)
    if body.get("keep_trims") is not None and not isinstance(body["keep_trims"], bool):
        raise invalid("keep_trims", "must be true or false")


def limited_ids(body: dict[str, Any], wistia: WistiaState, verb: str) -> list[str]:
    """Return `hashed_ids`, refusing (422) more than `max_media` of them."""
    ids = id_list(body, "hashed_ids")
    limit = wistia.config.max_media
    if len(ids) > limit:
        raise WistiaError(422, {"errors": [f"You can only {verb} {limit} or less media at one time."]})
    return ids


def period_text(seconds: float) -> str:
    """Render a period in words: "5 minutes", "1 minute", "2 seconds", "0.5 seconds"."""
    count, unit = (seconds / 60, "minute") if seconds >= 60 and seconds % 60 == 0 else (seconds, "second")
    return f"{count:g} {unit}{'' if count == 1 else 's'}"


def check_move_limit(wistia: WistiaState) -> None:
    """Count one move request; 429 with Retry-After beyond `move_limit` per `move_period`."""
    wait = wistia.hit_move_limit()
    if wait is not None:
        config = wistia.config
        message = (
            f"Rate limit exceeded for media moves: {config.move_limit} requests per "
            f"{period_text(config.move_period)}"
        )
        raise error(429, message, {"Retry-After": str(wait)})
