"""The vendor-neutral middleware: injected faults (before any auth) and the request log."""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus

from aiohttp import web

from .state import Fault, RequestRecord, redact_query
from .webutil import AUTH_KIND, STATE_KEY, Handler

CONTROL_PREFIX = "/_sandbox"
#: Control routes named with this prefix stand for a vendor read (benchmark probes): faults and the log apply.
PROBE_PREFIX = "probe:"


def is_probe(request: web.Request) -> bool:
    """Tell whether the request was routed to a probe route (see `PROBE_PREFIX`)."""
    name = request.match_info.route.name
    return name is not None and name.startswith(PROBE_PREFIX)


def fault_body(fault: Fault, status: int) -> bytes:
    """The bytes an injected fault answers with: a ``bytes`` body as it is, text as UTF-8, else JSON."""
    body = fault.body
    if isinstance(body, bytes):
        return body
    if body is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Error"
        body = {"error": reason.replace(" ", ""), "description": "sandbox injected fault"}
    text = body if isinstance(body, str) else json.dumps(body)
    return text.encode("utf-8")


def fault_headers(fault: Fault) -> dict[str, str]:
    """The headers of an injected fault's answer (its own, Retry-After, Content-Type)."""
    headers = dict(fault.headers)
    if fault.retry_after is not None:
        headers["Retry-After"] = fault.retry_after
    # content_type may carry a charset; set the header verbatim rather than through aiohttp's parser.
    headers["Content-Type"] = fault.content_type
    return headers


def fault_response(fault: Fault, status: int) -> web.Response:
    """Build the response an injected fault answers with (all at once)."""
    return web.Response(status=status, body=fault_body(fault, status), headers=fault_headers(fault))


async def dripped_response(request: web.Request, fault: Fault, status: int) -> web.StreamResponse:
    """Answer with the fault's body ``drip_bytes`` at a time, ``drip_seconds`` apart (a slow host)."""
    body = fault_body(fault, status)
    response = web.StreamResponse(status=status, headers=fault_headers(fault))
    response.content_length = len(body)
    await response.prepare(request)
    step = max(int(fault.drip_bytes), 1)
    for start in range(0, len(body), step):
        await response.write(body[start : start + step])
        await asyncio.sleep(fault.drip_seconds)
    await response.write_eof()
    return response


@web.middleware
async def sandbox_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply a matching fault, else run the handler; log the request either way (never a credential).

    Control routes (/_sandbox/...) bypass both, except probes (see `PROBE_PREFIX`)."""
    state = request.app[STATE_KEY]
    arrived = state.clock()

    def log(status: int, fault: bool = False) -> None:
        state.record(
            RequestRecord(
                method=request.method,
                path=request.path,
                query=redact_query(request.query_string),
                auth=request.get(AUTH_KIND, "none"),
                status=status,
                at=arrived,
                fault=fault,
            )
        )

    if request.path.startswith(CONTROL_PREFIX) and not is_probe(request):  # no faults, not logged
        return await handler(request)
    fault = state.take_fault(request.method, request.path)
    if fault is not None:
        if fault.delay > 0:
            await asyncio.sleep(fault.delay)
        if fault.reset:
            log(0, fault=True)
            if request.transport is not None:
                request.transport.close()
            # The transport is closed: aiohttp drops whatever is written to it.
            return web.Response(status=500)
        if fault.drop_response:  # the request is handled (a job may be created), the answer is lost
            response = await handler(request)
            log(0, fault=True)
            if request.transport is not None:
                request.transport.close()
            return response
        if fault.status is not None:
            log(fault.status, fault=True)
            if fault.drip_seconds > 0:
                return await dripped_response(request, fault, fault.status)
            return fault_response(fault, fault.status)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        log(exc.status)
        raise
    log(response.status)
    return response
