"""Result downloads a hostile or broken vendor cannot turn against the worker.

Two guards, both applied by :func:`open_download`:

- **where**: a result link (and every redirect hop, followed here, at most :data:`MAX_REDIRECTS`) must be
  ``https`` on a public address. The host name is resolved first and refused if *any* of its addresses is
  loopback, private, link-local, unspecified, multicast, reserved or a cloud metadata endpoint (IPv4
  forms hidden in IPv6 ones, ``::ffff:169.254.169.254``, count as what they hide), before any connection;
  the address actually connected to is checked again (a DNS answer that changed in between).
  :class:`HostPolicy` holds the exceptions: loopback (over http too) when the API host is loopback itself
  (the sandbox), private and loopback hosts with the connection extra ``allow_private_result_hosts``
  (a vendor mirror inside the network), plain http with the extra ``allow_insecure_http``. Link-local
  and metadata addresses are never reached, whatever the extras say.
- **how much, how long**: :class:`DownloadLimits`, from the ``[jobstatus]`` Airflow settings: a size cap
  (``max_result_bytes``), an inflation cap for bodies sent with a ``Content-Encoding``
  (``max_result_inflation``), an overall deadline (``result_download_timeout``, enforced by a watchdog
  that shuts the socket, so no single read outlives it) and a minimum throughput
  (``min_result_bytes_per_second``, after :data:`THROUGHPUT_GRACE_SECONDS`).

A broken rule raises :class:`~airflow_jobstatus.errors.UnsafeResultHost` or
:class:`~airflow_jobstatus.errors.ResultLimitExceeded`: permanent, not retried.
"""

from __future__ import annotations

import socket
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from airflow_jobstatus.core.result_limits import (  # noqa: F401 (re-exported)
    DEFAULT_DOWNLOAD_TIMEOUT,
    DEFAULT_MAX_INFLATION,
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_MIN_BYTES_PER_SECOND,
    INFLATION_FLOOR_BYTES,
    SECTION,
    THROUGHPUT_GRACE_SECONDS,
    DownloadLimits,
    check_number,
    setting_name,
)
from airflow_jobstatus.errors import (
    PermanentVendorError,
    ResultLimitExceeded,
    TransientVendorError,
    UnsafeResultHost,
)
from airflow_jobstatus.http.result_hosts import (  # noqa: F401 (re-exported: the guard is part of downloads)
    METADATA_ADDRESSES,
    AddressKind,
    HostPolicy,
    IPAddress,
    Resolver,
    check_result_url,
    classify_address,
    resolve,
)

if TYPE_CHECKING:
    import requests

MAX_REDIRECTS = 5
CHUNK_SIZE = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


# --- the download ------------------------------------------------------------------------------------
@dataclass
class Download:
    """An open result download: its chunks (the document itself, decompressed), and its size when the
    server said it."""

    chunks: Iterator[bytes]
    size: int | None


