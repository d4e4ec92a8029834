"""The Trade Desk Workflows job models, in either key spelling, and how they become :class:`Job` objects.

Three job kinds share one normalized job: standard jobs (``StandardJobStatusResponse``), legacy bulk
jobs (``BulkJobStatusResponse``, the same fields) and GraphQL bulk query jobs (``GraphQlBulkJob``). The
API sends camelCase keys; the vendor's Python SDK shows them snake_cased: both are accepted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from airflow_jobstatus.core.models import Job, JobState, map_status
from airflow_jobstatus.hooks.base import validated, vendor_parser

VENDOR = "The Trade Desk"
JobKind = Literal["graphql", "standard", "legacy"]
JOB_KINDS: tuple[JobKind, ...] = ("graphql", "standard", "legacy")

#: WorkflowStatus (standard and legacy jobs) and BulkJobStatus (GraphQL jobs) share their words.
STATUS_MAP: dict[str, JobState] = {
    "Queued": JobState.QUEUED,
    "InProgress": JobState.RUNNING,
    "Success": JobState.SUCCEEDED,
    "PartialSuccess": JobState.PARTIAL,
    "Failure": JobState.FAILED,
    "Cancelled": JobState.CANCELLED,
    "ResultsExpired": JobState.EXPIRED,
}


class _EitherSpelling(BaseModel):
    """Accepts ``createdAtUtc`` and ``created_at_utc`` alike; ignores keys it does not know."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", allow_inf_nan=False
    )


class StandardJobStatus(_EitherSpelling):
    """``StandardJobStatusResponse`` (``GET /standardjob/{id}/status``) and the legacy
    ``BulkJobStatusResponse`` (``GET /bulkjob/{id}/status``): ``errors`` is one string."""

    id: int | str
    created_at_utc: datetime
    completed_at_utc: datetime | None = None
    completion_percentage: float | None = None
    status: str
    url: str | None = None
    raw_result: str | None = None
    errors: str | None = None


class GraphQlBulkJob(_EitherSpelling):
    """``GraphQlBulkJob`` (``GET /graphqlbulkjob/{id}``, and the data of a submit's answer)."""

    id: int | str
    created_at: datetime | None = None
    completed_at: datetime | None = None
    completion_percentage: float | None = None
    status: str
    url: str | None = None
    raw_result: str | None = None
    query_gql_errors: list[str] | None = None
    runtime_errors: list[str] | None = None


class GraphQlError(_EitherSpelling):
    """One error of a GraphQL submit's payload."""

    message: str
    field: str | None = None


class GraphQlSubmitPayload(_EitherSpelling):
    """The ``payload`` of ``POST /graphqlbulkqueryjob``: the job, or the errors that prevented it."""

    data: GraphQlBulkJob | None = None
    errors: list[GraphQlError] | None = None


def _job(kind: JobKind, raw: StandardJobStatus | GraphQlBulkJob, errors: list[str]) -> Job:
    created = raw.created_at_utc if isinstance(raw, StandardJobStatus) else raw.created_at
    completed = raw.completed_at_utc if isinstance(raw, StandardJobStatus) else raw.completed_at
    return Job(
        vendor="tradedesk",
        id=str(raw.id),
        state=map_status(VENDOR, STATUS_MAP, raw.status),
        vendor_status=raw.status,
        percent=raw.completion_percentage,
        errors=errors,
        result_url=raw.url,
        raw_result=raw.raw_result,
        created_at=created,
        completed_at=completed,
        extra={"job_kind": kind},
    )


@vendor_parser(VENDOR, "job status")
def parse_standard_job(payload: Any, kind: JobKind = "standard") -> Job:
    """A standard (or legacy, ``kind="legacy"``) job status as a :class:`Job`."""
    raw = validated(StandardJobStatus, payload, VENDOR, "job status", "StandardJobStatusResponse")
    return _job(kind, raw, [raw.errors] if raw.errors else [])


@vendor_parser(VENDOR, "job status")
def parse_graphql_job(payload: Any) -> Job:
    """A GraphQL bulk job, bare or in the status answer's ``{"job": ...}`` envelope."""
    body = payload.get("job", payload) if isinstance(payload, dict) and "job" in payload else payload
    raw = validated(GraphQlBulkJob, body, VENDOR, "GraphQL bulk job", "GraphQlBulkJob")
    return _job("graphql", raw, [*(raw.query_gql_errors or []), *(raw.runtime_errors or [])])


@vendor_parser(VENDOR, "job status")
def parse_job(payload: Any, kind: JobKind) -> Job:
    """A status answer of any job kind as a :class:`Job`."""
    return parse_graphql_job(payload) if kind == "graphql" else parse_standard_job(payload, kind)


@vendor_parser(VENDOR, "submit answer")
def graphql_submit_errors(payload: Any) -> list[str]:
    """The errors of a GraphQL submit's answer that created no job (empty when a job was created)."""
    outer = payload if isinstance(payload, dict) else {}
    inner = validated(GraphQlSubmitPayload, outer.get("payload") or {}, VENDOR, "submit answer", "payload")
    if inner.data is not None:
        return []
    messages = [
        f"{error.field}: {error.message}" if error.field else error.message for error in inner.errors or []
    ]
    if outer.get("errors"):
        messages.append(str(outer["errors"]))
    return messages or ["the answer carries neither a job nor an error"]


def problem_text(payload: Any) -> str | None:
    """An RFC 7807 ProblemDetails body on one line: ``title: detail``."""
    if not isinstance(payload, dict):
        return None
    parts = [str(payload[key]) for key in ("title", "detail") if payload.get(key)]
    return ": ".join(parts) or None
