"""An exact rate budget across processes, in a Redis every process of the deployment reaches.

Set once in the provider's config section: ``[jobstatus] rate_limit_storage = redis://host:6379/1``
(``AIRFLOW__JOBSTATUS__RATE_LIMIT_STORAGE``); ``rediss://`` for TLS, a password in the URL as Redis takes
it. Every triggerer and worker then counts each request to a vendor account in one moving window of a
minute and two seconds (:data:`STORE_WINDOW`) in that Redis (the ``limits`` library, extra
``airflow-jobstatus[redis]``), so all of them together send at most the connection's
``requests_per_minute``, and never more than the account's own limit minus its reserve where the vendor
reports it.

**When the store is down** (refused, timed out, or any error of the client), the request is not held up:
the process falls back to its own budget (:mod:`airflow_jobstatus.http.budget`: the connection's rate and
what the account's answers say), logs one warning, and tries the store again after
:data:`RETRY_STORE_AFTER` seconds; it logs again once the store answers. An outage of Redis thus never
stops a wait, and the vendor's own headers still keep the account out of 429 meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from airflow_jobstatus.errors import ConfigurationError
from airflow_jobstatus.http.per_loop import PerLoop

log = logging.getLogger(__name__)

#: The provider's config option naming the store.
STORAGE_OPTION = "rate_limit_storage"
#: The URL schemes accepted (Redis over TCP, TLS or a socket, as redis-py and ``limits`` read them).
SCHEMES = ("redis", "rediss", "unix")
#: The store's window, in seconds: the vendor's minute, plus room for the time between a request's count
#: here and its arrival at the vendor (the vendor's window runs on arrivals: counted over exactly 60 s, a
#: request counted just as the oldest left the window may arrive just before the vendor's oldest leaves).
STORE_WINDOW = 62
#: Seconds the account's allowance stays in the store after a process last saw it change.
ALLOWANCE_TTL = 3600
#: Seconds a process that has not heard from the vendor keeps the allowance it read from the store.
REFETCH_ALLOWANCE = 10.0
#: Seconds after a failure before the store is tried again.
RETRY_STORE_AFTER = 30.0
#: Seconds the client waits for the store before counting it down.
STORE_TIMEOUT = 2.0


def configured_storage() -> str:
    """The ``[jobstatus] rate_limit_storage`` URL ('' when unset), checked: a ConfigurationError names the
    option and the fix before any request is sent."""
    try:
        from airflow.configuration import conf

        url = (conf.get("jobstatus", STORAGE_OPTION, fallback="") or "").strip()
    except Exception:  # no Airflow configuration at all (a bare script): no shared store
        return ""
    if not url:
        return ""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigurationError(
            f"[jobstatus] {STORAGE_OPTION} must be a Redis URL such as redis://host:6379/1 (scheme one of "
            f"{', '.join(SCHEMES)}), not one with scheme '{scheme}'; leave it empty for a budget per process"
        )
    try:
        import limits  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            f"[jobstatus] {STORAGE_OPTION} needs the 'limits' package: pip install "
            "'airflow-jobstatus[redis]', or leave the option empty for a budget per process"
        ) from None
    return url


def where(url: str) -> str:
    """The store's host and port for a log line (never its password)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


