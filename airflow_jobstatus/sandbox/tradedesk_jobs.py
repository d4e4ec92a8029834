"""The Trade Desk Workflows job store: config knobs, the job model (its status follows the clock), and the
generated result documents (built chunk by chunk, never held whole).

Standard jobs (and the legacy bulk jobs of old SDKs) report a WorkflowStatus ("InProgress", "Success",
"PartialSuccess", "Failure", "ResultsExpired"); GraphQL bulk jobs a BulkJobStatus ("Queued", "InProgress",
"Success", "PartialSuccess", "Failure", "Cancelled").
"""

from __future__ import annotations

import copy
import hashlib
import math
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .ratelimit import SlidingWindow
from .store import VendorStore, timed_status

STANDARD, LEGACY, GRAPHQL = "standard", "legacy", "graphql"
KINDS = (STANDARD, LEGACY, GRAPHQL)
SUCCESS, PARTIAL, FAILURE, CANCELLED = "Success", "PartialSuccess", "Failure", "Cancelled"
RESULT_OUTCOMES = (SUCCESS, PARTIAL)  # the outcomes that leave a result document
RESULTS_EXPIRED = "ResultsExpired"
FIRST_STANDARD_ID = 5_000_001
FIRST_GRAPHQL_ID = 9_000_001
#: Where a Failure or Cancelled job stops (its last completionPercentage).
STOPPED_AT = 60.0
PARTIAL_ERROR = "2 of 40 rows failed: sandbox partial"
FAILURE_ERROR = "Job failed: sandbox failure"
GQL_ERROR = 'Cannot query field "foo" on type "Query"'
RESULTS_PATH = "/tradedesk-results"


@dataclass
class TradeDeskSandboxConfig:
    """Knobs of the emulated Trade Desk account; `reset()` returns to the config the state was built with.

    A job takes `job_seconds`, a GraphQL one "Queued" for the first `queued_fraction` of it. Its result
    document has `result_bytes` bytes and is also sent inline (`rawResult`) up to `raw_result_limit`
    bytes. Results are gone `results_expire_seconds` after completion; a download link answers 403
    `link_seconds` after completion. `snake_case` renders status answers with snake_case keys.
    `requests_per_minute` limits authenticated API requests (429). Downloads are written in chunks of
    `download_chunk` bytes; the next `cut_downloads` downloads stop halfway and hang up. `gzip_downloads`
    serves them compressed (`Content-Encoding: gzip`, the compressed length), as an object store does for
    an object stored compressed, whatever the client asked for.
    """

    api_token: str = "sandbox-ttd-token"
    job_seconds: float = 3.0
    queued_fraction: float = 0.2
    result_bytes: int = 2000
    raw_result_limit: int = 5_000_000
    results_expire_seconds: float = 86400.0
    link_seconds: float = 3600.0
    snake_case: bool = False
    requests_per_minute: int | None = None
    download_chunk: int = 1 << 20
    cut_downloads: int = 0
    gzip_downloads: bool = False


# ----- result documents: {"data":{"rows":[ROW,ROW,...]}} with rows of ROW_BYTES bytes each -----
_HEAD, _TAIL = '{"data":{"rows":[', "]}}"
ROW_BYTES = 100
_ID_AND_VALUE = 58  # the digits of `id` plus the padding of `value`: every row is ROW_BYTES long


def _row(number: int) -> str:
    digits = str(number)
    pad = "x" * (_ID_AND_VALUE - len(digits))
    return f'{{"id":{digits},"name":"row-{number:010d}","value":"{pad}"}}'


def row_count(nbytes: int) -> int:
    """The number of rows of the smallest document of at least `nbytes` bytes."""
    empty = len(_HEAD) + len(_TAIL)
    if nbytes <= empty:
        return 0
    return math.ceil((nbytes - empty + 1) / (ROW_BYTES + 1))


def result_size(nbytes: int) -> int:
    """The exact size of the result document asked to have `nbytes` bytes (at most one row more)."""
    rows = row_count(nbytes)
    return len(_HEAD) + len(_TAIL) + rows * (ROW_BYTES + 1) - (1 if rows else 0)


