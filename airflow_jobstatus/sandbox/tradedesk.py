"""The Trade Desk Workflows routes under /tradedesk: TTD-Auth, the rate limit, job statuses (standard, legacy
bulk, GraphQL bulk), every job-creating call, the result host under /tradedesk-results, and the
`/_sandbox/tradedesk/...` control routes. Errors are RFC 7807 ProblemDetails.

A test connection's host is `http://HOST:PORT/tradedesk`, standing for `https://api.thetradedesk.com/workflows`;
`/tradedesk-results/...` stands for the separate host serving result downloads (no TTD-Auth there).
"""

from __future__ import annotations

import gzip
import hmac
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from .control import add_vendor_control
from .tradedesk_checks import (
    GQL_ERROR_MARKER,
    PROBLEM_CONTENT_TYPE,
    TradeDeskProblem,
    bad,
    check_bulk,
    check_first_party,
    check_graphql,
    check_third_party,
    marked_bytes,
    marked_outcome,
    problem_body,
    snake_keys,
)
from .tradedesk_jobs import (
    GRAPHQL,
    LEGACY,
    RESULTS_PATH,
    STANDARD,
    TradeDeskSandboxConfig,
    TradeDeskState,
    iter_result,
    result_size,
)
from .webutil import AUTH_KIND, STATE_KEY, BadRequest, Handler, answer_bad_requests, base_url, read_json

PREFIX = "/tradedesk"
AUTH_HEADER = "TTD-Auth"
LEAK_DETAIL = "TTD-Auth must not be sent to the result host"
GQL_SYNTAX_ERROR = {"message": 'Syntax Error: Unexpected Name "sandbox"', "field": "query"}


def auth_kind(header: str | None, config: TradeDeskSandboxConfig) -> str:
    """Classify a TTD-Auth header: "ttd-auth" (the account's token), "none" (absent or blank) or "bad"."""
    if header is None or not header.strip():
        return "none"
    return "ttd-auth" if hmac.compare_digest(header.strip().encode(), config.api_token.encode()) else "bad"


def problem(request: web.Request, exc: TradeDeskProblem) -> web.Response:
    """Answer a TradeDeskProblem as `application/problem+json`."""
    body = problem_body(exc.status, exc.detail, request.path)
    return web.json_response(body, status=exc.status, headers=exc.headers, content_type=PROBLEM_CONTENT_TYPE)


def tradedesk_of(request: web.Request) -> TradeDeskState:
    """The Trade Desk store of the app serving `request`."""
    return request.app[STATE_KEY].tradedesk