class SharedBudget:
    """One vendor account's count in the shared store: :meth:`hit` (blocking) and :meth:`ahit` (async)
    take a request from it and return 0, or the seconds until the window has room. Never raises: a store
    that fails is skipped (see the module docstring)."""

    def __init__(self, url: str, account: str) -> None:
        self.url = url
        #: The key in the store: a digest, so no host or account name is written there.
        self.key = hashlib.sha256(account.encode()).hexdigest()[:24]
        self._down_until = float("-inf")
        self._down_logged = False
        self._lock = threading.Lock()
        #: Where the account's allowance (its limit minus the reserve) is kept for other processes.
        self.allowance_key = f"jobstatus:{self.key}:allowance"
        self._sync: Any = None
        self._client: Any = None
        self._async: PerLoop[str, Any] = PerLoop()
        self._published: int | None = None
        self._fetched: int | None = None
        self._fetched_until = float("-inf")

    def hit(self, per_minute: int, allowance: int | None) -> float:
        """Count one request of the account in the store (blocking); the seconds to wait when it is full.

        ``per_minute`` is the connection's rate; ``allowance`` what this process knows the account allows
        Airflow (its limit minus the reserve, from the vendor's headers; None: not known yet). The count
        allows the smaller, and the known allowance is kept in the store for processes that start later
        (each task try is a new process, which has not seen the vendor's headers yet)."""
        if self._skipping():
            return 0.0
        try:
            client = self._sync_client()
            known = self._sync_allowance(client, allowance)
            limiter = self._sync_limiter()
            item = _account_item(per_minute, known)
            if limiter.hit(item, "jobstatus", self.key):
                self._answered()
                return 0.0
            stats = limiter.get_window_stats(item, "jobstatus", self.key)
            self._answered()
            return _wait_until(stats.reset_time)
        except Exception as error:
            self._failed(error)
            return 0.0

    async def ahit(self, per_minute: int, allowance: int | None) -> float:
        """:meth:`hit` without blocking the event loop."""
        if self._skipping():
            return 0.0
        try:
            client = self._async.get("client", self._new_async_client)
            known = await self._async_allowance(client, allowance)
            limiter = self._async.get("limiter", self._new_async_limiter)
            item = _account_item(per_minute, known)
            if await limiter.hit(item, "jobstatus", self.key):
                self._answered()
                return 0.0
            stats = await limiter.get_window_stats(item, "jobstatus", self.key)
            self._answered()
            return _wait_until(stats.reset_time)
        except Exception as error:
            self._failed(error)
            return 0.0

    # --- the account's allowance, shared with processes that have not heard from the vendor yet -----
    def _sync_allowance(self, client: Any, allowance: int | None) -> int | None:
        if allowance is not None:
            if allowance != self._published:
                client.set(self.allowance_key, allowance, ex=ALLOWANCE_TTL)
                self._published = allowance
            return allowance
        if time.monotonic() >= self._fetched_until:
            self._fetched = _as_allowance(client.get(self.allowance_key))
            self._fetched_until = time.monotonic() + REFETCH_ALLOWANCE
        return self._fetched

    async def _async_allowance(self, client: Any, allowance: int | None) -> int | None:
        if allowance is not None:
            if allowance != self._published:
                await client.set(self.allowance_key, allowance, ex=ALLOWANCE_TTL)
                self._published = allowance
            return allowance
        if time.monotonic() >= self._fetched_until:
            self._fetched = _as_allowance(await client.get(self.allowance_key))
            self._fetched_until = time.monotonic() + REFETCH_ALLOWANCE
        return self._fetched

    def _sync_client(self) -> Any:
        with self._lock:
            if self._client is None:
                import redis

                self._client = redis.Redis.from_url(
                    self.url, socket_timeout=STORE_TIMEOUT, socket_connect_timeout=STORE_TIMEOUT
                )
            return self._client

    def _new_async_client(self) -> Any:
        import redis.asyncio

        return redis.asyncio.Redis.from_url(
            self.url, socket_timeout=STORE_TIMEOUT, socket_connect_timeout=STORE_TIMEOUT
        )

    def _sync_limiter(self) -> Any:
        with self._lock:
            if self._sync is None:
                from limits.storage import storage_from_string
                from limits.strategies import MovingWindowRateLimiter

                storage = storage_from_string(
                    self.url, socket_timeout=STORE_TIMEOUT, socket_connect_timeout=STORE_TIMEOUT
                )
                self._sync = MovingWindowRateLimiter(storage)
            return self._sync

    def _new_async_limiter(self) -> Any:
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter

        storage = RedisStorage(
            f"async+{self.url}",
            implementation="redispy",
            socket_timeout=STORE_TIMEOUT,
            socket_connect_timeout=STORE_TIMEOUT,
        )
        return MovingWindowRateLimiter(storage)

    def _skipping(self) -> bool:
        return time.monotonic() < self._down_until

    def _failed(self, error: Exception) -> None:
        with self._lock:
            self._down_until = time.monotonic() + RETRY_STORE_AFTER
            first = not self._down_logged
            self._down_logged = True
        if first:
            log.warning(
                "the shared rate budget in %s failed (%s): each process now keeps its own budget, as "
                "without [jobstatus] %s; trying the store again every %g s",
                where(self.url),
                type(error).__name__,
                STORAGE_OPTION,
                RETRY_STORE_AFTER,
            )

    def _answered(self) -> None:
        if self._down_logged:
            with self._lock:
                back, self._down_logged = self._down_logged, False
            if back:
                log.warning("the shared rate budget in %s answers again", where(self.url))


def _account_item(per_minute: int, allowance: int | None) -> Any:
    """The moving window (:data:`STORE_WINDOW` seconds) that allows the smaller of the two rates, counted
    under one key per account whatever that rate (``limits`` puts the amount in its keys: a process that
    knows the account's allowance and one that does not yet would otherwise count apart)."""
    from limits import RateLimitItemPerSecond

    class AccountWindow(RateLimitItemPerSecond):
        def key_for(self, *identifiers: bytes | str | int | float) -> str:
            return "/".join([self.namespace, *(str(part) for part in identifiers), "minute"])

    amount = per_minute if allowance is None else max(1, min(per_minute, allowance))
    return AccountWindow(amount, STORE_WINDOW)


def _as_allowance(value: Any) -> int | None:
    """The allowance read from the store: a positive whole number, or None (absent or not one)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 10**9 else None


def _wait_until(reset_time: float) -> float:
    """Seconds from now until the epoch time ``reset_time`` (at least a little, at most the window)."""
    return min(max(reset_time - time.time(), 0.05), float(STORE_WINDOW))


_lock = threading.Lock()
_shared: dict[str, SharedBudget] = {}


def shared_budget(account: str) -> SharedBudget | None:
    """The shared count of ``account`` when ``[jobstatus] rate_limit_storage`` is set, else None."""
    url = configured_storage()
    if not url:
        return None
    with _lock:
        budget = _shared.get(f"{url}\n{account}")
        if budget is None:
            budget = _shared[f"{url}\n{account}"] = SharedBudget(url, account)
        return budget
