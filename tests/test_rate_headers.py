"""The account's rate limit read from answers' headers: Zendesk's documented headers, other spellings, and
anything else a hostile or broken answer may send (which must be ignored, never raised)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from airflow_jobstatus.http.rate_headers import MAX_COUNT, AccountLimit, account_limit


def test_zendesk_headers_give_the_limit_what_is_left_and_the_reset() -> None:
    headers = {
        "X-Rate-Limit": "700",
        "X-Rate-Limit-Remaining": "698",
        "ratelimit-limit": "700",
        "ratelimit-remaining": "698",
        "ratelimit-reset": "39",
    }
    assert account_limit(headers) == AccountLimit(limit=700, remaining=698, reset=39.0, window=60.0)


def test_other_spellings_and_the_ietf_window_are_read() -> None:
    assert account_limit({"X-Rate-Limit": "200", "X-Rate-Limit-Remaining": "0"}) == AccountLimit(200, 0)
    ietf = account_limit(
        {"RateLimit-Limit": "100, 100;w=30", "RateLimit-Remaining": "7", "RateLimit-Reset": "4"}
    )
    assert ietf == AccountLimit(100, 7, 4.0, 30.0) and ietf.per_minute == 200.0
    assert account_limit({"x-ratelimit-limit": "50", "x-ratelimit-remaining": "5"}) == AccountLimit(50, 5)


def test_no_or_broken_headers_say_nothing() -> None:
    assert account_limit({}) is None
    assert account_limit({"X-Rate-Limit": "40"}) is None  # what is left is missing
    assert account_limit({"X-Rate-Limit": "0", "X-Rate-Limit-Remaining": "0"}) is None
    assert account_limit({"X-Rate-Limit": "40", "X-Rate-Limit-Remaining": "2.5"}) is None
    assert account_limit({"X-Rate-Limit": "1e9", "X-Rate-Limit-Remaining": "1"}) is None
    assert account_limit({"X-Rate-Limit": "40\r\nX-Evil: 1", "X-Rate-Limit-Remaining": "1"}) is None
    # An epoch timestamp or a NaN is not a number of seconds: the reset is dropped, the limit kept.
    for reset in ("1764650000", "NaN", "-3", "soon"):
        limit = account_limit({"X-Rate-Limit": "40", "X-Rate-Limit-Remaining": "1", "ratelimit-reset": reset})
        assert limit == AccountLimit(40, 1, None)


header_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["nan", "inf", "-1", "1e400", "0", "9" * 300, "40, 40;w=0", "40;w=99999", " 12 "]),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


@given(limit=header_text, remaining=header_text, reset=header_text)
def test_any_header_values_give_a_sane_limit_or_none(limit: str, remaining: str, reset: str) -> None:
    found = account_limit(
        {"ratelimit-limit": limit, "ratelimit-remaining": remaining, "ratelimit-reset": reset}
    )
    if found is not None:
        assert 1 <= found.limit <= MAX_COUNT and 0 <= found.remaining <= found.limit
        assert found.reset is None or 0 <= found.reset <= 3600
        assert 1 <= found.window <= 3600
