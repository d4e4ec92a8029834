"""Trade Desk request checks (pure): RFC 7807 problems, the sandbox markers in submitted bodies, the
validation of every job-creating body, and the snake_case rendering of status answers."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

from .tradedesk_jobs import CANCELLED, FAILURE, PARTIAL, SUCCESS

PARTIAL_MARKER = "sandbox:partial"
FAILURE_MARKER = "sandbox:failure"
CANCELLED_MARKER = "sandbox:cancelled"  # GraphQL jobs only
GQL_ERROR_MARKER = "sandbox:gql-error"  # in a GraphQL query: HTTP 200 with payload errors, no job
_BYTES_RE = re.compile(r"sandbox:bytes=(\d+)")

#: (type, title) of each ProblemDetails status, as ASP.NET renders them.
PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("https://tools.ietf.org/html/rfc9110#section-15.5.1", "Bad Request"),
    401: ("https://tools.ietf.org/html/rfc9110#section-15.5.2", "Unauthorized"),
    403: ("https://tools.ietf.org/html/rfc9110#section-15.5.4", "Forbidden"),
    404: ("https://tools.ietf.org/html/rfc9110#section-15.5.5", "Not Found"),
    429: ("https://tools.ietf.org/html/rfc6585#section-4", "Too Many Requests"),
}
PROBLEM_CONTENT_TYPE = "application/problem+json"


class TradeDeskProblem(Exception):
    """A client error the routes answer as RFC 7807 ProblemDetails."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        """Keep the HTTP status, the detail text and any extra headers (Retry-After)."""
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def problem_body(status: int, detail: str, instance: str) -> dict[str, Any]:
    """Return the ProblemDetails object of an error (with a `traceId` extension, as ASP.NET adds)."""
    kind, title = PROBLEMS.get(status, ("about:blank", "Error"))
    trace = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"
    body = {"type": kind, "title": title, "status": status, "detail": detail, "instance": instance}
    return {**body, "traceId": trace}


def bad(detail: str) -> TradeDeskProblem:
    """Return a 400 problem."""
    return TradeDeskProblem(400, detail)


# ----- markers -----
def strings_in(value: Any) -> Iterator[str]:
    """Yield every string inside `value` (dict keys and values, nested lists)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


def marked_outcome(body: Any, graphql: bool) -> str:
    """The outcome the markers in `body` ask for (failure before cancelled before partial), else Success.
    `sandbox:cancelled` only counts for GraphQL jobs."""
    texts = list(strings_in(body))
    for marker, outcome in (
        (FAILURE_MARKER, FAILURE),
        (CANCELLED_MARKER, CANCELLED),
        (PARTIAL_MARKER, PARTIAL),
    ):
        if (graphql or outcome != CANCELLED) and any(marker in text for text in texts):
            return outcome
    return SUCCESS


def marked_bytes(body: Any) -> int | None:
    """The result size a `sandbox:bytes=N` marker asks for, or None."""
    for text in strings_in(body):
        match = _BYTES_RE.search(text)
        if match:
            return int(match.group(1))
    return None


# ----- body validation -----
def required_text(body: dict[str, Any], name: str) -> str:
    """Return a required non-blank string field; 400 naming it otherwise."""
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise bad(f"{name} is required")
    if not isinstance(value, str):
        raise bad(f"{name} must be a string")
    return value


def optional_text(body: dict[str, Any], name: str) -> None:
    """Check an optional string field."""
    if body.get(name) is not None and not isinstance(body[name], str):
        raise bad(f"{name} must be a string")


def check_callback(body: dict[str, Any], graphql: bool) -> None:
    """Check `callbackInput`: `callbackUrl` required; `callbackHeaders` a list of {key, value} objects
    (GraphQL) or an object of strings (standard jobs)."""
    callback = body.get("callbackInput")
    if callback is None:
        return
    if not isinstance(callback, dict):
        raise bad("callbackInput must be an object")
    url = callback.get("callbackUrl")
    if not isinstance(url, str) or not url.strip():
        raise bad("callbackInput.callbackUrl is required")
    headers = callback.get("callbackHeaders")
    if headers is None:
        return
    if graphql:
        pairs_ok = isinstance(headers, list) and all(
            isinstance(h, dict) and isinstance(h.get("key"), str) and isinstance(h.get("value"), str)
            for h in headers
        )
        if not pairs_ok:
            raise bad("callbackInput.callbackHeaders must be a list of {key, value} objects")
    elif not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise bad("callbackInput.callbackHeaders must be an object of strings")


def check_graphql(body: dict[str, Any]) -> str:
    """Check a GraphQL bulk query job body; return the query. `variables` is refused (not supported)."""
    query = required_text(body, "query")
    if "variables" in body:
        raise bad("variables is not supported by graphqlbulkqueryjob: inline the values in the query")
    check_callback(body, graphql=True)
    return query


def check_first_party(body: dict[str, Any]) -> None:
    """Check a first-party data job body."""
    required_text(body, "advertiserId")
    optional_text(body, "nameFilter")
    optional_text(body, "queryShape")
    check_callback(body, graphql=False)


def check_third_party(body: dict[str, Any]) -> None:
    """Check a third-party data job body."""
    required_text(body, "partnerId")
    optional_text(body, "queryShape")
    check_callback(body, graphql=False)


def check_bulk(body: dict[str, Any], update: bool) -> list[dict[str, Any]]:
    """Check a campaign or ad group bulk body (`update`: every input needs an `id`); return the input."""
    items = body.get("input")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise bad("input must be a non-empty list of objects")
    if update:
        for index, item in enumerate(items):
            value = item.get("id")
            if value is None or isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
                raise bad(f"input[{index}].id is required for an update")
    if body.get("validateInputOnly") is not None and not isinstance(body["validateInputOnly"], bool):
        raise bad("validateInputOnly must be a boolean")
    check_callback(body, graphql=False)
    return items


# ----- snake_case answers -----
_UPPER = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake(name: str) -> str:
    """`createdAtUtc` -> `created_at_utc`."""
    return _UPPER.sub("_", name).lower()


def snake_keys(value: Any) -> Any:
    """Return `value` with every dict key snake_cased (nested dicts and lists too)."""
    if isinstance(value, dict):
        return {snake(k): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value
