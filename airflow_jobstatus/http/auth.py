"""How the transports authenticate to a vendor's API host, and renew the credentials it rejects.

An :class:`Auth` holds the :class:`~airflow_jobstatus.http.transport.ApiTarget` in force (base URL, credential
headers, the secrets to scrub from answers) and says how to get fresh credentials: :meth:`Auth.refresh`
(workers) and :meth:`Auth.arefresh` (triggers) return whether the credentials changed.

The rule, applied by both transports: when the API host answers 401 or 403 to a request that carried the
credentials, the auth is refreshed once; if the credentials changed, the request is sent again once (a
submit too: a 401 means the vendor did not act on it), otherwise the VendorAuthError is raised.
Concurrent requests that were refused with the same credentials share one refresh
(:meth:`Auth.renew` / :meth:`Auth.arenew`, under a lock): a poller serving a thousand waits reads the
connection once, and every wait goes on with the new credentials.

:class:`ConnectionAuth`, what every hook uses by default, refreshes by reading the Airflow connection
again and rebuilding the target with the hook's ``api_target(fields)``, so a token rotated in the
connection is picked up by a running triggerer without a restart. A vendor with OAuth subclasses
:class:`Auth` (its ``refresh`` asks the token endpoint for a new access token and replaces ``target``
with :func:`with_credentials`) and returns it from ``JobHook.make_auth``.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_jobstatus.core.checks import whole_number
from airflow_jobstatus.errors import JobStatusError, VendorAuthError

if TYPE_CHECKING:
    from airflow_jobstatus.http.connection import ConnectionFields
    from airflow_jobstatus.http.transport import ApiTarget

#: Connection extras whose values are secrets, by a word in their name (scrubbed from answers).
SECRET_EXTRA_WORDS = ("token", "secret", "password", "key")
#: The extra that caps an answer's size.
MAX_RESPONSE_EXTRA = "max_response_bytes"


class Auth(ABC):
    """The credentials for one API host, and how to renew them.

    ``target`` is the ApiTarget in force: replaced (never changed in place) when the credentials change.
    ``version`` counts refresh attempts and ``refreshes`` the attempts made (for tests and stats).
    """

    def __init__(self, target: ApiTarget) -> None:
        self.target = target
        self.version = 0
        self.refreshes = 0
        self._changed_at = 0
        self._thread_lock = threading.Lock()
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def headers_for(self, url: str) -> dict[str, str]:
        """The headers of a request to ``url``: the credentials only when it is on the API host's origin."""
        return self.target.headers_for(url)

    @abstractmethod
    def refresh(self) -> bool:
        """Get fresh credentials (blocking); True when they differ from those in force."""

    @abstractmethod
    async def arefresh(self) -> bool:
        """Get fresh credentials without blocking the event loop; True when they differ."""

    def renew(self, used: int) -> bool:
        """After a request sent at ``version`` ``used`` was refused: whether to send it again. Refreshes
        unless a refresh already ran since that request was sent (then its outcome counts)."""
        with self._thread_lock:
            if self.version != used:
                return self._changed_at > used
            self.refreshes += 1
            try:
                changed = self.refresh()
            except Exception as error:
                raise self._failed(error) from None
            return self._settled(changed)

    async def arenew(self, used: int) -> bool:
        """Async twin of :meth:`renew`: one refresh for every request of the event loop refused with the
        same credentials, the others wait for its outcome."""
        lock = self._loop_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:
            if self.version != used:
                return self._changed_at > used
            self.refreshes += 1
            try:
                changed = await self.arefresh()
            except Exception as error:
                raise self._failed(error) from None
            return self._settled(changed)

    def _settled(self, changed: bool) -> bool:
        self.version += 1
        if changed:
            self._changed_at = self.version
        return changed

    def _failed(self, error: Exception) -> Exception:
        """What a failed refresh raises: our own errors as they are (a connection made invalid, a token
        endpoint down), anything else as a VendorAuthError naming only its type (it may quote a secret)."""
        self.version += 1
        if isinstance(error, JobStatusError):
            return error
        target = self.target
        return VendorAuthError(
            f"connection '{target.conn_id}' was rejected by {target.vendor}, and getting fresh credentials "
            f"failed ({type(error).__name__}): check the connection"
        )


