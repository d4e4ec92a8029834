"""Vendor-neutral control routes under /_sandbox: faults, the request log, reset."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from aiohttp import web

from .state import SandboxState
from .webutil import STATE_KEY, BadRequest, answer_bad_requests, read_json_object

_FAULT_KEYS = set(inspect.signature(SandboxState.add_fault).parameters) - {"self"}


async def add_fault(request: web.Request) -> web.StreamResponse:
    """POST /_sandbox/faults with the keyword arguments of `SandboxState.add_fault`."""
    body = await read_json_object(request)
    unknown = set(body) - _FAULT_KEYS
    if unknown:
        raise BadRequest("InvalidValue", f"Unknown fault keys: {sorted(unknown)}")
    state = request.app[STATE_KEY]
    state.add_fault(**body)
    return web.json_response({"ok": True, "faults": len(state.faults)})


async def list_faults(request: web.Request) -> web.StreamResponse:
    """GET /_sandbox/faults: the faults still pending."""
    state = request.app[STATE_KEY]
    with state.lock:
        faults = [vars(f) for f in state.faults]
    return web.json_response(faults)


async def clear_faults(request: web.Request) -> web.StreamResponse:
    """DELETE /_sandbox/faults: remove every pending fault."""
    request.app[STATE_KEY].clear_faults()
    return web.json_response({"ok": True})


async def list_requests(request: web.Request) -> web.StreamResponse:
    """GET /_sandbox/requests[?path_prefix=...]: the request log, oldest first."""
    state = request.app[STATE_KEY]
    prefix = request.query.get("path_prefix", "")
    with state.lock:
        records = [r.to_json() for r in state.requests if r.path.startswith(prefix)]
    return web.json_response(records)


async def reset(request: web.Request) -> web.StreamResponse:
    """POST /_sandbox/reset: clear jobs, faults and the log, and restore every config."""
    request.app[STATE_KEY].reset()
    return web.json_response({"ok": True})


async def health(request: web.Request) -> web.StreamResponse:
    """GET /_sandbox/health: liveness probe."""
    return web.json_response({"ok": True})


def add_vendor_control(
    app: web.Application,
    vendor: str,
    store_of: Callable[[SandboxState], Any],
    *,
    set_fields: frozenset[str] = frozenset(),
    secret_fields: frozenset[str] = frozenset(),
) -> None:
    """Register ``POST /_sandbox/<vendor>/jobs`` (the keyword arguments of the store's ``create_job`` ->
    ``{"id"}``) and ``POST /_sandbox/<vendor>/config`` (any fields of the store's config -> the config
    without ``secret_fields``; ``set_fields`` are sent as lists and kept as sets)."""

    async def create_job(request: web.Request) -> web.StreamResponse:
        body = await read_json_object(request)
        try:
            job_id = store_of(request.app[STATE_KEY]).create_job(**body)
        except (TypeError, ValueError) as exc:
            raise BadRequest("InvalidValue", str(exc)) from exc
        return web.json_response({"id": job_id})

    async def configure(request: web.Request) -> web.StreamResponse:
        store = store_of(request.app[STATE_KEY])
        known = {f.name for f in fields(store.config)}
        body = await read_json_object(request)
        unknown = set(body) - known
        if unknown:
            raise BadRequest("InvalidValue", f"Unknown config keys: {sorted(unknown)}")
        with store.lock:
            for key, value in body.items():
                setattr(store.config, key, set(value) if key in set_fields else value)
            shown = {k: getattr(store.config, k) for k in sorted(known - secret_fields)}
        for key in set_fields:
            shown[key] = sorted(shown[key])
        return web.json_response(shown)

    app.router.add_post(f"/_sandbox/{vendor}/jobs", answer_bad_requests(create_job))
    app.router.add_post(f"/_sandbox/{vendor}/config", answer_bad_requests(configure))


def add_routes(app: web.Application) -> None:
    """Register the vendor-neutral control routes."""
    app.router.add_post("/_sandbox/faults", answer_bad_requests(add_fault))
    app.router.add_get("/_sandbox/faults", list_faults)
    app.router.add_delete("/_sandbox/faults", clear_faults)
    app.router.add_get("/_sandbox/requests", list_requests)
    app.router.add_post("/_sandbox/reset", reset)
    app.router.add_get("/_sandbox/health", health)
