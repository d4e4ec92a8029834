"""What one HTTP exchange of the transports is made of: the request's body and headers, and the answer.

- :class:`Body`: a request body of any content type (:meth:`Body.json`, :meth:`Body.form`,
  :meth:`Body.raw`), already encoded, so a request can be sent again as it was (after a refresh).
- :func:`request_headers`: the headers of one request: the auth's (credentials only for the API host's
  origin), the caller's extra ones (each checked: no CR/LF or control character, so no header can be
  smuggled in), the body's content type.
- :class:`Answer` and :class:`AsyncAnswer`: a successful answer, read whole or streamed in chunks
  (:class:`StreamScrubber` takes the connection's secrets out of a stream too).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from airflow_jobstatus.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Awaitable

#: What a header value may hold: visible ASCII and spaces (no CR/LF, no control or non-ASCII character).
HEADER_VALUE = re.compile(r"[\x20-\x7e]*")
#: What a header name may be (an RFC 9110 token).
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: A secret shorter than this is not scrubbed from answers (it would blank ordinary words).
MIN_SCRUBBED_SECRET = 6
DEFAULT_HEADERS = {"Accept": "application/json", "User-Agent": "airflow-jobstatus"}


@dataclass(frozen=True)
class Body:
    """A request body: its bytes (never printed: a form may carry a client secret) and content type."""

    content: bytes = field(repr=False)
    content_type: str

    def __post_init__(self) -> None:
        if not isinstance(self.content, (bytes, bytearray)):
            raise ConfigurationError(f"a request body must be bytes, not {type(self.content).__name__}")
        check_header("Content-Type", self.content_type)

    @classmethod
    def json(cls, value: Any) -> Body:
        """``value`` as JSON (``application/json``); NaN, infinities and what JSON cannot hold are refused
        before anything is sent."""
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as error:
            raise ConfigurationError(f"the request body cannot be sent as JSON: {error}") from None
        return cls(text.encode("utf-8"), "application/json")

    @classmethod
    def form(cls, fields: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> Body:
        """``fields`` URL-encoded (``application/x-www-form-urlencoded``), in the order given."""
        pairs = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        return cls(urlencode(pairs).encode("ascii"), "application/x-www-form-urlencoded")

    @classmethod
    def raw(cls, content: bytes, content_type: str) -> Body:
        """``content`` sent as it is, with ``content_type``."""
        return cls(bytes(content), content_type)


@dataclass(frozen=True)
class Outgoing:
    """One request as the caller asked for it (sent again as it is after a refresh or for a retry)."""

    method: str
    path_or_url: str
    params: Mapping[str, str] | None = None
    body: Body | None = None
    headers: Mapping[str, str] | None = None
    stream: bool = False
    #: The most read from the answer (default: the target's max_body_bytes), and the time it may take.
    max_bytes: int | None = None
    timeout: float | None = None


def check_header(name: str, value: object) -> None:
    """Refuse (ConfigurationError, naming the header but never its value) a header that could split the
    request: a name that is not a token, or a value with a line break, a control or non-ASCII character."""
    if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
        raise ConfigurationError(f"{name!r} is not a valid HTTP header name")
    if not isinstance(value, str) or not HEADER_VALUE.fullmatch(value):
        raise ConfigurationError(
            f"the value of header {name} holds a line break, a control character or a non-ASCII "
            "character (or is not text): it is not sent"
        )


def origin(url: str) -> tuple[str, str]:
    """The origin of ``url`` as compared for credentials: scheme and host[:port], lower case."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def request_headers(
    auth_headers: Mapping[str, str],
    credential_names: Iterable[str],
    extra: Mapping[str, str] | None,
    body: Body | None,
) -> dict[str, str]:
    """The headers of one request: ``auth_headers`` (from the auth, for this URL), then the caller's
    ``extra`` ones (checked; they may not replace a credential header), then the body's content type."""
    headers = {name: value.strip(" ") for name, value in auth_headers.items()}
    protected = {name.lower() for name in credential_names}
    for name, value in (extra or {}).items():
        check_header(name, value)
        if name.lower() in protected and any(key.lower() == name.lower() for key in auth_headers):
            raise ConfigurationError(
                f"header {name} carries the connection's credentials: it cannot be set for one request"
            )
        _put(headers, name, value.strip(" "))  # spaces around a value are not part of it (RFC 9110)
    if body is not None:
        _put(headers, "Content-Type", body.content_type)
    return headers


