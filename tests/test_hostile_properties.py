"""Property-based tests (hypothesis): whatever a vendor sends and whatever a task is given, every parser and
every argument check gives a value of its documented type or raises one of our named errors, never a
foreign exception; the values that come back keep their invariants (finite percentages, ids of 1-128
characters, sane delays).

Vendor answers are arbitrary JSON (with the huge integers, NaN/Infinity and odd strings a hostile server
could send) and near-valid payloads: the documented examples of the parsing tests with fields replaced by
arbitrary values or removed.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_tradedesk_parsing import GRAPHQL_CAMEL, GRAPHQL_FULL_CAMEL, STANDARD_CAMEL, STANDARD_SNAKE
from test_wistia_parsing import SEED_TAGGING, SEED_TRIM
from test_zendesk_parsing import BARE_COMPLETED, ENVELOPED_COMPLETED

from airflow_jobstatus.core import checks
from airflow_jobstatus.core.models import ItemResult, Job, JobState
from airflow_jobstatus.core.result_location import MAX_PART_CHARS, path_part
from airflow_jobstatus.core.results import check_inline_limit
from airflow_jobstatus.errors import (
    ConfigurationError,
    JobStatusError,
    PermanentVendorError,
    TransientVendorError,
    VendorResponseError,
)
from airflow_jobstatus.hooks import tradedesk_models, wistia, zendesk
from airflow_jobstatus.hooks.base import JobHook, ReadRequest
from airflow_jobstatus.hooks.tradedesk import TradeDeskHook
from airflow_jobstatus.hooks.tradedesk_submits import STANDARD_JOBS, as_payload, check_payload, check_query
from airflow_jobstatus.hooks.wistia import WistiaHook
from airflow_jobstatus.hooks.wistia_calls import (
    bulk_tag_call,
    check_hashed_ids,
    check_id,
    check_texts,
    check_trims,
    check_url,
)
from airflow_jobstatus.hooks.zendesk import ZendeskJobHook
from airflow_jobstatus.hooks.zendesk_bulk import BULK_ACTIONS, build_request, item_key
from airflow_jobstatus.http.budget import requests_per_minute
from airflow_jobstatus.http.transport import MAX_RETRY_AFTER, ApiTarget, interpret_response, parse_retry_after
from airflow_jobstatus.job_task import rendered_list
from airflow_jobstatus.sensors.base import parse_job_ids
from airflow_jobstatus.triggers.cadence import PollCadence

#: (No example database: the work tree stays clean; a failure prints its example, to be added with @example.)
PROPERTY = settings(
    max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
FEWER = settings(PROPERTY, max_examples=150)

# --- what a vendor could send ----------------------------------------------------------------------
#: Integers beyond int64 and float range (JSON has no limit; Python's reader stops at 4300 digits).
HUGE_INTS = [2**63, -(2**63) - 1, 2**64, 10**400, -(10**400), 10**4000]
ODD_TEXTS = [
    "",
    " ",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "inf",
    "1e999",
    "-0",
    "../x",
    "..",
    ".",
    "a/b",
    "1?x=1#",
    "a\r\nb",
    "\r\n",
    "\x00",
    "\u202e",
    "٣",
    "null",
    "[]",
    "{}",
    "2026-11-23T05:40:00Z",
    "9" * 200,
    "x" * 129,
]
#: Field names the parsers look for, so that arbitrary objects often carry them.
KNOWN_KEYS = [
    "id",
    "status",
    "job_status",
    "job_statuses",
    "results",
    "progress",
    "total",
    "url",
    "message",
    "index",
    "success",
    "error",
    "errors",
    "details",
    "background_job_status",
    "partial_errors",
    "media_id",
    "job",
    "payload",
    "data",
    "createdAtUtc",
    "createdAt",
    "completionPercentage",
    "completion_percentage",
    "rawResult",
    "queryGqlErrors",
    "runtimeErrors",
    "title",
    "detail",
    "field",
]
STATUS_WORDS = [
    *zendesk.STATUS_MAP,
    *wistia.STATUS_MAP,
    *tradedesk_models.STATUS_MAP,
    "COMPLETED",
    "paused-hostile-test",
]

texts = st.one_of(st.sampled_from(ODD_TEXTS), st.text(max_size=20), st.sampled_from(STATUS_WORDS))
integers = st.one_of(st.integers(), st.integers(-3, 200), st.sampled_from(HUGE_INTS))
floats = st.floats(allow_nan=True, allow_infinity=True)
scalars = st.one_of(st.none(), st.booleans(), integers, floats, texts)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)),
    max_leaves=15,
)


def field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A documented value most of the time, anything now and then."""
    return st.one_of(valid, valid, json_values)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, child in children:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with a few of its fields (at any depth) replaced by arbitrary values or removed."""
    doc = copy.deepcopy(document)
    paths = list(_paths(doc))
    for path in draw(st.lists(st.sampled_from(paths), max_size=3, unique=True)) if paths else []:
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):  # an earlier change removed or replaced the path
            continue
    return doc


# Zendesk
zendesk_item = st.fixed_dictionaries(
    {},
    optional={
        "index": field(st.integers(0, 100)),
        "id": field(st.integers(1, 10**12)),
        "success": field(st.booleans()),
        "action": field(st.sampled_from(["update", "create"])),
        "status": field(st.sampled_from(["Updated", "Created"])),
        "error": field(st.sampled_from(["RecordInvalid", ""])),
        "errors": field(st.sampled_from(["", "TicketUpdateFailed"])),
        "details": field(st.text(max_size=10)),
        "email": field(st.text(max_size=10)),
    },
)
zendesk_status = st.fixed_dictionaries(
    {"id": field(st.text("0123456789abcdef", min_size=1, max_size=32)), "status": field(texts)},
    optional={
        "url": field(st.none() | st.text(max_size=10)),
        "total": field(st.none() | st.integers(0, 1000)),
        "progress": field(st.none() | st.integers(0, 1000)),
        "message": field(st.none() | st.text(max_size=10)),
        "results": field(st.none() | zendesk_item | st.lists(zendesk_item, max_size=4)),
        "job_type": field(st.text(max_size=10)),
    },
)
zendesk_payloads = st.one_of(
    json_values,
    zendesk_status,
    st.builds(lambda status: {"job_status": status}, zendesk_status),
    st.builds(lambda statuses: {"job_statuses": statuses}, st.lists(zendesk_status, max_size=3)),
    mutated(BARE_COMPLETED),
    mutated(ENVELOPED_COMPLETED),
    mutated({"job_statuses": [BARE_COMPLETED, ENVELOPED_COMPLETED["job_status"]]}),
)

# Wistia
wistia_status = st.fixed_dictionaries(
    {"id": field(st.integers(1, 10**9) | st.text(max_size=10)), "status": field(texts)}
)
wistia_payloads = st.one_of(
    json_values,
    wistia_status,
    st.fixed_dictionaries(
        {"background_job_status": field(wistia_status)},
        optional={
            "message": field(st.text(max_size=10)),
            "partial_errors": field(
                st.lists(
                    st.fixed_dictionaries(
                        {"media_id": field(st.text(max_size=8)), "error": field(st.text(max_size=8))}
                    ),
                    max_size=3,
                )
            ),
            "destination": json_values,
        },
    ),
    mutated({"background_job_status": SEED_TAGGING, "message": "Tagging 2 media"}),
    mutated({"background_job_status": SEED_TRIM, "partial_errors": [{"media_id": "g1", "error": "gone"}]}),
    mutated({"errors": {"trims": ["is invalid"]}, "error": "Invalid credentials."}),
)

# The Trade Desk
dates = st.one_of(st.datetimes().map(lambda d: d.isoformat() + "Z"), st.sampled_from(ODD_TEXTS))
standard_status = st.fixed_dictionaries(
    {
        "id": field(st.integers(1, 10**9) | st.text(max_size=10)),
        "createdAtUtc": field(dates),
        "status": field(texts),
    },
    optional={
        "completedAtUtc": field(st.none() | dates),
        "completionPercentage": field(st.none() | st.floats(-10, 110)),
        "url": field(st.none() | st.text(max_size=10)),
        "rawResult": field(st.none() | st.text(max_size=10)),
        "errors": field(st.none() | st.text(max_size=10)),
    },
)
graphql_job = st.fixed_dictionaries(
    {"id": field(st.integers(1, 10**9) | st.text(max_size=10)), "status": field(texts)},
    optional={
        "createdAt": field(st.none() | dates),
        "completedAt": field(st.none() | dates),
        "completionPercentage": field(st.none() | st.floats(-10, 110)),
        "queryGqlErrors": field(st.none() | st.lists(st.text(max_size=5), max_size=2)),
        "runtimeErrors": field(st.none() | st.lists(st.text(max_size=5), max_size=2)),
    },
)
graphql_errors = st.lists(
    st.fixed_dictionaries(
        {"message": field(st.text(max_size=8))}, optional={"field": field(st.text(max_size=8))}
    ),
    max_size=3,
)
tradedesk_payloads = st.one_of(
    json_values,
    standard_status,
    graphql_job,
    st.fixed_dictionaries({"job": field(graphql_job)}, optional={"errors": json_values}),
    st.fixed_dictionaries(
        {"payload": field(st.fixed_dictionaries({"data": field(st.none() | graphql_job)}))},
        optional={"errors": json_values},
    ),
    st.fixed_dictionaries(
        {"payload": st.fixed_dictionaries({"data": st.none(), "errors": field(graphql_errors)})},
        optional={"errors": json_values},
    ),
    mutated(STANDARD_CAMEL),
    mutated(STANDARD_SNAKE),
    mutated({"job": GRAPHQL_CAMEL, "errors": None}),
    mutated(GRAPHQL_FULL_CAMEL),
    mutated({"payload": {"data": GRAPHQL_CAMEL, "errors": None}, "errors": None}),
    mutated({"type": "about:blank", "title": "Bad Request", "detail": "advertiserId is required"}),
)
any_payload = st.one_of(zendesk_payloads, wistia_payloads, tradedesk_payloads)


@pytest.fixture(autouse=True, scope="module")
def _quiet_unknown_statuses() -> Iterator[None]:
    """Each new status word logs one warning: thousands of them would only slow the run down."""
    logger = logging.getLogger("airflow_jobstatus.core.models")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


# --- invariants --------------------------------------------------------------------------------------
def check_item(item: Any) -> None:
    assert isinstance(item, ItemResult)
    assert item.index is None or (isinstance(item.index, int) and not isinstance(item.index, bool))
    assert item.id is None or isinstance(item.id, str) or (type(item.id) is int)
    assert isinstance(item.success, bool)
    for text in (item.action, item.status, item.error, item.details):
        assert text is None or isinstance(text, str)
    assert isinstance(item.extra, dict) and all(isinstance(key, str) for key in item.extra)
    assert isinstance(item.describe(), str)


def check_job(job: Any) -> None:
    assert isinstance(job, Job)
    assert isinstance(job.id, str) and 1 <= len(job.id) <= 128
    assert isinstance(job.state, JobState) and isinstance(job.vendor_status, str)
    assert job.percent is None or (math.isfinite(job.percent) and 0.0 <= job.percent <= 100.0)
    for count in (job.progress, job.total):
        assert count is None or (type(count) is int and count >= 0)
    assert all(isinstance(error, str) for error in job.errors)
    for item in job.results:
        check_item(item)
    assert isinstance(job.progress_text(), str)
    check_job_slim(job.for_waiting())


def check_job_slim(job: Job) -> None:
    assert all(not item.success for item in job.results) and job.raw_result is None


def check_jobs(jobs: Any) -> None:
    assert isinstance(jobs, list)
    for job in jobs:
        check_job(job)


def vendor_result(parse: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``parse(...)``'s result, or None when it raised VendorResponseError; any other exception fails."""
    try:
        return parse(*args, **kwargs)
    except VendorResponseError:
        return None


