"""Wistia Data API routes under /wistia: bearer auth, the account rate limit, background job statuses, every
job-creating call, and the `/_sandbox/wistia/...` control routes.

A test connection's host is `http://HOST:PORT/wistia`, standing for `https://api.wistia.com/modern`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .control import add_vendor_control
from .webutil import (
    AUTH_KIND,
    STATE_KEY,
    BadRequest,
    Handler,
    answer_bad_requests,
    parse_authorization,
    read_json,
)
from .wistia_jobs import (
    WistiaError,
    WistiaSandboxConfig,
    WistiaState,
    check_move_limit,
    check_trims,
    contains_marker,
    error,
    id_list,
    limited_ids,
    optional,
    required,
)

PREFIX = "/wistia"


def auth_kind(header: str | None, config: WistiaSandboxConfig) -> str:
    """Classify an Authorization header: "bearer" (the account's token), "none" or "bad"."""
    parsed = parse_authorization(header)
    if parsed is None:
        return "none"
    scheme, token, _ = parsed
    if scheme == "bearer" and hmac.compare_digest(token.encode(), config.api_token.encode()):
        return "bearer"
    return "bad"


def _rate_limited(config: WistiaSandboxConfig, wait: int) -> web.Response:
    status, headers = config.rate_limit_status, {"Retry-After": str(wait)}
    if config.rate_limit_text:
        return web.Response(
            status=status, text="Rate limit exceeded", content_type="text/plain", headers=headers
        )
    return web.json_response({"error": "Rate limit exceeded"}, status=status, headers=headers)


def api(handler: Handler) -> Handler:
    """Wrap a Wistia API handler: record the API version header, authenticate, apply the account rate
    limit, and turn a WistiaError or BadRequest into its JSON answer."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        wistia = request.app[STATE_KEY].wistia
        with wistia.lock:
            wistia.api_versions.append(request.headers.get("X-Wistia-API-Version"))
            kind = auth_kind(request.headers.get("Authorization"), wistia.config)
        request[AUTH_KIND] = kind
        if kind != "bearer":
            return web.json_response({"error": "Invalid credentials."}, status=401)
        wait = wistia.hit_account_limit()
        if wait is not None:
            return _rate_limited(wistia.config, wait)
        try:
            return await handler(request)
        except WistiaError as exc:
            return web.json_response(exc.body, status=exc.status, headers=exc.headers)
        except BadRequest as exc:
            return web.json_response({"error": exc.description}, status=exc.status)

    return wrapped


# ----- reading request bodies -----
async def read_body(request: web.Request) -> dict[str, Any]:
    """Return the JSON object body ({} when empty); 400 when it is not JSON or not an object."""
    body = await read_json(request, required=False)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise error(400, "Request body must be a JSON object")
    return body


# ----- job-creating calls -----
@dataclass(frozen=True)
class Accepted:
    """What a validated call answers: HTTP status, number of media (or 1), and keys besides the job."""

    status: int
    count: int
    extra: dict[str, Any]


Validator = Callable[[web.Request, dict[str, Any], WistiaState], Accepted]


def _folder(folder_id: Any) -> dict[str, Any]:
    return {"type": "Project", "name": f"Folder {folder_id}", "hashedId": folder_id}


def tag(request: web.Request, body: dict[str, Any], wistia: WistiaState) -> Accepted:
    """POST /taggings/bulk_create."""
    ids, tags = id_list(body, "hashed_ids"), id_list(body, "tag_names", "tag names")
    return Accepted(200, len(ids), {"message": f"Tagging {len(ids)} media with {len(tags)} tags"})


def trim(request: web.Request, body: dict[str, Any], wistia: WistiaState) -> Accepted:
    """POST /medias/{hashed_id}/trims."""
    check_trims(body, wistia.config.media_seconds)
    return Accepted(200, 1, {})


def archive(request: web.Request, body: dict[str, Any], wistia: WistiaState) -> Accepted:
    """PUT /medias/archive."""
    ids = limited_ids(body, wistia, "archive")
    return Accepted(200, len(ids), {"message": f"Archiving {len(ids)} media"})


def restore(request: web.Request, body: dict[str, Any], wistia: WistiaState) -> Accepted:
    """PUT /medias/restore."""
    ids = limited_ids(body, wistia, "restore")
    folder = required(body, "folder_id")
    extra = {"message": f"Restoring {len(ids)} media to folder {folder}", "container": _folder(folder)}
    return Accepted(200, len(ids), extra)


def move(request: web.Request, body: dict[str, Any], wistia: WistiaState) -> Accepted:
    """PUT /medias/move: 207 with `partial_errors` when some media do not exist."""
    ids = id_list(body, "hashed_ids")
    limit = wistia.config.max_media
    if len(ids) > limit:
        raise error(400, f"You can only request to move {limit} or less media at one time.")
    folder = required(body, "folder_id")
    optional(body, "subfolder_id")
    missing = [hashed_id for hashed_id in ids if wistia.is_missing(hashed_id)]
    extra: dict[str, Any] = {"message": f"Moving {len(ids) - len(missing)} media to folder {folder}"}
    if missing:
        extra["partial_errors"] = [{"media_id": m, "error": "Media not found"} for m in missing]
    return Accepted(207 if missing else 200, len(ids), extra)


def copy_media(request: web.Request, body: dict[str, Any], wistia: WistiaState) -> Accepted:
    """PUT /medias/copy."""
    ids = id_list(body, "hashed_ids")
    folder = required(body, "folder_id")
    extra = {"message": f"Copying {len(ids)} media to folder {folder}", "destination": _folder(folder)}
    return Accepted(200, len(ids), extra)


def swap(request: web.Request, body: dict[str, Any], wistia: WistiaState) -> Accepted:
    """PUT /medias/{hashed_id}/swap."""
    hashed_id = request.match_info["hashed_id"]
    replacement = required(body, "replacement_media_id")
    media = {"hashed_id": hashed_id, "name": f"Media {hashed_id}"}
    return Accepted(200, 1, {"message": f"Swapping media {hashed_id} with {replacement}", "media": media})


def translate(request: web.Request, body: dict[str, Any], wistia: WistiaState) -> Accepted:
    """POST /medias/{hashed_id}/translate."""
    target = required(body, "target_language")
    optional(body, "source_language")
    return Accepted(201, 1, {"message": f"Translating media {request.match_info['hashed_id']} into {target}"})


def import_url(request: web.Request, body: dict[str, Any], wistia: WistiaState) -> Accepted:
    """POST /medias/import_url."""
    url = required(body, "url")
    optional(body, "folder_id")
    return Accepted(201, 1, {"message": f"Importing media from {url}"})


def copy_folder(request: web.Request, body: dict[str, Any], wistia: WistiaState) -> Accepted:
    """POST /folders/{id}/copy (the body may be empty)."""
    optional(body, "adminEmail")
    return Accepted(202, 1, {})


def bulk_delete(request: web.Request, body: dict[str, Any], wistia: WistiaState) -> Accepted:
    """DELETE /folders/{id}/subfolders/bulk_delete."""
    ids = id_list(body, "hashed_ids")
    message = f"Deleting {len(ids)} subfolders of folder {request.match_info['id']}"
    return Accepted(200, len(ids), {"message": message})


def submit_handler(validate: Validator, before: Callable[[WistiaState], None] | None = None) -> Handler:
    """Build the handler of one job-creating call: run `before` (a route limit), read and validate the
    body, then create the job (failed in the end if the body or the path carries JOB_FAIL_MARKER)."""

    async def submit(request: web.Request) -> web.StreamResponse:
        wistia = request.app[STATE_KEY].wistia
        if before is not None:
            before(wistia)
        body = await read_body(request)
        accepted = validate(request, body, wistia)
        failed = contains_marker(body) or contains_marker(list(request.match_info.values()))
        outcome = "failed" if failed else "finished"
        job = wistia.submit(request.method, request.path, accepted.count, body, outcome)
        answer = {**accepted.extra, "background_job_status": job.render(job.created, as_submitted=True)}
        return web.json_response(answer, status=accepted.status)

    return submit


async def show_job(request: web.Request) -> web.StreamResponse:
    """GET /background_job_status/{id}: `{"background_job_status": {id, status}}`; 404 with no body."""
    wistia = request.app[STATE_KEY].wistia
    raw = request.match_info["id"]
    job = wistia.get(int(raw)) if raw.isascii() and raw.isdigit() else None
    if job is None:
        return web.Response(status=404)
    return web.json_response({"background_job_status": job.render(wistia.clock())})


async def account(request: web.Request) -> web.StreamResponse:
    """GET /account: a fixed account (a cheap call for test_connection)."""
    body = {"id": 1, "name": "Sandbox account", "url": "https://sandbox.wistia.com", "mediaCount": 0}
    return web.json_response(body)


async def unknown_endpoint(request: web.Request) -> web.StreamResponse:
    """Any other /wistia path: 404."""
    return web.json_response({"error": "Not found"}, status=404)


# ----- control routes -----
async def control_jobs(request: web.Request) -> web.StreamResponse:
    """GET /_sandbox/wistia/jobs: every job as the API shows it now, plus the accepted submits."""
    wistia = request.app[STATE_KEY].wistia
    now = wistia.clock()
    with wistia.lock:
        jobs = [job.render(now) for job in wistia.jobs.values()]
        submits = [vars(s) for s in wistia.submits]
    return web.json_response({"jobs": jobs, "submits": submits})


@dataclass(frozen=True)
class Call:
    """One job-creating call: method, path under /wistia, its validator, and an optional route limit."""

    method: str
    path: str
    validate: Validator
    before: Callable[[WistiaState], None] | None = None


# The fixed /medias/... paths come before /medias/{hashed_id}/... ones.
CALLS: tuple[Call, ...] = (
    Call("POST", "/taggings/bulk_create", tag),
    Call("PUT", "/medias/archive", archive),
    Call("PUT", "/medias/restore", restore),
    Call("PUT", "/medias/move", move, check_move_limit),
    Call("PUT", "/medias/copy", copy_media),
    Call("POST", "/medias/import_url", import_url),
    Call("POST", "/medias/{hashed_id}/trims", trim),
    Call("PUT", "/medias/{hashed_id}/swap", swap),
    Call("POST", "/medias/{hashed_id}/translate", translate),
    Call("POST", "/folders/{id}/copy", copy_folder),
    Call("DELETE", "/folders/{id}/subfolders/bulk_delete", bulk_delete),
)


def add_routes(app: web.Application) -> None:
    """Register the Wistia API and control routes (the catch-all last)."""
    app.router.add_get(PREFIX + "/account", api(account))
    app.router.add_get(PREFIX + "/background_job_status/{id}", api(show_job))
    for call in CALLS:
        app.router.add_route(call.method, PREFIX + call.path, api(submit_handler(call.validate, call.before)))
    app.router.add_route("*", PREFIX + "/{tail:.*}", api(unknown_endpoint))
    app.router.add_get("/_sandbox/wistia/jobs", answer_bad_requests(control_jobs))
    add_vendor_control(
        app,
        "wistia",
        lambda state: state.wistia,
        set_fields=frozenset({"missing_media"}),
        secret_fields=frozenset({"api_token"}),
    )