def _put(headers: dict[str, str], name: str, value: str) -> None:
    """Set a header, replacing one of the same name in any case."""
    for key in [key for key in headers if key.lower() == name.lower()]:
        del headers[key]
    headers[name] = value


def secret_forms(secret: str) -> list[bytes]:
    """The byte forms in which ``secret`` could appear in a JSON answer: as it is, and JSON-escaped."""
    if len(secret) < MIN_SCRUBBED_SECRET:
        return []
    raw = secret.encode("utf-8", errors="replace")
    escaped = json.dumps(secret)[1:-1].encode("ascii")
    return [raw] if escaped == raw else [raw, escaped]


def scrub(body: bytes, forms: Iterable[bytes]) -> bytes:
    """``body`` with every one of ``forms`` replaced by ``***``."""
    for form in forms:
        if form in body:
            body = body.replace(form, b"***")
    return body


class StreamScrubber:
    """Takes secrets out of a body that arrives in chunks: a secret split across two chunks is caught too,
    by holding back the last ``len(longest form) - 1`` bytes until the next chunk (or the end)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.forms = sorted(
            {form for secret in secrets for form in secret_forms(secret)}, key=len, reverse=True
        )
        self.keep = max((len(form) for form in self.forms), default=1) - 1
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        """The scrubbed bytes of ``chunk`` (with what was held) that no later chunk can change."""
        if not self.forms:
            return chunk
        data = scrub(self._held + chunk, self.forms)
        cut = max(len(data) - self.keep, 0)
        data, self._held = data[:cut], data[cut:]
        return data

    def finish(self) -> bytes:
        """What was held back, once the body has ended."""
        held, self._held = self._held, b""
        return held


@dataclass
class Answer:
    """A successful answer of the API host (or an absolute URL): status, headers, final URL, and either the
    whole (scrubbed) ``body`` or, streamed, its ``chunks`` (scrubbed, capped and timed as a whole body
    would be). Close a streamed answer (``with answer:``) to release its connection."""

    status: int
    headers: Mapping[str, str]
    url: str
    body: bytes = field(default=b"", repr=False)
    chunks: Iterator[bytes] | None = field(default=None, repr=False)
    _close: Callable[[], None] | None = field(default=None, repr=False)

    def iter_chunks(self) -> Iterator[bytes]:
        """The body's chunks (the whole body as one chunk when it was not streamed)."""
        if self.chunks is None:
            if self.body:
                yield self.body
            return
        yield from self.chunks

    def close(self) -> None:
        """Release the connection of a streamed answer (nothing for a whole one)."""
        close, self._close = self._close, None
        if close is not None:
            close()

    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class AsyncAnswer:
    """Async twin of :class:`Answer`: ``chunks`` is an async iterator; close with ``async with``."""

    status: int
    headers: Mapping[str, str]
    url: str
    body: bytes = field(default=b"", repr=False)
    chunks: AsyncIterator[bytes] | None = field(default=None, repr=False)
    _close: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body's chunks (the whole body as one chunk when it was not streamed)."""
        if self.chunks is None:
            if self.body:
                yield self.body
            return
        async for chunk in self.chunks:
            yield chunk

    async def aclose(self) -> None:
        """Release the connection of a streamed answer (nothing for a whole one)."""
        close, self._close = self._close, None
        if close is not None:
            await close()

    async def __aenter__(self) -> AsyncAnswer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
