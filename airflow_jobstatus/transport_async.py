"""Non-blocking HTTP for triggers: one aiohttp session shared per event loop.

Opening a session per poll costs several times the CPU of reusing one (TLS handshakes, connector
set-up), so every trigger of a triggerer process shares one session per event loop. Users of the
session hold a lease; the session closes when the last lease ends. The retry and error policy is
the one in :mod:`airflow_jobstatus.transport`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import aiohttp

from airflow_jobstatus.budget import DEFAULT_HOLD
from airflow_jobstatus.checks import sane_delay
from airflow_jobstatus.errors import PermanentVendorError, TransientVendorError
from airflow_jobstatus.transport import (
    READ_CHUNK,
    ApiTarget,
    CappedBody,
    RetryPolicy,
    certificate_error,
    error_reason,
    interpret_response,
    is_certificate_failure,
    parsed,
    wait_before_retry,
    without_query,
)

if TYPE_CHECKING:
    from airflow_jobstatus.budget import RateBudget

log = logging.getLogger(__name__)

#: Answers at least this large are decoded and parsed in a worker thread, off the event loop.
OFFLOAD_BYTES = 16 * 1024


class _SharedSession:
    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.leases = 0


_sessions: dict[asyncio.AbstractEventLoop, _SharedSession] = {}


@asynccontextmanager
async def shared_session() -> AsyncIterator[aiohttp.ClientSession]:
    """Lease the event loop's shared session, creating it on first use and closing it after the last."""
    loop = asyncio.get_running_loop()
    shared = _sessions.setdefault(loop, _SharedSession())
    if shared.session is None or shared.session.closed:
        shared.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=60, sock_connect=10),
        )
    shared.leases += 1
    try:
        yield shared.session
    finally:
        shared.leases -= 1
        if shared.leases == 0:
            session, shared.session = shared.session, None
            _sessions.pop(loop, None)
            if session is not None:
                await session.close()


def session_count() -> int:
    """How many shared sessions are open in this process (for tests and benchmarks)."""
    return sum(1 for shared in _sessions.values() if shared.session is not None)


_parser: ThreadPoolExecutor | None = None


def _parser_thread() -> ThreadPoolExecutor:
    """One thread for every large answer of the process: with more, they would take turns on the GIL with
    the event loop and slow it down instead of freeing it."""
    global _parser
    if _parser is None:
        _parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobstatus-parse")
    return _parser


class AsyncTransport:
    """Non-blocking twin of :class:`~airflow_jobstatus.transport.SyncTransport` on a leased session.

    With a ``budget``, every request (retries included) first takes a token from it, and a 429 holds
    the budget for its Retry-After, slowing every user of the budget.
    """

    def __init__(
        self,
        target: ApiTarget,
        session: aiohttp.ClientSession,
        retry: RetryPolicy | None = None,
        budget: RateBudget | None = None,
    ) -> None:
        self.target = target
        self.retry = retry or RetryPolicy()
        self.budget = budget
        self._session = session

    async def request_json(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        retry: bool | None = None,
        parse: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Async twin of :meth:`~airflow_jobstatus.transport.SyncTransport.request_json`."""
        attempts = self.retry.attempts_for(method, retry)
        url = self.target.url(path_or_url)
        for attempt in range(1, attempts + 1):
            try:
                if self.budget is not None:
                    await self.budget.acquire()
                status, headers, body, final_url = await self._send(method, url, params, json_body)
                if len(body) < OFFLOAD_BYTES:
                    return self._answer(method, final_url, status, headers, body, parse)
                # A large answer (e.g. 100 Zendesk jobs) is decoded and validated in a thread, so the event
                # loop the other triggers share keeps running (Python switches threads every few ms).
                return await asyncio.get_running_loop().run_in_executor(
                    _parser_thread(), self._answer, method, final_url, status, headers, body, parse
                )
            except Exception as error:
                if self.budget is not None and isinstance(error, TransientVendorError):
                    self._hold_budget(self.budget, error)
                await asyncio.sleep(wait_before_retry(self.retry, error, attempt, attempts))
        raise AssertionError("unreachable")

    def _hold_budget(self, budget: RateBudget, error: TransientVendorError) -> None:
        """The vendor asked us to slow down (429, or a Retry-After): every user of the budget waits."""
        if error.retry_after is not None:
            budget.hold(
                sane_delay(error.retry_after, fallback=DEFAULT_HOLD, ceiling=self.retry.retry_after_max)
            )
        elif error.status == 429:
            budget.hold(DEFAULT_HOLD)

    def _answer(
        self,
        method: str,
        url: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        parse: Callable[[Any], Any] | None,
    ) -> Any:
        payload = interpret_response(self.target, method, url, status, headers, body)
        return parsed(self.target, method, url, status, payload, parse)

    async def _send(
        self, method: str, url: str, params: Mapping[str, str] | None, json_body: Any
    ) -> tuple[int, Mapping[str, str], bytes, str]:
        where = f"{method} {without_query(url)}"
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                json=json_body,
                headers=self.target.headers_for(url),
                timeout=aiohttp.ClientTimeout(total=self.target.timeout),
                allow_redirects=False,
            ) as response:
                body = await self._read_capped(response, where)
                return response.status, response.headers, body, str(response.url)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            if is_certificate_failure(error):
                raise certificate_error(self.target, where, error) from None
            raise TransientVendorError(
                f"could not reach {self.target.vendor} ({where}): {type(error).__name__}",
                reached=not isinstance(error, aiohttp.ClientConnectorError),
            ) from None
        except (ValueError, UnicodeError) as error:  # a request or an answer aiohttp cannot handle
            raise PermanentVendorError(
                f"could not call {self.target.vendor} ({where}): {error_reason(error)}"
            ) from None

    async def _read_capped(self, response: aiohttp.ClientResponse, where: str) -> bytes:
        """The (decompressed) body, read in pieces: ResponseTooLarge as soon as it passes the cap, so a
        gzip bomb or an endless answer never fills the triggerer's memory."""
        capped = CappedBody(self.target, where, response.headers)
        async for chunk in response.content.iter_chunked(READ_CHUNK):
            capped.add(chunk)
        return capped.value()
