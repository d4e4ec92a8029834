"""The Trade Desk sandbox over real HTTP: every submit route, its checks, markers and inline results."""

from __future__ import annotations

from typing import Any

import pytest
from tradedesk_sandbox_support import (
    FIRST,
    GQL,
    ISO,
    STD,
    api,
    assert_problem,
    at,
    sandbox,  # noqa: F401  (a fixture)
    server,  # noqa: F401  (a fixture)
)

from airflow_jobstatus.sandbox import SandboxServer, result_size
from airflow_jobstatus.sandbox.tradedesk_jobs import result_text

GQL_PATH, THIRD = "/graphqlbulkqueryjob", "/standardjob/thirdpartydata"

# ----- submits -----
CAMPAIGNS = {
    "input": [{"id": "c1", "name": "A"}, {"id": "c2"}],
    "callbackInput": {"callbackUrl": "https://cb"},
}
CAMPAIGN, ADGROUP = "/standardjob/campaign/bulk", "/standardjob/adgroup/bulk"
HOOK = {"callbackUrl": "https://cb", "callbackHeaders": {"X-A": "1"}}
SUBMITS: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", FIRST, {"advertiserId": "adv1", "nameFilter": "seg", "queryShape": "q"}, "firstpartydata"),
    ("POST", THIRD, {"partnerId": "p1", "callbackInput": HOOK}, "thirdpartydata"),
    ("POST", CAMPAIGN, {"input": [{"name": "A"}], "validateInputOnly": True}, "campaign_create"),
    ("PATCH", CAMPAIGN, CAMPAIGNS, "campaign_update"),
    ("POST", ADGROUP, {"input": [{"name": "G"}]}, "adgroup_create"),
    ("PATCH", ADGROUP, {"input": [{"id": 7}], "validateInputOnly": False}, "adgroup_update"),
]


@pytest.mark.parametrize(("method", "path", "body", "kind"), SUBMITS)
def test_standard_submits(sandbox: SandboxServer, method: str, path: str, body: Any, kind: str) -> None:
    response = api(sandbox, method, path, json=body)
    assert response.status_code == 202 and response.json() == {"id": STD}
    ttd = sandbox.state.tradedesk
    submits = [(s.method, s.path, s.kind, s.job_id, s.body) for s in ttd.submits]
    assert submits == [(method, f"/tradedesk{path}", kind, str(STD), body)]
    assert ttd.jobs[str(STD)].kind == "standard"
    assert at(sandbox, "standard", str(STD), 10)["status"] == "Success"


@pytest.mark.parametrize("snake", [False, True])
def test_graphql_submit(sandbox: SandboxServer, snake: bool) -> None:
    sandbox.state.tradedesk.config.snake_case = snake
    callback = {"callbackUrl": "https://cb", "callbackHeaders": [{"key": "X-A", "value": "1"}]}
    body = {"query": "query { advertisers { id } }", "callbackInput": callback, "betaFeatures": "x"}
    response = api(sandbox, "POST", "/graphqlbulkqueryjob", json=body)
    assert response.status_code == 200
    answer = response.json()
    job = answer["payload"].pop("data")
    assert answer == {"payload": {"errors": None}, "errors": None}
    pct, created = ("completion_percentage", "created_at") if snake else ("completionPercentage", "createdAt")
    assert (job["id"], job["status"], job["url"], job[pct]) == (GQL, "Queued", None, None)
    assert ISO.fullmatch(job[created]) and ("query_gql_errors" if snake else "queryGqlErrors") in job
    assert [(s.method, s.path, s.kind, s.job_id, s.body) for s in sandbox.state.tradedesk.submits] == [
        ("POST", "/tradedesk/graphqlbulkqueryjob", "graphql", GQL, body)
    ]
    assert at(sandbox, "graphql", GQL, 10)["status"] == "Success"


def test_graphql_error_answers_200_and_creates_no_job(sandbox: SandboxServer) -> None:
    response = api(sandbox, "POST", "/graphqlbulkqueryjob", json={"query": "{ sandbox:gql-error }"})
    error = {"message": 'Syntax Error: Unexpected Name "sandbox"', "field": "query"}
    assert response.status_code == 200
    assert response.json() == {"payload": {"data": None, "errors": [error]}, "errors": None}
    assert sandbox.state.tradedesk.jobs == {} and sandbox.state.tradedesk.submits == []


def test_validate_input_only_campaign_update_creates_no_job(sandbox: SandboxServer) -> None:
    body = {**CAMPAIGNS, "validateInputOnly": True}
    response = api(sandbox, "PATCH", "/standardjob/campaign/bulk", json=body)
    assert response.status_code == 200
    assert response.json() == {"data": {"campaigns": [{"id": "c1"}, {"id": "c2"}]}, "errors": []}
    assert sandbox.state.tradedesk.jobs == {} and sandbox.state.tradedesk.submits == []