def api(handler: Handler) -> Handler:
    """Wrap an API handler: authenticate (401 without TTD-Auth, 403 with a wrong token), apply the rate
    limit (429 with Retry-After) and answer a TradeDeskProblem as ProblemDetails."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        ttd = tradedesk_of(request)
        with ttd.lock:
            kind = auth_kind(request.headers.get(AUTH_HEADER), ttd.config)
        request[AUTH_KIND] = kind
        try:
            if kind == "none":
                raise TradeDeskProblem(401, f"The {AUTH_HEADER} header is missing")
            if kind == "bad":
                raise TradeDeskProblem(403, f"The {AUTH_HEADER} token is not valid")
            wait = ttd.hit_rate_limit()
            if wait is not None:
                raise TradeDeskProblem(429, "Rate limit exceeded", {"Retry-After": str(wait)})
            return await handler(request)
        except TradeDeskProblem as exc:
            return problem(request, exc)

    return wrapped


async def read_body(request: web.Request) -> dict[str, Any]:
    """Return the JSON object body ({} when empty); 400 when it is not JSON or not an object."""
    try:
        body = await read_json(request, required=False)
    except BadRequest as exc:
        raise bad(exc.description) from exc
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object")
    return body


def status_answer(ttd: TradeDeskState, body: dict[str, Any], status: int = 200) -> web.Response:
    """Answer a job-showing body, snake_cased when the config asks for it."""
    return web.json_response(snake_keys(body) if ttd.config.snake_case else body, status=status)


# ----- job statuses -----
def status_handler(kind: str) -> Handler:
    """Build the status handler of one kind of job (a job of another kind is 404)."""

    async def show(request: web.Request) -> web.StreamResponse:
        ttd, job_id = tradedesk_of(request), request.match_info["id"]
        job = ttd.get(job_id, kind)
        if job is None:
            raise TradeDeskProblem(404, f"Job {job_id} was not found")
        with ttd.lock:
            rendered = job.render(ttd.clock(), base_url(request), ttd.config)
            return status_answer(ttd, {"job": rendered, "errors": None} if kind == GRAPHQL else rendered)

    return show


# ----- job-creating calls -----
async def submit_graphql(request: web.Request) -> web.StreamResponse:
    """POST /graphqlbulkqueryjob: 200 with the queued job, or 200 with payload errors (and no job) when
    the query carries `sandbox:gql-error`."""
    ttd, body = tradedesk_of(request), await read_body(request)
    query = check_graphql(body)
    if GQL_ERROR_MARKER in query:
        return web.json_response({"payload": {"data": None, "errors": [GQL_SYNTAX_ERROR]}, "errors": None})
    outcome = marked_outcome(body, graphql=True)
    job = ttd.submit(request.method, request.path, GRAPHQL, body, outcome, marked_bytes(body))
    with ttd.lock:
        rendered = job.render(job.created, base_url(request), ttd.config)
        rendered["status"], rendered["completionPercentage"] = "Queued", None
        return status_answer(ttd, {"payload": {"data": rendered, "errors": None}, "errors": None})


@dataclass(frozen=True)
class Call:
    """One standard job-creating call: method, path under /tradedesk, submit kind and body check."""

    method: str
    path: str
    kind: str
    check: Callable[[dict[str, Any]], Any]


def standard_handler(call: Call) -> Handler:
    """Build the handler of a standard job-creating call: check the body, create the job, 202 `{"id"}`.
    A campaign update with `validateInputOnly: true` answers 200 with the campaign ids and creates none."""

    async def submit(request: web.Request) -> web.StreamResponse:
        ttd, body = tradedesk_of(request), await read_body(request)
        items = call.check(body)
        if call.kind == "campaign_update" and body.get("validateInputOnly") is True:
            campaigns = [{"id": item["id"]} for item in items]
            return web.json_response({"data": {"campaigns": campaigns}, "errors": []})
        outcome = marked_outcome(body, graphql=False)
        job = ttd.submit(request.method, request.path, call.kind, body, outcome, marked_bytes(body))
        return web.json_response({"id": int(job.id)}, status=202)

    return submit


CALLS: tuple[Call, ...] = (
    Call("POST", "/standardjob/firstpartydata", "firstpartydata", check_first_party),
    Call("POST", "/standardjob/thirdpartydata", "thirdpartydata", check_third_party),
    Call("POST", "/standardjob/campaign/bulk", "campaign_create", lambda body: check_bulk(body, False)),
    Call("PATCH", "/standardjob/campaign/bulk", "campaign_update", lambda body: check_bulk(body, True)),
    Call("POST", "/standardjob/adgroup/bulk", "adgroup_create", lambda body: check_bulk(body, False)),
    Call("PATCH", "/standardjob/adgroup/bulk", "adgroup_update", lambda body: check_bulk(body, True)),
)


async def unknown_endpoint(request: web.Request) -> web.StreamResponse:
    """Any other /tradedesk path (or method): 404."""
    raise TradeDeskProblem(404, f"No endpoint {request.method} {request.path}")


# ----- the result host -----
def result_host(handler: Handler) -> Handler:
    """Wrap a result-host handler: refuse (400) and record in `auth_leaks` any request carrying TTD-Auth,
    and answer a TradeDeskProblem as ProblemDetails. No other auth: the link authorises itself."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        ttd = tradedesk_of(request)
        header = request.headers.get(AUTH_HEADER)
        try:
            if header is not None:
                with ttd.lock:
                    request[AUTH_KIND] = auth_kind(header, ttd.config)
                    ttd.auth_leaks.append(request.path)
                raise bad(LEAK_DETAIL)
            request[AUTH_KIND] = "none"
            return await handler(request)
        except TradeDeskProblem as exc:
            return problem(request, exc)

    return wrapped


