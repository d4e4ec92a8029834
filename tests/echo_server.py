"""A small aiohttp server on 127.0.0.1, in its own thread, for tests of the transports over real HTTP.

Every request it receives is recorded (:class:`Seen`: method, path, query, headers, raw body). Routes:

- ``ANY /echo``: 200 with JSON of what was received (method, query, content type, body as text);
- ``GET /auth``: 200 ``{"ok": true}`` when ``Authorization`` is ``Bearer <server.token>``, else 401;
- ``GET /stream?n=N&chunk=C``: N bytes of ``x`` in pieces of C, chunked (no Content-Length);
- ``GET /sized?n=N``: N bytes of ``x`` with a Content-Length;
- ``GET /says?text=T&chunk=C``: ``T`` sent in pieces of C bytes (a secret split across chunks);
- ``GET /redirect?to=URL``: 302 to URL;
- ``POST /token``: an OAuth token endpoint: a form with ``grant_type=client_credentials``, ``client_id``
  and ``client_secret``; answers ``{"access_token": server.token}``, and counts the grants.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str] = field(repr=False)  # case-insensitive
    body: bytes = field(repr=False)


class EchoServer:
    """Start with ``with EchoServer() as server:``; ``server.url`` is its origin."""

    def __init__(self, token: str = "echo-token-0000") -> None:
        self.token = token
        self.client_secret = "client-secret-0000"
        self.grants = 0
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> EchoServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def requests(self, path: str | None = None) -> list[Seen]:
        """The requests received so far (on ``path`` only, when given)."""
        with self.lock:
            return [seen for seen in self.seen if path is None or seen.path == path]

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._record])
        app.router.add_route("*", "/echo", self._echo)
        app.router.add_get("/auth", self._auth)
        app.router.add_get("/stream", self._stream)
        app.router.add_get("/sized", self._sized)
        app.router.add_get("/says", self._says)
        app.router.add_get("/redirect", self._redirect)
        app.router.add_post("/token", self._token)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        seen = Seen(request.method, request.path, request.query_string, CIMultiDict(request.headers), body)
        with self.lock:
            self.seen.append(seen)
        response: web.StreamResponse = await handler(request)
        return response

    async def _echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "query": request.query_string,
                "content_type": request.headers.get("Content-Type"),
                "body": body.decode("latin-1"),
            }
        )

    async def _auth(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "bad token"}, status=401)
        return web.json_response({"ok": True})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        size, chunk = int(request.query["n"]), int(request.query.get("chunk", "65536"))
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for start in range(0, size, chunk):
                await response.write(b"x" * min(chunk, size - start))
        except (ConnectionResetError, RuntimeError):  # the client stopped reading
            return response
        await response.write_eof()
        return response

    async def _sized(self, request: web.Request) -> web.Response:
        return web.Response(body=b"x" * int(request.query["n"]), content_type="application/octet-stream")

    async def _says(self, request: web.Request) -> web.StreamResponse:
        text, chunk = request.query["text"].encode(), int(request.query.get("chunk", "3"))
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(text), chunk):
            await response.write(text[start : start + chunk])
            await asyncio.sleep(0.001)  # each piece its own TCP write
        await response.write_eof()
        return response

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        good = (
            form.get("grant_type") == "client_credentials"
            and form.get("client_id") == "client-1"
            and form.get("client_secret") == self.client_secret
        )
        if not good:
            return web.json_response({"error": "invalid_client"}, status=401)
        with self.lock:
            self.grants += 1
        return web.Response(text=json.dumps({"access_token": self.token}), content_type="application/json")
