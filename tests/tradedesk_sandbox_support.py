"""Shared set-up of the Trade Desk sandbox tests: a server on a hand-driven clock, request helpers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_jobstatus.sandbox import (
    SandboxServer,
    SandboxState,
    TradeDeskSandboxConfig,
)

TOKEN = "sandbox-ttd-token"
GQL_PATH, FIRST, THIRD = "/graphqlbulkqueryjob", "/standardjob/firstpartydata", "/standardjob/thirdpartydata"
HEADERS = {"TTD-Auth": TOKEN}
STD, GQL = 5_000_001, "9000001"
PATHS = {
    "standard": "/standardjob/{}/status",
    "legacy": "/bulkjob/{}/status",
    "graphql": "/graphqlbulkjob/{}",
}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "traceId"}
COMMON = ["completionPercentage", "status", "url", "rawResult"]
STD_KEYS = ["id", "createdAtUtc", "completedAtUtc", *COMMON, "errors"]
GQL_KEYS = ["id", "createdAt", "completedAt", *COMMON, "queryGqlErrors", "runtimeErrors"]


class Clock:
    """A clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CLOCK = Clock()


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    state = SandboxState(clock=CLOCK, tradedesk=TradeDeskSandboxConfig(job_seconds=10.0))
    with SandboxServer(state=state) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def sandbox(server: SandboxServer) -> SandboxServer:
    server.reset()
    return server


def api(sandbox: SandboxServer, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {**HEADERS, **kwargs.pop("headers", {})}
    return requests.request(method, f"{sandbox.url}/tradedesk{path}", headers=headers, timeout=5, **kwargs)


def read(sandbox: SandboxServer, kind: str, job_id: str | int) -> dict[str, Any]:
    response = api(sandbox, "GET", PATHS[kind].format(job_id))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    if kind == "graphql":
        assert body["errors"] is None and set(body) == {"job", "errors"}
        body = body["job"]
    return body


def assert_problem(response: requests.Response, status: int, detail: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) == PROBLEM_KEYS and body["status"] == status
    assert body["type"].startswith("https://tools.ietf.org/html/rfc") and body["title"]
    assert body["instance"] == response.request.path_url.split("?")[0]
    if detail is not None:
        assert body["detail"] == detail


def at(sandbox: SandboxServer, kind: str, job_id: str, seconds: float) -> dict[str, Any]:
    """Move the clock to ``seconds`` after the job's creation and read its status."""
    CLOCK.now = sandbox.state.tradedesk.jobs[job_id].created + seconds
    return read(sandbox, kind, job_id)