async def download(request: web.Request) -> web.StreamResponse:
    """GET /tradedesk-results/{job_id}/{key}: stream the result document chunk by chunk (exact
    Content-Length); 404 for an unknown link or expired results, 403 once the link has expired."""
    ttd, job_id, key = tradedesk_of(request), request.match_info["job_id"], request.match_info["key"]
    job = ttd.get(job_id)
    with ttd.lock:
        now, config = ttd.clock(), ttd.config
        found = job is not None and hmac.compare_digest(job.key.encode(), key.encode())
        if job is None or not found or not job.has_result(now, config):
            raise TradeDeskProblem(404, "The result was not found")
        if job.since_completion(now) >= config.link_seconds:
            raise TradeDeskProblem(403, "the link has expired")
        ttd.downloads.append(job.id)
        chunk = config.download_chunk
        cut = config.cut_downloads > 0
        config.cut_downloads -= 1 if cut else 0
        compressed = config.gzip_downloads
    size = result_size(job.result_bytes)
    if compressed:
        document = b"".join(iter_result(job.result_bytes, chunk))
        body = gzip.compress(document)
        headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        return web.Response(body=body, content_type="application/json", headers=headers)
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    response.content_length = size
    await response.prepare(request)
    try:
        sent = 0
        for piece in iter_result(job.result_bytes, chunk):
            if cut and sent + len(piece) > size // 2:  # a cut-off download: half the bytes, then hang up
                await response.write(piece[: size // 2 - sent])
                if request.transport is not None:
                    request.transport.close()
                return response
            await response.write(piece)
            sent += len(piece)
        await response.write_eof()
    except ConnectionResetError:  # the client went away mid-download
        pass
    return response


async def unknown_result(request: web.Request) -> web.StreamResponse:
    """Any other /tradedesk-results path: 404."""
    raise TradeDeskProblem(404, "The result was not found")


# ----- control routes -----
async def control_jobs(request: web.Request) -> web.StreamResponse:
    """GET /_sandbox/tradedesk/jobs: every job as the API shows it now (plus its `kind`), the accepted
    submits, the downloaded job ids and the leaked-auth paths."""
    ttd = tradedesk_of(request)
    with ttd.lock:
        now, base = ttd.clock(), base_url(request)
        jobs = [{"kind": job.kind, **job.render(now, base, ttd.config)} for job in ttd.jobs.values()]
        submits = [asdict(s) for s in ttd.submits]
        answer = {"jobs": jobs, "submits": submits, "downloads": list(ttd.downloads)}
        return web.json_response({**answer, "auth_leaks": list(ttd.auth_leaks)})


def add_routes(app: web.Application) -> None:
    """Register the Trade Desk API, result host and control routes (the catch-alls last)."""
    app.router.add_get(PREFIX + "/standardjob/{id}/status", api(status_handler(STANDARD)))
    app.router.add_get(PREFIX + "/bulkjob/{id}/status", api(status_handler(LEGACY)))
    app.router.add_get(PREFIX + "/graphqlbulkjob/{id}", api(status_handler(GRAPHQL)))
    app.router.add_post(PREFIX + "/graphqlbulkqueryjob", api(submit_graphql))
    for call in CALLS:
        app.router.add_route(call.method, PREFIX + call.path, api(standard_handler(call)))
    app.router.add_route("*", PREFIX + "/{tail:.*}", api(unknown_endpoint))
    app.router.add_route("GET", RESULTS_PATH + "/{job_id}/{key}", result_host(download))
    app.router.add_route("*", RESULTS_PATH + "/{tail:.*}", result_host(unknown_result))
    app.router.add_get("/_sandbox/tradedesk/jobs", answer_bad_requests(control_jobs))
    add_vendor_control(
        app, "tradedesk", lambda state: state.tradedesk, secret_fields=frozenset({"api_token"})
    )
