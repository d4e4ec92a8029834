"""The shared retry and error policy of the transport (pure functions, no network)."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import replace
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_jobstatus.errors import (
    ConfigurationError,
    PermanentVendorError,
    TransientVendorError,
    VendorAuthError,
    VendorResponseError,
)
from airflow_jobstatus.http.exchange import Body, StreamScrubber, request_headers, secret_forms
from airflow_jobstatus.http.transport import (
    ApiTarget,
    RetryPolicy,
    interpret_response,
    parse_retry_after,
    raise_for_status,
)

TARGET = ApiTarget(
    vendor="Zendesk",
    conn_id="zendesk_default",
    base_url="https://acme.zendesk.com",
    headers={"Authorization": "Basic c2VjcmV0"},
)


def test_retry_after_in_seconds_and_as_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    now = time.time()
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=8.0, retry_after_max=60)
    assert all(0.5 <= policy.delay(1, None) <= 1.0 for _ in range(50))
    assert all(4.0 <= policy.delay(4, None) <= 8.0 for _ in range(50))
    assert all(4.0 <= policy.delay(9, None) <= 8.0 for _ in range(50))
    assert policy.delay(1, 12.0) == 12.0
    assert policy.delay(1, 3600.0) == 60


def test_auth_headers_only_go_to_the_api_host() -> None:
    assert TARGET.headers_for("https://acme.zendesk.com/api/v2/x")["Authorization"]
    assert "Authorization" not in TARGET.headers_for("https://files.example.com/result.json")
    assert "Authorization" not in TARGET.headers_for("http://acme.zendesk.com/api/v2/x")
    assert "c2VjcmV0" not in repr(TARGET)


@pytest.mark.parametrize(
    ("status", "error", "text"),
    [
        (401, VendorAuthError, "connection 'zendesk_default' was rejected by Zendesk (HTTP 401"),
        (403, VendorAuthError, "check the token"),
        (404, PermanentVendorError, "HTTP 404"),
        (429, TransientVendorError, "HTTP 429"),
        (503, TransientVendorError, "HTTP 503"),
        (302, PermanentVendorError, "redirect"),
        (422, PermanentVendorError, "HTTP 422"),
    ],
)
def test_status_codes_map_to_errors_that_say_what_to_do(status: int, error: type, text: str) -> None:
    with pytest.raises(error, match=text.replace("(", r"\(")) as raised:
        interpret_response(
            TARGET,
            "GET",
            "https://acme.zendesk.com/api/v2/job_statuses/1.json?x=1",
            status,
            {"Retry-After": "5"},
            b'{"error": "Couldn\'t authenticate you"}',
        )
    assert getattr(raised.value, "status", None) == status


def test_429_carries_retry_after() -> None:
    with pytest.raises(TransientVendorError) as raised:
        interpret_response(TARGET, "GET", "https://acme.zendesk.com/x", 429, {"Retry-After": "5"}, b"")
    assert raised.value.retry_after == 5.0


def test_bad_json_names_url_status_and_body_start() -> None:
    # A 200 with a proxy's HTML page is transient, like the proxy pages of 5xx answers (issue 15 row 15).
    body = b"<html><body>" + b"Bad gateway " * 100 + b"</body></html>"
    with pytest.raises(TransientVendorError) as raised:
        interpret_response(
            TARGET, "GET", "https://acme.zendesk.com/api/v2/job_statuses/1.json", 200, {}, body
        )
    message = str(raised.value)
    assert "GET https://acme.zendesk.com/api/v2/job_statuses/1.json" in message
    assert "HTTP 200" in message
    assert "<html><body>Bad gateway" in message
    assert len(message) < 400


@pytest.mark.parametrize(
    ("body", "named"),
    [(b"{not json", "the body is not JSON: '{not json'"), (b'{"a": NaN}', "NaN is not a JSON number")],
)
def test_broken_or_unsafe_json_is_a_response_error(body: bytes, named: str) -> None:
    with pytest.raises(VendorResponseError, match=named):
        interpret_response(TARGET, "GET", "https://acme.zendesk.com/x", 200, {}, body)


def test_success_returns_parsed_json() -> None:
    assert interpret_response(TARGET, "GET", "https://acme.zendesk.com/x", 200, {}, b'{"a": 1}') == {"a": 1}
    assert interpret_response(TARGET, "GET", "https://acme.zendesk.com/x", 204, {}, b"") is None


# --- the pieces of the general request (pure) ------------------------------------------------------
def test_request_headers_carry_credentials_only_for_the_api_origin() -> None:
    api = request_headers(
        TARGET.headers_for("https://acme.zendesk.com/x"), TARGET.headers, {"X-A": " 1 "}, None
    )
    assert api["Authorization"] == "Basic c2VjcmV0" and api["X-A"] == "1"
    for elsewhere in ("https://acme.zendesk.com.evil.example/x", "https://acme.zendesk.com:8443/x"):
        headers = request_headers(TARGET.headers_for(elsewhere), TARGET.headers, None, Body.form({"a": "b"}))
        assert "Authorization" not in headers
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert not TARGET.same_origin("http://acme.zendesk.com/x") and TARGET.same_origin(
        "https://ACME.zendesk.com/y"
    )


@pytest.mark.parametrize("value", ["a\r\nX-Evil: 1", "a\nb", "tab\there", "caf\u00e9", "nul\x00"])
def test_a_header_value_that_could_split_the_request_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="the value of header X-Thing holds a line break") as raised:
        request_headers({}, (), {"X-Thing": value}, None)
    assert value not in str(raised.value)
    with pytest.raises(ConfigurationError):
        Body.raw(b"x", value)


def test_body_forms() -> None:
    assert Body.json({"a": [1, "é"]}) == Body(b'{"a": [1, "\\u00e9"]}', "application/json")
    assert Body.form([("a", "1 2"), ("a", "&")]).content == b"a=1+2&a=%26"
    assert Body.raw(bytearray(b"\x00\xff"), "application/octet-stream").content == b"\x00\xff"
    with pytest.raises(ConfigurationError, match="must be bytes"):
        Body("text", "text/plain")  # type: ignore[arg-type]


SECRETS = ("s3cr3t-token-abc", 'quo"te-secret')


@given(
    before=st.binary(max_size=40),
    after=st.binary(max_size=40),
    which=st.sampled_from(SECRETS),
    cuts=st.lists(st.integers(0, 120), max_size=8),
)
def test_a_stream_is_scrubbed_as_the_whole_body_would_be(
    before: bytes, after: bytes, which: str, cuts: list[int]
) -> None:
    body = before + which.encode() + after + json.dumps(which).encode()
    scrubber = StreamScrubber(SECRETS)
    bounds = [0, *sorted(min(cut, len(body)) for cut in cuts), len(body)]
    streamed = b"".join(scrubber.feed(body[a:b]) for a, b in itertools.pairwise(bounds))
    streamed += scrubber.finish()
    whole = replace(TARGET, secrets=SECRETS).scrub(body)
    assert streamed == whole
    assert all(form not in streamed for secret in SECRETS for form in secret_forms(secret))


def test_raise_for_status_lets_a_success_through_and_maps_the_rest() -> None:
    raise_for_status(TARGET, "GET", "https://acme.zendesk.com/x", 204, {}, b"")
    with pytest.raises(VendorAuthError):
        raise_for_status(TARGET, "GET", "https://acme.zendesk.com/x", 403, {}, b"Basic c2VjcmV0 no")
