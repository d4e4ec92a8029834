"""Small aiohttp helpers shared by every vendor module: app key, JSON errors, auth header parsing."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .state import SandboxState

STATE_KEY: web.AppKey[SandboxState] = web.AppKey("sandbox_state", SandboxState)

# Where the API wrapper leaves the kind of credential used, for the request log ("token", "bad", ...).
AUTH_KIND: Any = web.RequestKey("auth_kind", str) if hasattr(web, "RequestKey") else "auth_kind"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(Exception):
    """A client error a handler turns into a vendor-style JSON error response."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        """Keep the vendor error code, its description and the HTTP status."""
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def json_error(
    status: int, error: str, description: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    """Return a JSON error `{"error": ..., "description": ...}` (no description key when None)."""
    body: dict[str, Any] = {"error": error}
    if description is not None:
        body["description"] = description
    return web.json_response(body, status=status, headers=headers)


def add_route(
    app: web.Application, method: str, path: str, handler: Handler, json_suffix: bool = True
) -> None:
    """Register `path`, and first `path + ".json"` (so `{id}` never swallows the suffix)."""
    if json_suffix:
        app.router.add_route(method, path + ".json", handler)
    app.router.add_route(method, path, handler)


def parse_authorization(header: str | None) -> tuple[str, str, str] | None:
    """Split an Authorization header into ("basic", user, password) or ("bearer", token, "").

    Return None when there is no header, and ("bad", "", "") when it cannot be parsed.
    """
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return ("bearer", value, "")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ("bad", "", "")
        user, sep, password = decoded.partition(":")
        if sep:
            return ("basic", user, password)
    return ("bad", "", "")


def base_url(request: web.Request) -> str:
    """Return `scheme://host[:port]` as the client addressed this server."""
    return f"{request.scheme}://{request.host}"


async def read_json(request: web.Request, required: bool = True) -> Any:
    """Return the parsed JSON body; None for an empty body unless `required`.

    Raise BadRequest for an unparseable or (when required) missing body.
    """
    raw = await request.read()
    if not raw.strip():
        if required:
            raise BadRequest("InvalidValue", "Request body is missing")
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("InvalidValue", f"Request body is not valid JSON: {exc}") from exc


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """Return the JSON object body of a control request ({} when empty); raise BadRequest otherwise."""
    body = await read_json(request, required=False)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest("InvalidValue", "Body must be a JSON object")
    return body


def answer_bad_requests(handler: Handler) -> Handler:
    """Wrap a handler so that a BadRequest it raises becomes its JSON error response."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadRequest as exc:
            return json_error(exc.status, exc.error, exc.description)

    return wrapped


def split_csv(value: str | None) -> list[str]:
    """Split a comma-separated query value, dropping empty parts."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def int_list(values: list[Any], name: str) -> list[int]:
    """Convert ids to ints, raising BadRequest naming `name` for anything that is not an integer."""
    out: list[int] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise BadRequest("InvalidValue", f"{name} must be integers, got {value!r}")
        try:
            out.append(int(value))
        except ValueError as exc:
            raise BadRequest("InvalidValue", f"{name} must be integers, got {value!r}") from exc
    return out