NOT_LIST, NO_ID = "input must be a non-empty list of objects", "input[{}].id is required for an update"
GQL_HOOK = {"callbackUrl": "u", "callbackHeaders": {"a": "b"}}
STD_HOOK = {"callbackUrl": "u", "callbackHeaders": [{"key": "a", "value": "b"}]}
HEADERS_NOT_LIST = "callbackInput.callbackHeaders must be a list of {key, value} objects"
HEADERS_NOT_OBJECT = "callbackInput.callbackHeaders must be an object of strings"


@pytest.mark.parametrize(
    ("method", "path", "body", "detail"),
    [
        ("POST", GQL_PATH, {}, "query is required"),
        ("POST", GQL_PATH, {"query": "  "}, "query is required"),
        ("POST", GQL_PATH, {"query": 3}, "query must be a string"),
        ("POST", GQL_PATH, {"query": "{ a }", "variables": {}}, None),
        ("POST", GQL_PATH, {"query": "{ a }", "callbackInput": GQL_HOOK}, HEADERS_NOT_LIST),
        ("POST", FIRST, {"nameFilter": "x"}, "advertiserId is required"),
        ("POST", FIRST, {"advertiserId": "a", "callbackInput": {}}, "callbackInput.callbackUrl is required"),
        ("POST", FIRST, {"advertiserId": "a", "callbackInput": STD_HOOK}, HEADERS_NOT_OBJECT),
        ("POST", THIRD, {"partnerId": ""}, "partnerId is required"),
        ("POST", CAMPAIGN, {"input": []}, NOT_LIST),
        ("POST", ADGROUP, {"input": [1]}, NOT_LIST),
        ("PATCH", CAMPAIGN, {"input": [{"id": 1}, {"id": 2}, {"name": "x"}]}, NO_ID.format(2)),
        ("PATCH", ADGROUP, {"input": [{"id": ""}]}, NO_ID.format(0)),
        (
            "POST",
            CAMPAIGN,
            {"input": [{}], "validateInputOnly": "yes"},
            "validateInputOnly must be a boolean",
        ),
        ("POST", FIRST, "{not json", None),
        ("POST", FIRST, ["advertiserId"], "The request body must be a JSON object"),
    ],
)
def test_bad_submits_answer_400(
    sandbox: SandboxServer, method: str, path: str, body: Any, detail: str | None
) -> None:
    response = api(sandbox, method, path, **({"data": body} if isinstance(body, str) else {"json": body}))
    assert_problem(response, 400, detail)
    assert sandbox.state.tradedesk.jobs == {} and sandbox.state.tradedesk.submits == []


@pytest.mark.parametrize(
    ("path", "body", "kind", "outcome"),
    [
        (GQL_PATH, {"query": "{ a } # sandbox:partial"}, "graphql", "PartialSuccess"),
        (GQL_PATH, {"query": "{ a }", "betaFeatures": "sandbox:failure"}, "graphql", "Failure"),
        (GQL_PATH, {"query": "{ a } # sandbox:cancelled"}, "graphql", "Cancelled"),
        (FIRST, {"advertiserId": "a", "nameFilter": "sandbox:failure"}, "standard", "Failure"),
        (CAMPAIGN, {"input": [{"name": "x", "tags": ["sandbox:partial"]}]}, "standard", "PartialSuccess"),
        (FIRST, {"advertiserId": "sandbox:cancelled"}, "standard", "Success"),
    ],
)
def test_markers_steer_the_outcome(
    sandbox: SandboxServer, path: str, body: Any, kind: str, outcome: str
) -> None:
    assert api(sandbox, "POST", path, json=body).ok
    assert at(sandbox, kind, GQL if kind == "graphql" else str(STD), 10)["status"] == outcome


@pytest.mark.parametrize("limit", [5_000_000, 4000])
def test_bytes_marker_and_inline_result_limit(sandbox: SandboxServer, limit: int) -> None:
    sandbox.state.tradedesk.config.raw_result_limit = limit
    assert api(sandbox, "POST", FIRST, json={"advertiserId": "a", "queryShape": "sandbox:bytes=5000"}).ok
    job = at(sandbox, "standard", str(STD), 10)
    assert sandbox.state.tradedesk.jobs[str(STD)].result_bytes == 5000 and job["url"] is not None
    assert job["rawResult"] == (result_text(5000) if limit > 5000 else None)
    assert 5000 <= result_size(5000) < 5101