def checked_result(check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``check(...)``'s result, or None when it raised ConfigurationError; any other exception fails."""
    try:
        return check(*args, **kwargs)
    except ConfigurationError:
        return None


def assert_text_or_none(value: Any) -> None:
    assert value is None or isinstance(value, str)


# --- 1. vendor parsers --------------------------------------------------------------------------------
@PROPERTY
@given(payload=zendesk_payloads, succeeded_items=st.booleans())
@example(
    payload={"id": "a", "status": "working", "progress": 10**400, "total": 10**400 + 1}, succeeded_items=True
)
@example(payload={"id": "a", "status": "completed", "results": [{"id": 1.5}]}, succeeded_items=True)
def test_zendesk_parse_job_gives_a_job_or_a_vendor_response_error(
    payload: Any, succeeded_items: bool
) -> None:
    job = vendor_result(zendesk.parse_job, payload, succeeded_items=succeeded_items)
    if job is not None:
        check_job(job)
        if not succeeded_items:
            assert all(not item.success for item in job.results)
    jobs = vendor_result(zendesk.parse_jobs_payload, payload, succeeded_items=succeeded_items)
    if jobs is not None:
        check_jobs(jobs)


@PROPERTY
@given(results=st.one_of(json_values, zendesk_item, st.lists(zendesk_item, max_size=4)))
@example(results={"action": 5, "index": True, "id": 1.5})
@example(results=[{"status": ["x"], "details": {"a": 1}}])
def test_zendesk_raw_items_and_parse_item(results: Any) -> None:
    entries = vendor_result(zendesk.raw_items, results)
    if entries is None:
        return
    assert isinstance(entries, list) and all(isinstance(entry, dict) for entry in entries)
    for entry in entries:
        item = vendor_result(zendesk.parse_item, entry)
        if item is not None:
            check_item(item)


@PROPERTY
@given(payload=wistia_payloads)
@example(payload={"id": 1, "status": "queued", "partial_errors": 5})
@example(payload={"background_job_status": {"id": 10**400, "status": "queued"}})
def test_wistia_parse_job_and_error_text(payload: Any) -> None:
    job = vendor_result(wistia.parse_job, payload)
    if job is not None:
        check_job(job)
    assert_text_or_none(wistia.error_text(payload))


@PROPERTY
@given(payload=tradedesk_payloads, kind=st.sampled_from(tradedesk_models.JOB_KINDS))
@example(payload={**STANDARD_CAMEL, "completionPercentage": 10**400}, kind="standard")
@example(payload={**GRAPHQL_CAMEL, "completionPercentage": float("nan")}, kind="graphql")
def test_tradedesk_parsers(payload: Any, kind: tradedesk_models.JobKind) -> None:
    job = vendor_result(tradedesk_models.parse_job, payload, kind)
    if job is not None:
        check_job(job)
        assert job.extra == {"job_kind": kind}
    errors = vendor_result(tradedesk_models.graphql_submit_errors, payload)
    if errors is not None:
        assert isinstance(errors, list) and all(isinstance(error, str) for error in errors)
    assert_text_or_none(tradedesk_models.problem_text(payload))


HOOKS: list[JobHook] = [
    ZendeskJobHook(),
    WistiaHook(),
    *(TradeDeskHook(job_kind=kind) for kind in tradedesk_models.JOB_KINDS),
]


@PROPERTY
@given(payload=any_payload, hook=st.sampled_from(HOOKS))
def test_every_hook_parses_any_answer_into_jobs_or_a_named_error(payload: Any, hook: JobHook) -> None:
    request = ReadRequest(("1",), "/status/1")
    for parse in (hook.parse_jobs, hook.parse_jobs_for_wait):
        try:
            jobs = parse(request, payload)
        except VendorResponseError:
            continue
        except PermanentVendorError as error:
            # A GraphQL status answer whose job is null: the vendor's own "no job", not a shape error.
            graphql_no_job = isinstance(payload, dict) and payload.get("job") is None
            assert getattr(hook, "job_kind", None) == "graphql" and graphql_no_job, error
            continue
        check_jobs(jobs)  # an empty list is fine: the hook reports the jobs it asked for as missing
    assert_text_or_none(hook.error_detail(payload))


class _Answers:
    """A transport that answers every request with ``payload`` (what a submit reads back)."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def request_json(self, *args: Any, **kwargs: Any) -> Any:
        return self.payload


def _with_answer(hook: JobHook, payload: Any) -> JobHook:
    hook._sync = _Answers(payload)  # type: ignore[assignment]
    return hook


SUBMITS: dict[str, Callable[[Any], Job]] = {
    "zendesk bulk": lambda p: _with_answer(ZendeskJobHook(), p).submit_bulk(  # type: ignore[attr-defined]
        "tickets", "destroy_many", [1, 2]
    ),
    "wistia call": lambda p: _with_answer(WistiaHook(), p).submit(  # type: ignore[attr-defined]
        bulk_tag_call(["a1"], ["t"])
    ),
    "tradedesk graphql": lambda p: _with_answer(TradeDeskHook(), p).submit_graphql_query(  # type: ignore[attr-defined]
        "query { x }"
    ),
    "tradedesk standard": lambda p: _with_answer(TradeDeskHook(), p).submit_standard_job(  # type: ignore[attr-defined]
        "first_party_data", {"advertiserId": "adv1"}
    ),
}


@FEWER
@given(
    payload=st.one_of(any_payload, st.fixed_dictionaries({"id": json_values})),
    submit=st.sampled_from(sorted(SUBMITS)),
)
@example(payload={"id": ""}, submit="tradedesk standard")
@example(payload={"id": "x" * 129}, submit="tradedesk standard")
def test_every_submit_answer_gives_a_job_or_a_named_error(payload: Any, submit: str) -> None:
    try:
        job = SUBMITS[submit](payload)
    except JobStatusError:
        return
    check_job(job)


# --- 2. the transport's reading of any HTTP answer ---------------------------------------------------
TARGET = ApiTarget(
    vendor="Hostile",
    conn_id="hostile_default",
    base_url="https://api.example.com",
    headers={"Authorization": "Bearer secret-token-123"},
    secrets=("Bearer secret-token-123", "secret-token-123"),
)
retry_after_values = st.one_of(
    st.text(max_size=40),
    floats.map(str),
    integers.map(str),
    st.datetimes().map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")),
    st.sampled_from(["Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "1e309", " 5 ", "-1"]),
)
header_dicts = st.dictionaries(
    st.one_of(st.sampled_from(["Retry-After", "Location", "Content-Type"]), st.text(max_size=10)),
    st.one_of(retry_after_values, st.text(max_size=20)),
    max_size=4,
)
nested = st.integers(0, 100_000).map(lambda n: b"[" * n + b"]" * n)
bodies = st.one_of(
    st.binary(max_size=200),
    nested,
    st.integers(0, 100_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(0, 5000).map(lambda n: b"[" * n),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.sampled_from(
        [b'{"x": NaN}', b"[Infinity]", b"-Infinity", b"1" * 5000, b"\xff\xfe{", b"secret-token-123"]
    ),
)


def _no_non_finite_floats(value: Any) -> bool:
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, float) and not math.isfinite(current):
            return False
        if isinstance(current, dict):
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
    return True


@PROPERTY
@given(status=st.integers(100, 599), headers=header_dicts, body=bodies)
@example(status=429, headers={"Retry-After": "nan"}, body=b"")
@example(status=503, headers={"Retry-After": "1e999"}, body=b"[" * 100_000 + b"]" * 100_000)
@example(status=200, headers={}, body=b"[" * 100_000 + b"]" * 100_000)
def test_interpret_response_returns_json_or_raises_a_named_error(
    status: int, headers: dict[str, str], body: bytes
) -> None:
    try:
        payload = interpret_response(
            TARGET, "GET", "https://api.example.com/x?token=1", status, headers, body
        )
    except TransientVendorError as error:
        if error.retry_after is not None:
            assert math.isfinite(error.retry_after) and 0.0 <= error.retry_after <= MAX_RETRY_AFTER
        assert "secret-token-123" not in str(error)
        return
    except JobStatusError as error:
        assert "secret-token-123" not in str(error)
        return
    assert 200 <= status < 300
    assert _no_non_finite_floats(payload)


@PROPERTY
@given(value=st.one_of(st.none(), retry_after_values), now=st.none() | floats)
def test_parse_retry_after_is_none_or_a_sane_number(value: str | None, now: float | None) -> None:
    seconds = parse_retry_after(value, now)
    assert seconds is None or (
        isinstance(seconds, float) and math.isfinite(seconds) and 0.0 <= seconds <= MAX_RETRY_AFTER
    )


# --- 3. argument checks --------------------------------------------------------------------------------
#: What a task argument, a rendered template or a connection extra could hold.
#: (Integers of more than 4300 digits, which cannot even be printed, are in test_unprintable_integers:
#: hypothesis cannot show a strategy or an example holding one.)
ARG_HUGE_INTS = HUGE_INTS
arg_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-5, 5),
    st.sampled_from(ARG_HUGE_INTS),
    floats,
    texts,
    st.sampled_from(["30", " 5 ", "1e308", "-1", "0", "5.5", "0x10", "1_000", "9" * 5000]),
    st.timedeltas(),
)
args = st.recursive(
    arg_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@PROPERTY
@given(value=args, maximum=st.sampled_from([checks.MAX_SECONDS, 1.0, 3600.0]))
def test_number_checks(value: Any, maximum: float) -> None:
    number = checked_result(checks.finite_number, "x", value)
    if number is not None:
        assert type(number) is float and math.isfinite(number)
    seconds = checked_result(checks.positive_seconds, "x", value, maximum=maximum)
    if seconds is not None:
        assert type(seconds) is float and 0.0 < seconds <= maximum


@PROPERTY
@given(value=args, minimum=st.integers(-5, 5), maximum=st.none() | st.integers(5, 10**6))
def test_whole_number(value: Any, minimum: int, maximum: int | None) -> None:
    number = checked_result(checks.whole_number, "x", value, minimum=minimum, maximum=maximum)
    if number is not None:
        assert type(number) is int and number >= minimum and (maximum is None or number <= maximum)


@PROPERTY
@given(value=args, pattern=st.sampled_from([checks.SAFE_JOB_ID, checks.DIGITS_JOB_ID]))
@example(value="../../users/me", pattern=checks.SAFE_JOB_ID)
def test_check_job_id(value: Any, pattern: re.Pattern[str]) -> None:
    job_id = checked_result(checks.check_job_id, "V", value, pattern)
    if job_id is not None:
        assert isinstance(job_id, str) and 1 <= len(job_id) <= checks.MAX_JOB_ID_CHARS
        assert pattern.fullmatch(job_id)


numbers = st.one_of(st.none(), floats, st.integers(), st.sampled_from(ARG_HUGE_INTS))


@PROPERTY
@given(seconds=numbers, fallback=numbers.filter(lambda n: n is not None), ceiling=floats)
@example(seconds=10**400, fallback=1.0, ceiling=10.0)
@example(seconds=None, fallback=float("nan"), ceiling=10.0)
@example(seconds=5.0, fallback=1.0, ceiling=float("nan"))
def test_sane_delay_is_always_a_finite_delay_within_its_ceiling(
    seconds: float | None, fallback: float, ceiling: float
) -> None:
    delay = checks.sane_delay(seconds, fallback=fallback, ceiling=ceiling)
    assert type(delay) is float and math.isfinite(delay) and delay >= 0.0
    assert delay <= ceiling or not ceiling >= 0.0  # a NaN or negative ceiling: no wait (0)
    if not ceiling >= 0.0:
        assert delay == 0.0


rendered_texts = st.one_of(
    st.builds(lambda inner: f"[{inner}]", st.text(max_size=20)),
    json_values.map(repr),
    json_values.map(lambda value: json.dumps(value)),
    st.sampled_from(
        ["[{[]: 1}]", "[{1, []}]", "[" * 100_000, "(" * 1000, "[1" + "0" * 5000 + "]", "a, b,, c"]
    ),
)


@PROPERTY
@given(value=st.one_of(args, rendered_texts))
@example(value="[{[]: 1}]")
def test_parse_job_ids(value: Any) -> None:
    ids = checked_result(parse_job_ids, value)
    if ids is not None:
        assert isinstance(ids, list) and ids
        assert all(isinstance(job_id, str) and job_id and job_id == job_id.strip() for job_id in ids)


@PROPERTY
@given(value=st.one_of(args, rendered_texts))
@example(value="{[]: 1}")
def test_rendered_list(value: Any) -> None:
    try:
        result = rendered_list(value, "items")
    except ConfigurationError:
        assert isinstance(value, str)
        return
    if not isinstance(value, str):
        assert result is value


@PROPERTY
@given(value=args)
@example(value=float("inf"))
def test_check_inline_limit(value: Any) -> None:
    limit = checked_result(check_inline_limit, value)
    if limit is not None:
        assert type(limit) is int and limit >= 0


@PROPERTY
@given(value=args)
@example(value=10**400)
@example(value="1e999")
def test_requests_per_minute(value: Any) -> None:
    rate = checked_result(requests_per_minute, {"requests_per_minute": value}, "c", 100.0)
    if rate is not None:
        assert isinstance(rate, float) and math.isfinite(rate) and rate > 0


def _check_part(part: Any) -> None:
    assert isinstance(part, str) and part not in (".", "..") and "/" not in part
    assert 1 <= len(part) <= MAX_PART_CHARS


@PROPERTY
@given(value=st.one_of(args, st.text(), st.text(".", max_size=3)))
@example(value="..")
@example(value="../" * 50)
def test_path_part(value: Any) -> None:
    _check_part(path_part(value))


@PROPERTY
@given(first=st.text(min_size=MAX_PART_CHARS + 1), second=st.text(min_size=MAX_PART_CHARS + 1))
@example(first="a" * 200, second="a" * 199 + "b")
@example(first="/" * 101, second="." * 101)
def test_two_long_path_parts_never_share_a_file(first: str, second: str) -> None:
    if first != second:
        assert path_part(first) != path_part(second)


def test_two_unprintable_integers_never_share_a_file() -> None:
    """Integers too long for str() (same length, one apart) still give two parts."""
    assert path_part(10**5000) != path_part(10**5000 + 1)
    _check_part(path_part(10**5000))


# The other argument checks of the job-creating calls (Wistia, Zendesk bulk, Trade Desk standard jobs).
@FEWER
@given(value=st.one_of(args, rendered_texts))
@example(value="http://[")
@example(value="[" * 100_000)
@example(value="9" * 5000)
def test_submit_argument_checks(value: Any) -> None:
    for check in (
        lambda v: check_id(v, "folder_id"),
        check_hashed_ids,
        lambda v: check_texts(v, "tag_names"),
        check_trims,
        check_url,
        as_payload,
        check_query,
        lambda v: check_payload(STANDARD_JOBS["campaign_update"], {"input": v}),
        lambda v: check_payload(STANDARD_JOBS["first_party_data"], {"advertiserId": v}),
    ):
        checked_result(check, value)
    for action in BULK_ACTIONS.values():
        items = value if isinstance(value, list) else [value]
        request = checked_result(
            build_request, action, items, target_id=7 if action.action == "merge" else None
        )
        if request is not None:
            for item in items:
                key = item_key(action, item)
                assert key is None or isinstance(key, int | str)


#: Every argument check, as one-argument functions (for integers too long to print).
ARGUMENT_CHECKS: dict[str, Callable[[Any], Any]] = {
    "finite_number": lambda v: checks.finite_number("x", v),
    "positive_seconds": lambda v: checks.positive_seconds("x", v),
    "whole_number": lambda v: checks.whole_number("x", v, minimum=1, maximum=100),
    "whole_number unbounded": lambda v: checks.whole_number("x", v, minimum=1),
    "check_job_id": lambda v: checks.check_job_id("V", v, checks.DIGITS_JOB_ID),
    "sane_delay": lambda v: checks.sane_delay(v, fallback=1.0),
    "parse_job_ids": parse_job_ids,
    "parse_job_ids list": lambda v: parse_job_ids([v, None]),
    "rendered_list": lambda v: rendered_list(v, "items"),
    "check_inline_limit": check_inline_limit,
    "requests_per_minute": lambda v: requests_per_minute({"requests_per_minute": v}, "c", 100.0),
    "path_part": path_part,
    "wistia check_id": lambda v: check_id(v, "folder_id"),
    "wistia check_url": check_url,
    "zendesk bulk ids": lambda v: build_request(BULK_ACTIONS["tickets", "destroy_many"], [v]),
    "zendesk bulk id text": lambda v: build_request(BULK_ACTIONS["tickets", "destroy_many"], ["9" * 5000]),
    "tradedesk payload": lambda v: check_payload(STANDARD_JOBS["campaign_update"], {"input": [{"id": v}]}),
}


@pytest.mark.parametrize("name", sorted(ARGUMENT_CHECKS))
@pytest.mark.parametrize("sign", [1, -1], ids=["positive", "negative"])
def test_unprintable_integers(name: str, sign: int) -> None:
    """A 5000-digit integer (its str() and repr() raise ValueError) is refused or taken, never a crash."""
    result = checked_result(ARGUMENT_CHECKS[name], sign * 10**5000)
    if name == "sane_delay":
        assert isinstance(result, float) and 0.0 <= result <= checks.MAX_SECONDS


# --- 4. the poll cadence ----------------------------------------------------------------------------
progress_counts = st.one_of(st.none(), st.integers(0, 1000), st.sampled_from([2**63, 10**400]))
jobs = st.builds(
    Job,
    vendor=st.just("zendesk"),
    id=st.sampled_from(["a", "b", "c"]),
    state=st.sampled_from(JobState),
    vendor_status=st.just("working"),
    progress=progress_counts,
    total=progress_counts,
    percent=st.none() | st.floats(allow_nan=False, allow_infinity=False),
)
clock = st.one_of(
    floats, st.sampled_from([0.0, 1.0, 1e308, -1e308, 5e-324]), st.floats(-1e6, 1e6, allow_nan=False)
)


@PROPERTY
@given(
    poll=st.floats(0.001, 1000.0),
    factor=st.floats(1.0, 100.0),
    reads=st.lists(st.tuples(clock, st.lists(jobs, max_size=3)), min_size=1, max_size=8),
)
@example(
    poll=1.0,
    factor=10.0,
    reads=[
        (-1e308, [Job(vendor="z", id="a", state=JobState.RUNNING, vendor_status="w", progress=1, total=10)]),
        (1e308, [Job(vendor="z", id="a", state=JobState.RUNNING, vendor_status="w", progress=2, total=10)]),
    ],
)
@example(
    poll=1.0,
    factor=10.0,
    reads=[
        (0.0, [Job(vendor="z", id="a", state=JobState.RUNNING, vendor_status="w", progress=0, total=10)]),
        (
            1.0,
            [Job(vendor="z", id="a", state=JobState.RUNNING, vendor_status="w", progress=10**400, total=3)],
        ),
    ],
)
def test_poll_cadence_delay_is_always_within_its_bounds(
    poll: float, factor: float, reads: list[tuple[float, list[Job]]]
) -> None:
    ceiling = poll * factor
    cadence = PollCadence(poll, ceiling)
    for now, read in reads:
        delay = cadence.next_delay(read, now)
        assert isinstance(delay, float) and math.isfinite(delay)
        assert poll <= delay <= max(ceiling, poll)