def iter_result(nbytes: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Yield the result document of `nbytes` bytes in pieces of about `chunk` bytes, each built on the fly."""
    rows = row_count(nbytes)
    if rows == 0:
        yield (_HEAD + _TAIL).encode()
        return
    per_chunk = max(1, chunk // (ROW_BYTES + 1))
    for first in range(1, rows + 1, per_chunk):
        last = min(rows, first + per_chunk - 1)
        text = ",".join(_row(n) for n in range(first, last + 1))
        text = (_HEAD if first == 1 else ",") + text + (_TAIL if last == rows else "")
        yield text.encode()


def result_text(nbytes: int) -> str:
    """The whole result document as text (for the inline `rawResult` of small results)."""
    return b"".join(iter_result(nbytes)).decode()


def result_sha256(nbytes: int) -> str:
    """The hex sha256 of the result document of `nbytes` bytes, computed chunk by chunk."""
    digest = hashlib.sha256()
    for piece in iter_result(nbytes):
        digest.update(piece)
    return digest.hexdigest()


def iso(epoch: float) -> str:
    """Render epoch seconds as ISO-8601 UTC, e.g. "2026-11-23T05:40:00Z"."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----- jobs -----
@dataclass
class TradeDeskJob:
    """One job. `created` is on the state's clock (monotonic), `created_wall` epoch seconds; `key` is the
    random part of its download link; `errors` replaces the default error text(s) of its outcome."""

    id: str
    kind: str
    created: float
    created_wall: float
    duration: float
    queued_for: float
    outcome: str
    result_bytes: int
    key: str
    errors: list[str] | None = None
    unknown_status: str | None = None
    expires_after: float | None = None

    def finished(self, now: float) -> bool:
        """Tell whether the job has reached its outcome at `now`."""
        return now - self.created >= self.duration

    def since_completion(self, now: float) -> float:
        """Seconds since completion (negative while running)."""
        return now - self.created - self.duration

    def expired(self, now: float, config: TradeDeskSandboxConfig) -> bool:
        """Tell whether the job's results are gone at `now`."""
        expires = config.results_expire_seconds if self.expires_after is None else self.expires_after
        return self.since_completion(now) >= expires

    def status_at(self, now: float, config: TradeDeskSandboxConfig) -> str:
        """Return the status the job reports at `now` (`unknown_status`, if set, instead of InProgress)."""
        running = self.unknown_status or "InProgress"
        status = timed_status(now - self.created, self.duration, self.queued_for, running, self.outcome)
        if status == "queued":
            return "Queued"
        if self.kind != GRAPHQL and self.finished(now) and self.expired(now, config):
            return RESULTS_EXPIRED
        return status

    def has_result(self, now: float, config: TradeDeskSandboxConfig) -> bool:
        """Tell whether the result document can be read at `now` (finished with a result, not expired)."""
        return self.outcome in RESULT_OUTCOMES and self.finished(now) and not self.expired(now, config)

    def percentage(self, now: float) -> float | None:
        """`completionPercentage` at `now`: null while queued, rising while running, final at the end."""
        final = 100.0 if self.outcome in RESULT_OUTCOMES else STOPPED_AT
        elapsed = now - self.created
        if self.finished(now):
            return final
        if elapsed < self.queued_for:
            return None
        return round(final * (elapsed - self.queued_for) / (self.duration - self.queued_for), 1)

    def error_texts(self, now: float) -> list[str] | None:
        """The job's (runtime) errors once finished: given ones, or the outcome's default; else None."""
        if not self.finished(now) or self.outcome not in (PARTIAL, FAILURE):
            return None
        if self.errors is not None:
            return list(self.errors)
        return [PARTIAL_ERROR if self.outcome == PARTIAL else FAILURE_ERROR]

    def render(self, now: float, base: str, config: TradeDeskSandboxConfig) -> dict[str, Any]:
        """Return the job as a status answer shows it at `now` (camelCase); `base` is `scheme://host`."""
        done = self.finished(now)
        readable = self.has_result(now, config)
        url = f"{base}{RESULTS_PATH}/{self.id}/{self.key}" if readable else None
        inline = readable and result_size(self.result_bytes) <= config.raw_result_limit
        common = {
            "completionPercentage": self.percentage(now),
            "status": self.status_at(now, config),
            "url": url,
            "rawResult": result_text(self.result_bytes) if inline else None,
        }
        created, completed = iso(self.created_wall), iso(self.created_wall + self.duration) if done else None
        errors = self.error_texts(now)
        if self.kind != GRAPHQL:
            text = None if errors is None else "; ".join(errors)
            head = {"id": int(self.id), "createdAtUtc": created, "completedAtUtc": completed}
            return {**head, **common, "errors": text}
        gql = [GQL_ERROR] if done and self.outcome == FAILURE else None
        head = {"id": self.id, "createdAt": created, "completedAt": completed}
        return {**head, **common, "queryGqlErrors": gql, "runtimeErrors": errors}


@dataclass(frozen=True)
class TradeDeskSubmit:
    """One accepted job-creating request: method, full path, kind ("graphql", "campaign_update", ...),
    its job id (as text) and its body."""

    method: str
    path: str
    kind: str
    job_id: str
    body: Any


class TradeDeskState(VendorStore[TradeDeskSandboxConfig]):
    """The emulated Trade Desk account: config, jobs (by id as text), accepted submits, the job ids whose
    results were downloaded, and the paths of downloads that wrongly carried TTD-Auth (`auth_leaks`)."""

    def clear(self) -> None:
        """Forget every job, submit, download and leak, and clear the rate limit."""
        with self.lock:
            self.jobs: dict[str, TradeDeskJob] = {}
            self.submits: list[TradeDeskSubmit] = []
            self.downloads: list[str] = []
            self.auth_leaks: list[str] = []
            self.rate_window = SlidingWindow(60.0)
            self._next_standard = FIRST_STANDARD_ID
            self._next_graphql = FIRST_GRAPHQL_ID

    def get(self, job_id: str, kind: str | None = None) -> TradeDeskJob | None:
        """Return a job (only of `kind`, when given), or None."""
        with self.lock:
            job = self.jobs.get(job_id)
        return job if job is not None and kind in (None, job.kind) else None

    def hit_rate_limit(self) -> int | None:
        """Count one authenticated request; return the Retry-After seconds when the limit is reached."""
        with self.lock:
            return self.rate_window.hit(self.clock(), self.config.requests_per_minute)

    def create_job(
        self,
        kind: str = STANDARD,
        outcome: str = SUCCESS,
        duration: float | None = None,
        result_bytes: int | None = None,
        errors: str | list[str] | None = None,
        unknown_status: str | None = None,
        expires_after: float | None = None,
    ) -> str:
        """Create a job directly (no submit) and return its id as text. `duration` defaults to
        `job_seconds`, `result_bytes` to the config's; `errors` replaces the outcome's default errors."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        allowed = (SUCCESS, PARTIAL, FAILURE) + ((CANCELLED,) if kind == GRAPHQL else ())
        if outcome not in allowed:
            raise ValueError(f"outcome of a {kind} job must be one of {allowed}, not {outcome!r}")
        if result_bytes is not None and (isinstance(result_bytes, bool) or result_bytes < 0):
            raise ValueError("result_bytes must be a non-negative integer")
        with self.lock:
            config = self.config
            duration = config.job_seconds if duration is None else duration
            if kind == GRAPHQL:
                job_id, self._next_graphql = str(self._next_graphql), self._next_graphql + 1
            else:
                job_id, self._next_standard = str(self._next_standard), self._next_standard + 1
            self.jobs[job_id] = TradeDeskJob(
                id=job_id,
                kind=kind,
                created=self.clock(),
                created_wall=time.time(),
                duration=duration,
                queued_for=duration * config.queued_fraction if kind == GRAPHQL else 0.0,
                outcome=outcome,
                result_bytes=config.result_bytes if result_bytes is None else int(result_bytes),
                key=secrets.token_hex(16),
                errors=[errors] if isinstance(errors, str) else None if errors is None else list(errors),
                unknown_status=unknown_status,
                expires_after=expires_after,
            )
        return job_id

    def submit(
        self, method: str, path: str, kind: str, body: Any, outcome: str, result_bytes: int | None
    ) -> TradeDeskJob:
        """Create the job of an accepted request (a GraphQL job for kind "graphql", else a standard one)
        and record the submit; return the job."""
        job_kind = GRAPHQL if kind == GRAPHQL else STANDARD
        with self.lock:
            job_id = self.create_job(job_kind, outcome, result_bytes=result_bytes)
            self.submits.append(TradeDeskSubmit(method, path, kind, job_id, copy.deepcopy(body)))
            return self.jobs[job_id]