class StaticAuth(Auth):
    """Credentials that never change (an ApiTarget given as it is): a rejection is final."""

    def refresh(self) -> bool:
        """Nothing to renew."""
        return False

    async def arefresh(self) -> bool:
        """Nothing to renew."""
        return False


class ConnectionAuth(Auth):
    """The credentials of an Airflow connection: a refresh reads the connection again (``load`` in workers,
    ``aload`` in triggers, each returning the rebuilt target) and masks its secrets in task logs."""

    def __init__(
        self,
        target: ApiTarget,
        load: Callable[[], ApiTarget],
        aload: Callable[[], Awaitable[ApiTarget]],
    ) -> None:
        super().__init__(target)
        self._load = load
        self._aload = aload

    def refresh(self) -> bool:
        """Read the connection again; True when its credentials changed."""
        target = self._load()
        mask_target(target)
        return self.adopt(target)

    async def arefresh(self) -> bool:
        """Read the connection again without blocking; True when its credentials changed."""
        target = await self._aload()
        await amask_target(target)
        return self.adopt(target)

    def adopt(self, target: ApiTarget) -> bool:
        """Put ``target`` in force (the old secrets stay on the scrub list); True when its credential
        headers differ from the old ones."""
        old = self.target
        self.target = replace(target, secrets=merged_secrets(target.secrets, old.secrets))
        return dict(target.headers) != dict(old.headers)


def with_credentials(target: ApiTarget, headers: Mapping[str, str], secrets: Iterable[str] = ()) -> ApiTarget:
    """``target`` with new credential ``headers`` (an OAuth access token, say): the header values, their
    parts after the scheme and ``secrets`` join the scrub list."""
    found = _header_secrets(headers) | set(secrets)
    return replace(target, headers=dict(headers), secrets=merged_secrets(found, target.secrets))


def merged_secrets(*groups: Iterable[str]) -> tuple[str, ...]:
    """Every secret of ``groups`` once, longest first (so a longer one is scrubbed before a part of it)."""
    return tuple(sorted({secret for group in groups for secret in group if secret}, key=len, reverse=True))


def _header_secrets(headers: Mapping[str, str]) -> set[str]:
    found = {value for value in headers.values() if value}
    found.update(part for value in headers.values() for part in value.split(" ")[1:] if part)
    return found


def guarded_target(build: Callable[[ConnectionFields], ApiTarget], fields: ConnectionFields) -> ApiTarget:
    """The vendor's ApiTarget for ``fields`` with what the core adds to every vendor's: the secrets to
    scrub from answers, and the answer size cap (extra ``max_response_bytes``)."""
    from airflow_jobstatus.http.transport import DEFAULT_MAX_BODY_BYTES

    target = build(fields)
    secrets = _header_secrets(target.headers)
    if fields.password:
        secrets.add(fields.password)
    for name, value in fields.extra.items():
        if isinstance(value, str) and value and any(word in name.lower() for word in SECRET_EXTRA_WORDS):
            secrets.add(value)
    cap: Any = fields.extra.get(MAX_RESPONSE_EXTRA)
    if isinstance(cap, str) and cap.strip().isascii() and cap.strip().isdigit():
        cap = int(cap)  # an extra typed in the UI's form arrives as text
    limit = DEFAULT_MAX_BODY_BYTES
    if cap not in (None, ""):
        limit = whole_number(f"connection '{fields.conn_id}': extra {MAX_RESPONSE_EXTRA}", cap, minimum=1024)
    return replace(target, secrets=merged_secrets(secrets), max_body_bytes=limit)


def _mask_values(target: ApiTarget) -> list[str]:
    return [value for value in (*target.headers.values(), *target.secrets) if value]


def mask_target(target: ApiTarget) -> None:
    """Register the target's credential header values and secrets with Airflow's log masker."""
    from airflow.sdk.log import mask_secret

    for value in _mask_values(target):  # the encoded header too, should anything print it
        mask_secret(value)


async def amask_target(target: ApiTarget) -> None:
    """:func:`mask_target` without blocking the event loop (where Airflow supports it)."""
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # Airflow before amask_secret existed: the raw token is masked by Airflow itself
        return
    for value in _mask_values(target):
        await amask_secret(value)
