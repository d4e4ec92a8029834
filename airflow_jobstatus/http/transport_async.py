"""Non-blocking HTTP for triggers: one aiohttp session shared per event loop.

Opening a session per poll costs several times the CPU of reusing one (TLS handshakes, connector
set-up), so every trigger of a triggerer process shares one session per event loop. Users of the
session hold a lease; the session closes when the last lease ends. The retry and error policy, the
general request and the refresh of rejected credentials are those of :mod:`airflow_jobstatus.http.transport`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp

from airflow_jobstatus.errors import PermanentVendorError, TransientVendorError
from airflow_jobstatus.http.exchange import AsyncAnswer, Body, Outgoing, StreamScrubber, request_headers
from airflow_jobstatus.http.per_loop import PerLoop
from airflow_jobstatus.http.transport import (
    AUTH_STATUSES,
    READ_CHUNK,
    ApiTarget,
    CappedBody,
    RetryPolicy,
    as_auth,
    certificate_error,
    error_reason,
    hold_budget,
    interpret_response,
    is_certificate_failure,
    json_body_of,
    parsed,
    raise_for_status,
    refreshed_notice,
    wait_before_retry,
    without_query,
)

if TYPE_CHECKING:
    from airflow_jobstatus.http.auth import Auth
    from airflow_jobstatus.http.budget import RateBudget

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Answers at least this large are decoded and parsed in a worker thread, off the event loop.
OFFLOAD_BYTES = 16 * 1024


#: Each event loop's one HTTP session, leased by every transport (:mod:`airflow_jobstatus.http.per_loop`).
_sessions: PerLoop[str, aiohttp.ClientSession] = PerLoop()


def _new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300),
        timeout=aiohttp.ClientTimeout(total=60, sock_connect=10),
    )


async def _close_session(session: aiohttp.ClientSession) -> None:
    await session.close()


@asynccontextmanager
async def shared_session() -> AsyncIterator[aiohttp.ClientSession]:
    """Lease the event loop's shared session, creating it on first use and closing it after the last."""
    async with _sessions.lease("session", _new_session, _close_session) as session:
        yield session


def session_count() -> int:
    """How many shared sessions are open in this process (for tests and benchmarks)."""
    return sum(1 for session in _sessions.values() if not session.closed)


_parser: ThreadPoolExecutor | None = None


def _parser_thread() -> ThreadPoolExecutor:
    """One thread for every large answer of the process: with more, they would take turns on the GIL with
    the event loop and slow it down instead of freeing it."""
    global _parser
    if _parser is None:
        _parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobstatus-parse")
    return _parser


