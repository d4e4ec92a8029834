"""The Acme API of the sandbox under /acme (bearer API key), and its ``/_sandbox/acme/...`` control routes."""

from __future__ import annotations

import hmac
from typing import Any, cast

from aiohttp import web

from airflow_jobstatus.sandbox.control import add_vendor_control
from airflow_jobstatus.sandbox.webutil import (
    AUTH_KIND,
    STATE_KEY,
    BadRequest,
    Handler,
    parse_authorization,
    read_json,
)
from fourth_vendor.sandbox_store import AcmeState

PREFIX = "/acme"


def acme(request: web.Request) -> AcmeState:
    """The Acme store of the sandbox serving ``request``."""
    return cast(AcmeState, request.app[STATE_KEY].store("acme"))


def error(status: int, code: str, message: str) -> web.Response:
    """Acme's error answer: ``{"error": code, "message": ...}``."""
    return web.json_response({"error": code, "message": message}, status=status)


def api(handler: Handler) -> Handler:
    """Authenticate (the bearer API key), then run ``handler``; a BadRequest becomes a 400."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        store = acme(request)
        scheme, token, _ = parse_authorization(request.headers.get("Authorization")) or ("none", "", "")
        good = scheme == "bearer" and hmac.compare_digest(token.encode(), store.config.api_token.encode())
        request[AUTH_KIND] = "bearer" if good else ("none" if scheme == "none" else "bad")
        if not good:
            return error(401, "unauthorized", "Invalid API key")
        try:
            return await handler(request)
        except BadRequest as exc:
            return error(400, "bad_request", exc.description)

    return wrapped


async def me(request: web.Request) -> web.StreamResponse:
    """GET /v1/me."""
    return web.json_response({"account": "sandbox"})


async def submit(request: web.Request) -> web.StreamResponse:
    """POST /v1/bulk_jobs: 202 with the queued job; 422 for a bad operation, items or too many items."""
    store, body = acme(request), await read_json(request)
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(body, dict) or body.get("operation") not in ("upsert", "delete"):
        return error(422, "invalid_operation", "operation must be upsert or delete")
    if (
        not isinstance(items, list)
        or not items
        or not all(isinstance(i, dict) and isinstance(i.get("key"), str) for i in items)
    ):
        return error(422, "invalid_items", "items must be a non-empty list of objects with a key")
    if len(items) > store.config.max_items:
        return error(422, "too_many_items", f"at most {store.config.max_items} items per job")
    job = store.submit(body["operation"], [item["key"] for item in items], body)
    return web.json_response({"job": job.render(job.created, as_submitted=True)}, status=202)


async def show(request: web.Request) -> web.StreamResponse:
    """GET /v1/bulk_jobs/{id}: the job now; 404 for an unknown id."""
    store = acme(request)
    job = store.get(request.match_info["id"])
    if job is None:
        return error(404, "not_found", f"no bulk job {request.match_info['id']}")
    return web.json_response({"job": job.render(store.clock())})


async def unknown(request: web.Request) -> web.StreamResponse:
    """Any other /acme path."""
    return error(404, "not_found", "no such endpoint")


async def control_jobs(request: web.Request) -> web.StreamResponse:
    """GET /_sandbox/acme/jobs: every job as the API shows it now, and the accepted submits."""
    store = acme(request)
    with store.lock:
        jobs: list[Any] = [job.render(store.clock()) for job in store.jobs.values()]
        submits = [{"operation": s.operation, "count": s.count, "job_id": s.job_id} for s in store.submits]
    return web.json_response({"jobs": jobs, "submits": submits})


def add_routes(app: web.Application) -> None:
    """Register the Acme API (the catch-all last) and its control routes."""
    app.router.add_get(PREFIX + "/v1/me", api(me))
    app.router.add_post(PREFIX + "/v1/bulk_jobs", api(submit))
    app.router.add_get(PREFIX + "/v1/bulk_jobs/{id}", api(show))
    app.router.add_route("*", PREFIX + "/{tail:.*}", api(unknown))
    app.router.add_get("/_sandbox/acme/jobs", control_jobs)
    add_vendor_control(app, "acme", lambda state: state.store("acme"), secret_fields=frozenset({"api_token"}))
