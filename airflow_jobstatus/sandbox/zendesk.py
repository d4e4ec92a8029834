"""Zendesk Support routes: auth, rate limit, job statuses, every job-creating bulk endpoint, and the
`/_sandbox/zendesk/...` control routes."""

from __future__ import annotations

import hmac

from aiohttp import web

from .control import add_vendor_control
from .middleware import PROBE_PREFIX
from .ratelimit import header_value
from .webutil import (
    AUTH_KIND,
    STATE_KEY,
    BadRequest,
    Handler,
    add_route,
    answer_bad_requests,
    base_url,
    json_error,
    parse_authorization,
    split_csv,
)
from .zendesk_bulk import ENDPOINTS, BulkEndpoint, decide_items, job_outcome, parse_request
from .zendesk_jobs import Submit, ZendeskSandboxConfig, ZendeskState

API = "/api/v2"
MAX_SHOW_MANY = 100
MAX_PAGE_SIZE = 100


def auth_kind(header: str | None, config: ZendeskSandboxConfig) -> str:
    """Classify an Authorization header: "token", "password", "bearer", "none" or "bad"."""
    parsed = parse_authorization(header)
    if parsed is None:
        return "none"
    scheme, user, secret = parsed
    if scheme == "bearer":
        return "bearer" if hmac.compare_digest(user, config.oauth_token) else "bad"
    if scheme == "basic":
        email = config.email.lower()
        if user.lower() == f"{email}/token" and hmac.compare_digest(secret, config.api_token):
            return "token"
        if user.lower() == email and hmac.compare_digest(secret, config.password):
            return "password"
    return "bad"


def _rate_headers(zendesk: ZendeskState, now: float) -> dict[str, str]:
    limit = zendesk.requests_per_minute
    if limit is None:
        return {}
    remaining = str(zendesk.rate_window.remaining(now, limit))
    return {
        "X-Rate-Limit": str(limit),
        "X-Rate-Limit-Remaining": remaining,
        "ratelimit-limit": str(limit),
        "ratelimit-remaining": remaining,
        "ratelimit-reset": str(zendesk.rate_window.frees_in(now)),
    }


def api(handler: Handler) -> Handler:
    """Wrap a Zendesk API handler with authentication, the account rate limit and BadRequest handling."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        zendesk = request.app[STATE_KEY].zendesk
        kind = auth_kind(request.headers.get("Authorization"), zendesk.config)
        request[AUTH_KIND] = kind
        if kind in ("none", "bad"):
            headers = {"WWW-Authenticate": 'Basic realm="Web Password"'}
            return json_error(401, "Couldn't authenticate you", headers=headers)
        now = zendesk.clock()
        with zendesk.lock:
            wait = zendesk.rate_window.hit(now, zendesk.requests_per_minute)
            headers = _rate_headers(zendesk, now)
        if wait is not None:
            headers["Retry-After"] = str(wait)
            description = "Number of allowed API requests per minute exceeded"
            return json_error(429, "APIRateLimitExceeded", description, headers=headers)
        response = await answer_bad_requests(handler)(request)
        response.headers.update(headers)
        return response

    return wrapped


def _not_found() -> web.Response:
    return json_error(404, "RecordNotFound", "Not found")


async def show_job(request: web.Request) -> web.StreamResponse:
    """GET /job_statuses/{id}: the envelope `{"job_status": ...}`, or the bare object for a `bare` job."""
    zendesk = request.app[STATE_KEY].zendesk
    job = zendesk.get(request.match_info["id"])
    if job is None:
        return _not_found()
    body = job.render(zendesk.clock(), base_url(request))
    return web.json_response(body if job.bare else {"job_status": body})


async def show_many(request: web.Request) -> web.StreamResponse:
    """GET /job_statuses/show_many?ids=a,b: the known jobs, in the order asked.

    Unknown or expired ids are left out of the list rather than failing the whole call, as show_many
    endpoints do; a client must notice a missing id itself.
    """
    zendesk = request.app[STATE_KEY].zendesk
    ids = list(dict.fromkeys(split_csv(request.query.get("ids"))))
    if not ids:
        raise BadRequest("InvalidValue", "Parameter 'ids' is required")
    if len(ids) > MAX_SHOW_MANY:
        raise BadRequest("InvalidValue", f"Too many ids: {len(ids)} given, at most {MAX_SHOW_MANY}")
    now, base = zendesk.clock(), base_url(request)
    jobs = [job for job in map(zendesk.get, ids) if job is not None]
    return web.json_response({"job_statuses": [job.render(now, base) for job in jobs]})


async def list_jobs(request: web.Request) -> web.StreamResponse:
    """GET /job_statuses: newest first, with `page[size]` and a `page[after]` cursor (a job id)."""
    zendesk = request.app[STATE_KEY].zendesk
    try:
        size = int(request.query.get("page[size]", MAX_PAGE_SIZE))
    except ValueError as exc:
        raise BadRequest("InvalidValue", "page[size] must be an integer") from exc
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise BadRequest("InvalidValue", f"page[size] must be between 1 and {MAX_PAGE_SIZE}")
    jobs = zendesk.newest_first()
    after = request.query.get("page[after]")
    if after:
        ids = [job.id for job in jobs]
        if after not in ids:
            raise BadRequest("InvalidValue", "page[after] is not a valid cursor")
        jobs = jobs[ids.index(after) + 1 :]
    page, has_more = jobs[:size], len(jobs) > size
    now, base = zendesk.clock(), base_url(request)
    after_cursor = page[-1].id if page else None
    next_link = f"{base}{API}/job_statuses.json?page[size]={size}&page[after]={after_cursor}"
    return web.json_response(
        {
            "job_statuses": [job.render(now, base) for job in page],
            "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": None},
            "links": {"prev": None, "next": next_link if has_more else None},
        }
    )


def submit_handler(endpoint: BulkEndpoint) -> Handler:
    """Build the handler of one bulk endpoint: validate, check the job limit, create a queued job (failed
    or killed in the end if the request carries a job marker, see `zendesk_bulk`)."""

    async def submit(request: web.Request) -> web.StreamResponse:
        zendesk = request.app[STATE_KEY].zendesk
        requested = await parse_request(request, endpoint, zendesk.config.max_items)
        with zendesk.lock:
            if zendesk.active_jobs() >= zendesk.max_active_jobs:
                retry = {"Retry-After": header_value(zendesk.job_limit_retry_after)}
                description = f"Too many jobs queued or running (limit {zendesk.max_active_jobs})"
                return json_error(429, "TooManyJobs", description, headers=retry)
            items = decide_items(zendesk, endpoint.job_type, requested)
            job = zendesk.add_job(endpoint.job_type, items, outcome=job_outcome(requested))
            zendesk.submits.append(Submit(request.method, request.path, len(requested), job.id))
        return web.json_response(
            {"job_status": job.render(job.created, base_url(request), as_submitted=True)}
        )

    return submit


async def unknown_endpoint(request: web.Request) -> web.StreamResponse:
    """Any other /api/v2 path: Zendesk's 404 for an endpoint it does not have."""
    return json_error(404, "InvalidEndpoint", "Not found")