class AsyncTransport:
    """Non-blocking twin of :class:`~airflow_jobstatus.http.transport.SyncTransport` on a leased session.

    With a ``budget``, every request to the API host (retries and a resend after a refresh included) first
    waits for its turn (:mod:`airflow_jobstatus.http.budget`), its answer's rate-limit headers steer the
    account's budget, and a 429 holds the account for its Retry-After, slowing every user of it. Every
    request through one transport shares its auth: a refresh serves them all.
    """

    def __init__(
        self,
        target: ApiTarget | Auth,
        session: aiohttp.ClientSession,
        retry: RetryPolicy | None = None,
        budget: RateBudget | None = None,
    ) -> None:
        self.auth = as_auth(target)
        self.retry = retry or RetryPolicy()
        self.budget = budget
        self._session = session

    @property
    def target(self) -> ApiTarget:
        """The API target in force (it changes when the auth is refreshed)."""
        return self.auth.target

    @target.setter
    def target(self, value: ApiTarget) -> None:
        self.auth.target = value

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool | None = None,
        stream: bool = False,
        max_bytes: int | None = None,
        timeout: float | None = None,
    ) -> AsyncAnswer:
        """Async twin of :meth:`~airflow_jobstatus.http.transport.SyncTransport.request` (a streamed answer's
        ``chunks`` are an async iterator: close it with ``async with``)."""
        out = Outgoing(method, path_or_url, params, body, headers, stream, max_bytes, timeout)

        async def whole(target: ApiTarget, answer: AsyncAnswer) -> AsyncAnswer:
            if not stream:
                answer.body = await self._off_loop(target.scrub, answer.body)
            return answer

        return await self._call(out, retry, whole)

    async def request_json(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        retry: bool | None = None,
        parse: Callable[[Any], Any] | None = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Async twin of :meth:`~airflow_jobstatus.http.transport.SyncTransport.request_json`."""
        out = Outgoing(method, path_or_url, params, json_body_of(json_body, body), headers)

        def read(target: ApiTarget, answer: AsyncAnswer) -> Any:
            payload = interpret_response(
                target, method, answer.url, answer.status, answer.headers, answer.body
            )
            return parsed(target, method, target.url(path_or_url), answer.status, payload, parse)

        async def decoded(target: ApiTarget, answer: AsyncAnswer) -> Any:
            # A large answer (e.g. 100 Zendesk jobs) is decoded and validated in a thread, so the event
            # loop the other triggers share keeps running (Python switches threads every few ms).
            return await self._off_loop(lambda body: read(target, answer), answer.body)

        return await self._call(out, retry, decoded)

    async def _call(
        self, out: Outgoing, retry: bool | None, then: Callable[[ApiTarget, AsyncAnswer], Awaitable[T]]
    ) -> T:
        attempts = self.retry.attempts_for(out.method, retry)
        for attempt in range(1, attempts + 1):
            try:
                target, answer = await self._exchange(out)
                try:
                    return await then(target, answer)
                except BaseException:
                    await answer.aclose()
                    raise
            except Exception as error:
                hold_budget(self.budget, error, self.retry)
                await asyncio.sleep(wait_before_retry(self.retry, error, attempt, attempts))
        raise AssertionError("unreachable")

    async def _exchange(self, out: Outgoing) -> tuple[ApiTarget, AsyncAnswer]:
        """One try: the request, sent once more with fresh credentials if the API host refused those it
        carried (and the refresh changed them: requests refused together share one refresh)."""
        refreshed = False
        while True:
            used, target = self.auth.version, self.auth.target
            url = target.url(out.path_or_url)
            answer = await self._budgeted_send(target, url, out)
            if answer.status in AUTH_STATUSES and not refreshed and target.same_origin(url):
                refreshed = True
                if await self.auth.arenew(used):
                    refreshed_notice(target, answer.status, out.method, url)
                    continue
            if not 200 <= answer.status < 300:
                fail = functools.partial(raise_for_status, target, out.method, answer.url, answer.status)
                await self._off_loop(functools.partial(fail, answer.headers), answer.body)
            return target, answer

    async def _off_loop(self, work: Callable[[bytes], T], body: bytes) -> T:
        """``work(body)``: here for a small body, in the parser thread for a large one."""
        if len(body) < OFFLOAD_BYTES:
            return work(body)
        return await asyncio.get_running_loop().run_in_executor(_parser_thread(), work, body)

    async def _budgeted_send(self, target: ApiTarget, url: str, out: Outgoing) -> AsyncAnswer:
        """:meth:`_send`, after waiting for the account's budget when the URL is on the API host."""
        if self.budget is None or not target.same_origin(url):
            return await self._send(target, url, out)
        async with self.budget.spend() as spend:
            answer = await self._send(target, url, out)
            spend.saw(answer.status, answer.headers)
            return answer

    async def _send(self, target: ApiTarget, url: str, out: Outgoing) -> AsyncAnswer:
        where = f"{out.method} {without_query(url)}"
        headers = request_headers(self.auth.headers_for(url), target.headers, out.headers, out.body)
        response: aiohttp.ClientResponse | None = None
        try:
            response = await self._session.request(
                out.method,
                url,
                params=out.params,
                data=out.body.content if out.body is not None else None,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=out.timeout or target.timeout),
                allow_redirects=False,
            )
            status = response.status
            streamed = out.stream and 200 <= status < 300
            limit = out.max_bytes if 200 <= status < 300 else None
            capped = CappedBody(target, where, response.headers, limit, keep=not streamed)
            if streamed:
                chunks = self._streamed(target, response, where, capped)
                answer = AsyncAnswer(
                    status,
                    response.headers,
                    str(response.url),
                    chunks=chunks,
                    _close=_closer(chunks, response),
                )
                response = None  # the answer owns it now
                return answer
            async for chunk in response.content.iter_chunked(READ_CHUNK):
                capped.add(chunk)
            return AsyncAnswer(status, response.headers, str(response.url), body=capped.value())
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            if is_certificate_failure(error):
                raise certificate_error(target, where, error) from None
            raise TransientVendorError(
                f"could not reach {target.vendor} ({where}): {type(error).__name__}",
                reached=not isinstance(error, aiohttp.ClientConnectorError),
            ) from None
        except (ValueError, UnicodeError) as error:  # a request or an answer aiohttp cannot handle
            raise PermanentVendorError(
                f"could not call {target.vendor} ({where}): {error_reason(error)}"
            ) from None
        finally:
            if response is not None:  # as ``async with response`` would: back to the pool, writer done
                response.release()
                await response.wait_for_close()

    async def _streamed(
        self, target: ApiTarget, response: aiohttp.ClientResponse, where: str, capped: CappedBody
    ) -> AsyncIterator[bytes]:
        """A streamed answer's chunks: counted against the cap, scrubbed, within the target's timeout
        (aiohttp's total timeout covers the whole answer)."""
        scrubber = StreamScrubber(target.secrets)
        try:
            async for chunk in response.content.iter_chunked(READ_CHUNK):
                capped.add(chunk)
                piece = scrubber.feed(chunk)
                if piece:
                    yield piece
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            raise TransientVendorError(
                f"the answer of {target.vendor} to {where} was cut off: {type(error).__name__}"
            ) from None
        finally:
            response.release()
        tail = scrubber.finish()
        if tail:
            yield tail


def _closer(chunks: AsyncIterator[bytes], response: aiohttp.ClientResponse) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        closing = getattr(chunks, "aclose", None)
        if closing is not None:
            await closing()
        response.close()

    return close
