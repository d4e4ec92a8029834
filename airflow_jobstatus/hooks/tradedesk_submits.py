"""The Trade Desk's job-creating calls and the checks their input passes before any request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_jobstatus.core.checks import loads_json
from airflow_jobstatus.errors import ConfigurationError


@dataclass(frozen=True)
class StandardCall:
    """One standard-job call: method, path, what it does, and what its body must carry."""

    method: str
    path: str
    what: str
    required: str | None = None
    input_needs_ids: bool | None = None

    @property
    def is_bulk(self) -> bool:
        """True for the campaign and ad group bulk calls (a body with ``input``)."""
        return self.input_needs_ids is not None


STANDARD_JOBS: dict[str, StandardCall] = {
    "first_party_data": StandardCall(
        "POST", "/standardjob/firstpartydata", "a first-party data job", required="advertiserId"
    ),
    "third_party_data": StandardCall(
        "POST", "/standardjob/thirdpartydata", "a third-party data job", required="partnerId"
    ),
    "campaign_create": StandardCall(
        "POST", "/standardjob/campaign/bulk", "a campaign bulk create job", input_needs_ids=False
    ),
    "campaign_update": StandardCall(
        "PATCH", "/standardjob/campaign/bulk", "a campaign bulk update job", input_needs_ids=True
    ),
    "ad_group_create": StandardCall(
        "POST", "/standardjob/adgroup/bulk", "an ad group bulk create job", input_needs_ids=False
    ),
    "ad_group_update": StandardCall(
        "PATCH", "/standardjob/adgroup/bulk", "an ad group bulk update job", input_needs_ids=True
    ),
}
#: Standard jobs whose request is safe to send twice (reports and updates): a lost answer may be resent.
SAFE_TO_REPEAT = frozenset({"first_party_data", "third_party_data", "campaign_update", "ad_group_update"})


def check_query(query: Any) -> str:
    """A non-blank GraphQL query."""
    if not isinstance(query, str) or not query.strip():
        raise ConfigurationError("query must be a non-empty GraphQL query string")
    return query


def as_payload(value: Any, name: str = "payload") -> dict[str, Any]:
    """A JSON object from a dict, or from rendered JSON text."""
    if isinstance(value, str):
        try:
            value = loads_json(value)  # (nesting too deep, NaN or Infinity: refused as ValueError too)
        except ValueError:
            raise ConfigurationError(f"{name} is text that is not JSON: {value[:80]!r}") from None
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name} must be a JSON object (a dict), got {type(value).__name__}")
    return dict(value)


def check_payload(call: StandardCall, payload: Any) -> dict[str, Any]:
    """The body of a standard-job call, checked: required ids present, ``input`` a list of objects."""
    body = as_payload(payload)
    if call.required is not None:
        value = body.get(call.required)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ConfigurationError(
                f"payload.{call.required} is required for {call.what} (keys are camelCase, as the API "
                "takes them)"
            )
    if call.is_bulk:
        items = body.get("input")
        if not isinstance(items, list) or not items:
            raise ConfigurationError(f"payload.input must be a non-empty list of objects for {call.what}")
        for pos, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise ConfigurationError(f"payload.input[{pos}] must be an object, got {type(item).__name__}")
            if call.input_needs_ids and item.get("id") in (None, ""):
                raise ConfigurationError(f"payload.input[{pos}].id is required for {call.what}")
    return body