# ----- control routes -----
async def job_done_probe(request: web.Request) -> web.StreamResponse:
    """GET /_sandbox/zendesk/jobs/{id}/done (authenticated, rate-limited and logged like an API read):
    404 while the job is queued or running (or unknown), 200 with its status once it has ended.

    Not a Zendesk endpoint: it lets a generic "wait for a non-404 answer" poller, such as the HTTP
    provider's ``HttpSensorTrigger``, wait on a Zendesk job (the anchor of the benchmarks)."""
    zendesk = request.app[STATE_KEY].zendesk
    job = zendesk.get(request.match_info["id"])
    if job is None:
        return _not_found()
    now = zendesk.clock()
    if job.is_active(now):
        return json_error(404, "NotDone", f"job {job.id} is {job.status_at(now)}")
    return web.json_response({"job_status": job.render(now, base_url(request))})


async def control_jobs(request: web.Request) -> web.StreamResponse:
    """GET /_sandbox/zendesk/jobs: every stored job as the API shows it, plus the accepted submits."""
    zendesk = request.app[STATE_KEY].zendesk
    now, base = zendesk.clock(), base_url(request)
    with zendesk.lock:
        jobs = [job.render(now, base) for job in zendesk.jobs.values()]
        submits = [vars(s) for s in zendesk.submits]
    return web.json_response({"jobs": jobs, "submits": submits, "active": zendesk.active_jobs()})


def add_routes(app: web.Application) -> None:
    """Register the Zendesk API and control routes (specific paths before `{id}` and the catch-all)."""
    add_route(app, "GET", f"{API}/job_statuses/show_many", api(show_many))
    add_route(app, "GET", f"{API}/job_statuses/{{id}}", api(show_job))
    add_route(app, "GET", f"{API}/job_statuses", api(list_jobs))
    for endpoint in ENDPOINTS:
        add_route(app, endpoint.method, API + endpoint.path, api(submit_handler(endpoint)))
    app.router.add_route("*", API + "/{tail:.*}", api(unknown_endpoint))
    app.router.add_get("/_sandbox/zendesk/jobs", answer_bad_requests(control_jobs))
    app.router.add_get(
        "/_sandbox/zendesk/jobs/{id}/done", api(job_done_probe), name=f"{PROBE_PREFIX}zendesk-done"
    )
    add_vendor_control(
        app,
        "zendesk",
        lambda state: state.zendesk,
        set_fields=frozenset({"fail_ids"}),
        secret_fields=frozenset({"api_token", "password", "oauth_token"}),
    )