class _Guard:
    """One download's clock and connection checks: a watchdog shuts every socket at the deadline, so no
    read (headers or body) outlives it, and each connection's peer address is checked again."""

    def __init__(self, policy: HostPolicy, limits: DownloadLimits) -> None:
        self.policy = policy
        self.limits = limits
        self.started = time.monotonic()
        self.deadline = self.started + limits.deadline_seconds
        self.expired = False
        self.where = "?"
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(limits.deadline_seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Guard:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def opened(self, sock: socket.socket | None) -> None:
        """Watch a connected socket (shut at once if the deadline has passed)."""
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def checked_peer(self, sock: socket.socket) -> socket.socket:
        """``sock``, unless it is connected to an address the policy refuses (a DNS answer that changed
        since the check): then it is closed, before a byte is sent, and UnsafeResultHost raised."""
        try:
            address = str(sock.getpeername()[0])
        except OSError:
            return sock
        why = self.policy.refusal(classify_address(address))
        if why is not None:
            sock.close()
            raise UnsafeResultHost(
                f"the download of {self.where} was refused: the connection went to {address} (not the "
                f"address checked before connecting) and {why}"
            )
        return sock

    def remaining(self) -> float:
        """Seconds left before the deadline."""
        return self.deadline - time.monotonic()

    def check_deadline(self) -> None:
        """Raise ResultLimitExceeded once the deadline has passed."""
        if self.expired or self.remaining() <= 0:
            limit = self.limits.deadline_seconds
            raise ResultLimitExceeded(
                f"the download of {self.where} did not finish within "
                f"{setting_name('result_download_timeout')} = {limit:g} s: raise it if results this big "
                "or this slow are expected",
                setting="result_download_timeout",
                limit=limit,
            )

    def check_rate(self, wire: int, body_started: float) -> None:
        """Raise ResultLimitExceeded when the body arrives slower than the minimum throughput."""
        floor = self.limits.min_bytes_per_second
        elapsed = time.monotonic() - body_started
        if floor <= 0 or elapsed < self.limits.grace_seconds or elapsed <= 0:
            return
        rate = wire / elapsed
        if rate < floor:
            raise ResultLimitExceeded(
                f"the download of {self.where} ran at {rate:.0f} bytes/s over {elapsed:.1f} s, below "
                f"{setting_name('min_result_bytes_per_second')} = {floor:g}: lower it (0 turns the "
                "check off) if the vendor's host is this slow",
                setting="min_result_bytes_per_second",
                limit=floor,
            )

    def check_size(self, document: int, wire: int, encoding: str | None) -> None:
        """Raise ResultLimitExceeded when the document is too big, or inflates too much from the wire."""
        limits = self.limits
        if document > limits.max_bytes:
            raise _too_big(self.where, limits.max_bytes)
        if encoding and document > INFLATION_FLOOR_BYTES and document > limits.max_inflation * wire:
            raise ResultLimitExceeded(
                f"the result at {self.where}, sent with Content-Encoding {encoding} although identity was "
                f"asked for, inflated {wire} bytes received into more than {document} bytes, above "
                f"{setting_name('max_result_inflation')} = {limits.max_inflation:g}x (a decompression "
                "bomb?): raise it if the vendor's results really compress this well",
                setting="max_result_inflation",
                limit=limits.max_inflation,
            )


def _too_big(where: str, limit: int) -> ResultLimitExceeded:
    return ResultLimitExceeded(
        f"the result at {where} is larger than {setting_name('max_result_bytes')} = {limit} bytes: raise "
        "it if results this big are expected",
        setting="max_result_bytes",
        limit=limit,
    )


def _shut(sock: socket.socket) -> None:
    # socket.socket's own shutdown, on an SSLSocket too: it wakes a read blocked in another thread.
    with suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _guarded_session(guard: _Guard) -> requests.Session:
    """A session whose direct connections check their peer address and report to ``guard``."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class GuardedHTTPConnection(HTTPConnection):
        """Checks the peer of every new socket, and hands the connected socket to the watchdog."""

        def _new_conn(self) -> socket.socket:
            return guard.checked_peer(super()._new_conn())

        def connect(self) -> None:
            super().connect()
            guard.opened(self.sock)

    class GuardedHTTPSConnection(GuardedHTTPConnection, HTTPSConnection):
        """The same checks, then TLS (HTTPSConnection.connect, next in the MRO)."""

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    adapter = HTTPAdapter(max_retries=0)
    # Direct connections only: through a proxy the peer is the proxy, and the proxy resolves the host.
    adapter.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@contextmanager
def open_download(
    vendor: str,
    url: str,
    *,
    chunk_size: int = CHUNK_SIZE,
    timeout: float = 60.0,
    allow_hosts: HostPolicy | None = None,
    limits: DownloadLimits | None = None,
) -> Iterator[Download]:
    """Stream a self-authorising result link. No credential of any kind is sent: a result host is never
    the API host, whatever its address. Redirects are followed here, each hop checked first.

    ``allow_hosts`` (default: public https hosts only) says which hosts may be reached, ``limits``
    (default: :meth:`DownloadLimits.from_settings`) how big and slow the download may be; ``timeout``
    bounds each connect and socket read. A refused host raises UnsafeResultHost, a broken limit
    ResultLimitExceeded, a refused link (4xx) PermanentVendorError; an unreachable host, 5xx or a cut
    connection TransientVendorError (also while reading the chunks). The chunks are the document itself:
    a body sent compressed anyway (gzip or deflate ``Content-Encoding``) is decompressed, at most
    ``chunk_size`` bytes at a time, and its size is then unknown.
    """
    from airflow_jobstatus.http.transport import RETRYABLE_STATUSES, body_excerpt, without_query

    policy = allow_hosts or HostPolicy()
    limits = limits or DownloadLimits.from_settings()
    check_result_url(url, policy, hop=f"{vendor}'s result link")
    # identity: the bytes stored are the document's, and Content-Length counts them.
    headers = {"Accept": "application/json", "Accept-Encoding": "identity", "User-Agent": "airflow-jobstatus"}
    with _Guard(policy, limits) as guard, _guarded_session(guard) as session:
        guard.where = without_query(url)
        response = _follow(session, guard, vendor, url, headers, timeout)
        with response:
            where = guard.where
            status = response.status_code
            if status >= 400:
                error_type = TransientVendorError if status in RETRYABLE_STATUSES else PermanentVendorError
                raise error_type(
                    f"{vendor}'s result link answered HTTP {status} ({where}): "
                    f"{body_excerpt(_excerpt(response))!r}",
                    status=status,
                )
            if not 200 <= status < 300:
                raise PermanentVendorError(
                    f"{vendor}'s result link answered HTTP {status} ({where}), not the document",
                    status=status,
                )
            encoding = _content_coding(vendor, where, response.headers.get("Content-Encoding", ""))
            length = response.headers.get("Content-Length", "")
            size = int(length) if encoding is None and length.isdigit() else None
            if size is not None and size > limits.max_bytes:
                raise _too_big(where, limits.max_bytes)
            yield Download(_body(response, guard, chunk_size, encoding), size)


def _follow(
    session: requests.Session,
    guard: _Guard,
    vendor: str,
    url: str,
    headers: Mapping[str, str],
    timeout: float,
) -> requests.Response:
    """The first answer that is not a redirect, each hop checked before it is requested."""
    from airflow_jobstatus.http.transport import without_query

    current = url
    for hop in range(1, MAX_REDIRECTS + 2):
        response = _get(session, guard, current, headers, timeout)
        if response.status_code not in REDIRECT_STATUSES:
            return response
        location = response.headers.get("Location")
        response.close()
        came_from = without_query(current)
        if not location:
            raise PermanentVendorError(
                f"{vendor}'s result link answered HTTP {response.status_code} without a Location "
                f"({came_from})",
                status=response.status_code,
            )
        if hop > MAX_REDIRECTS:
            raise PermanentVendorError(
                f"{vendor}'s result link redirected more than {MAX_REDIRECTS} times (the last hop from "
                f"{came_from})",
                status=response.status_code,
            )
        current = urljoin(current, location.strip())
        check_result_url(
            current, guard.policy, hop=f"{vendor}'s result link, redirect hop {hop} (from {came_from})"
        )
        guard.where = without_query(current)
    raise AssertionError("unreachable")


def _get(
    session: requests.Session, guard: _Guard, url: str, headers: Mapping[str, str], timeout: float
) -> requests.Response:
    import requests

    from airflow_jobstatus.http.transport import without_query

    guard.check_deadline()
    wait = max(min(timeout, guard.remaining()), 0.01)
    try:
        return session.get(
            url, headers=dict(headers), stream=True, timeout=(wait, wait), allow_redirects=False
        )
    except requests.RequestException as error:
        guard.check_deadline()
        raise TransientVendorError(
            f"could not download {without_query(url)}: {type(error).__name__}"
        ) from None


def _excerpt(response: requests.Response) -> bytes:
    """The first bytes of an error answer (never the whole body: it may be endless)."""
    try:
        return bytes(response.raw.read(1024, decode_content=True) or b"")
    except Exception:  # only an excerpt: the status decides what the error is
        return b""


def _content_coding(vendor: str, where: str, header: str) -> str | None:
    """The one compression to undo (``gzip``, ``deflate``), None for none; anything else is refused."""
    codings = [part.strip().lower() for part in header.split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return codings[0]
    raise PermanentVendorError(
        f"{vendor}'s result link ({where}) was sent with Content-Encoding {header!r}, which is not "
        "supported (identity was asked for; gzip and deflate are undone)"
    )


def _body(
    response: requests.Response, guard: _Guard, chunk_size: int, encoding: str | None
) -> Iterator[bytes]:
    """The document's chunks, every limit checked between them; at most one socket read per chunk."""
    from urllib3.exceptions import HTTPError

    raw = response.raw
    read = raw.read1 if hasattr(raw, "read1") else raw.read  # read1: one socket read at most
    inflater = _Inflater(guard.where) if encoding else None
    body_started = time.monotonic()
    wire = document = 0
    while True:
        guard.check_deadline()
        guard.check_rate(wire, body_started)
        try:
            data = read(chunk_size, decode_content=False)
        except (HTTPError, OSError) as error:
            guard.check_deadline()  # the watchdog shut the socket
            raise TransientVendorError(
                f"the download of {guard.where} was cut off: {type(error).__name__}"
            ) from None
        if not data:
            guard.check_deadline()  # a shut socket reads as the end
            break
        wire += len(data)
        for piece in inflater.feed(data, chunk_size) if inflater else (data,):
            document += len(piece)
            guard.check_size(document, wire, encoding)
            yield piece
    if inflater is not None:
        tail = inflater.finish()
        if tail:
            document += len(tail)
            guard.check_size(document, wire, encoding)
            yield tail


class _Inflater:
    """gzip or zlib deflate, undone at most ``size`` bytes at a time, so memory stays flat."""

    _WBITS = 32 + zlib.MAX_WBITS  # either header, detected

    def __init__(self, where: str) -> None:
        self.where = where
        self._obj = zlib.decompressobj(self._WBITS)
        self._members = 0
        self._fed = False
        self._trailing = False

    def feed(self, data: bytes, size: int) -> Iterator[bytes]:
        """The decompressed pieces of ``data``, each at most ``size`` bytes."""
        self._fed = True
        while data and not self._trailing:
            if self._obj.eof:  # another gzip member
                self._obj = zlib.decompressobj(self._WBITS)
            try:
                piece = self._obj.decompress(data, size)
            except zlib.error as error:
                if self._members:  # bytes after a whole member: ignored, as gzip does
                    self._trailing = True
                    return
                raise TransientVendorError(
                    f"the download of {self.where} is not valid gzip: {error}"
                ) from None
            if piece:
                yield piece
            if self._obj.eof:
                self._members += 1
                data = self._obj.unused_data
            else:
                data = self._obj.unconsumed_tail

    def finish(self) -> bytes:
        """What is left once the body has ended; a stream cut short is a TransientVendorError."""
        if not self._fed or self._trailing or self._obj.eof:
            return b""
        tail = self._obj.flush()
        if not self._obj.eof:
            raise TransientVendorError(
                f"the download of {self.where} was cut off: the compressed data ends early"
            )
        return tail
