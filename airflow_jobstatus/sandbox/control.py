"""Vendor-neutral control routes under /_sandbox: faults, the request log, reset."""

from __future__ import annotations

import inspect

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


def add_routes(app: web.Application) -> None:
    """Register the vendor-neutral control routes."""
    app.router.add_post("/_sandbox/faults", answer_bad_requests(add_fault))
    app.router.add_get("/_sandbox/faults", list_faults)
    app.router.add_delete("/_sandbox/faults", clear_faults)
    app.router.add_get("/_sandbox/requests", list_requests)
    app.router.add_post("/_sandbox/reset", reset)
    app.router.add_get("/_sandbox/health", health)
