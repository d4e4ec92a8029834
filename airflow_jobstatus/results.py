"""Where a job's result goes: back as parsed JSON when small, else streamed to an ObjectStoragePath.

The policy, the same for every vendor with result files:

- ``output_path`` given: the result is always written there (``file://``, ``s3://``, ``gs://``...: any
  Airflow object storage), chunk by chunk, and ``{"path", "size", "sha256"}`` is returned;
- no ``output_path``: a result of at most ``inline_limit`` bytes is parsed and returned (it lands in
  XCom); a bigger one is streamed to the path ``overflow`` gives (the operators give the task's default
  location, :mod:`airflow_jobstatus.result_location`) and its ``{"path", "size", "sha256"}`` returned.
  Without ``overflow`` (a hook called directly) a bigger one raises :class:`ResultTooLarge`. A downloaded
  result that is not UTF-8 text is never decoded with replacement characters: it goes to ``overflow``'s
  path like a big one, or raises :class:`ResultNotText` without it.

Memory stays flat: a download is never held whole, only the inline case reads at most ``inline_limit``.
A download cut off halfway is retried from the start, and the destination is removed rather than left
holding a truncated file presented as complete.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airflow_jobstatus.checks import loads_json, short_repr
from airflow_jobstatus.errors import ConfigurationError, PermanentVendorError, TransientVendorError
from airflow_jobstatus.transport import Download, RetryPolicy

log = logging.getLogger(__name__)

#: Results up to this many bytes come back inline by default (1 MB).
DEFAULT_INLINE_LIMIT = 1_000_000

Opener = Callable[[str], AbstractContextManager[Download]]
#: Object storage schemes that only read: a result written "there" would fail after the job ran.
READ_ONLY_SCHEMES = frozenset({"http", "https", "ftp"})


@dataclass(frozen=True)
class StoredResult:
    """A result written to object storage: where, how many bytes, and their sha256 (hex)."""

    path: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for XCom."""
        return asdict(self)


@dataclass(frozen=True)
class ResultSource:
    """Where one job's result can be read: inline text (small results) and/or a download link."""

    job_id: str
    inline: str | None
    url: str | None


class ResultTooLarge(ConfigurationError):
    """A result is bigger than ``inline_limit`` and there is no path to write it to."""


class ResultNotText(PermanentVendorError):
    """A downloaded result is not UTF-8 text, so it cannot go to XCom as it is (decoding it with
    replacement characters would corrupt it silently). With a path to write it to (``output_path``, or the
    operators' default location) its bytes are stored unchanged instead."""


def deliver_result(
    source: ResultSource,
    open_url: Opener,
    *,
    output_path: str | None,
    inline_limit: int = DEFAULT_INLINE_LIMIT,
    retry: RetryPolicy | None = None,
    overflow: Callable[[], str] | None = None,
) -> Any:
    """The task's return value for a job's result (see the module docstring). ``overflow`` is called
    only when the result is too large to return, for the path to write it to."""
    if source.inline is None and source.url is None:
        raise PermanentVendorError(f"job {source.job_id} ended without a result (no inline result, no link)")
    if output_path:
        return store_result(source, open_url, output_path, retry or RetryPolicy()).to_dict()
    try:
        return _inline_result(source, open_url, inline_limit)
    except (ResultTooLarge, ResultNotText) as error:
        if overflow is None:
            raise
        path = overflow()
        too_large = f"is above inline_limit ({inline_limit} bytes)"
        why = "is not UTF-8 text" if isinstance(error, ResultNotText) else too_large
        log.warning("the result of job %s %s: it goes to %s, not to XCom", source.job_id, why, path)
        return store_result(source, open_url, path, retry or RetryPolicy()).to_dict()


def _inline_result(source: ResultSource, open_url: Opener, inline_limit: int) -> Any:
    if source.inline is not None:
        size = len(source.inline.encode())
        if size > inline_limit:
            raise _too_large(source, size, inline_limit)
        return parse_document(source.inline, source.job_id)
    assert source.url is not None
    body = _read_small(source, open_url, inline_limit)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ResultNotText(
            f"the result of job {source.job_id} is not UTF-8 text (byte {body[error.start]:#04x} at offset "
            f"{error.start}), so it does not go to XCom: set output_path (e.g. "
            "'s3://bucket/results/{{ run_id }}.bin') to store its bytes as they are"
        ) from None
    return parse_document(text, source.job_id)


def store_result(
    source: ResultSource, open_url: Opener, output_path: str, retry: RetryPolicy
) -> StoredResult:
    """Write the result to ``output_path``, retrying a cut-off download from the start."""
    destination = object_storage_path(output_path)
    if source.inline is not None:
        stored = write_chunks(destination, [source.inline.encode()], None)
    else:
        assert source.url is not None
        url = source.url
        for attempt in range(1, retry.attempts + 1):
            try:
                with open_url(url) as download:
                    stored = write_chunks(destination, download.chunks, download.size)
                break
            except TransientVendorError as error:
                if attempt >= retry.attempts:
                    raise
                wait = retry.delay(attempt, error.retry_after)
                log.warning(
                    "%s; downloading again in %.1f s (attempt %d of %d)",
                    error,
                    wait,
                    attempt + 1,
                    retry.attempts,
                )
                time.sleep(wait)
    log.info(
        "result of job %s written to %s: %d bytes, sha256 %s",
        source.job_id,
        stored.path,
        stored.size,
        stored.sha256,
    )
    return stored


def write_chunks(destination: Any, chunks: Iterable[bytes], expected_size: int | None) -> StoredResult:
    """Stream ``chunks`` into ``destination`` (an ObjectStoragePath), hashing as it goes.

    If anything fails, or fewer bytes than ``expected_size`` arrive, the destination is removed and the
    error raised: a file left behind is always whole.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with destination.open("wb") as sink:
            for chunk in chunks:
                sink.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        if expected_size is not None and size != expected_size:
            raise TransientVendorError(f"the download ended after {size} of {expected_size} bytes")
    except BaseException:
        _remove(destination)
        raise
    return StoredResult(str(destination), size, digest.hexdigest())


def object_storage_path(output_path: str) -> Any:
    """An ``ObjectStoragePath`` for ``output_path`` (a URL such as ``s3://bucket/key``, or an absolute
    local path), its folder created for local files."""
    from airflow.sdk import ObjectStoragePath

    text = str(output_path).strip()
    how = "a URL such as s3://bucket/key.json or file:///data/key.json, or an absolute local path"
    if "://" not in text:
        if not text.startswith("/"):
            raise ConfigurationError(f"output_path {output_path!r} must be {how}")
        text = f"file://{text}"
    scheme, _, rest = text.partition("://")
    if scheme.lower() in READ_ONLY_SCHEMES:
        raise ConfigurationError(
            f"output_path {output_path!r}: {scheme} cannot be written to; it must be {how}"
        )
    if scheme.lower() in ("file", "local") and not rest.startswith("/"):
        raise ConfigurationError(
            f"output_path {output_path!r} is a relative file URL (its first folder would be read as a host): "
            f"write file:///{rest} for an absolute path"
        )
    path = ObjectStoragePath(text)
    if path.protocol in ("file", "local"):
        path.parent.mkdir(parents=True, exist_ok=True)
    return path


def check_inline_limit(inline_limit: Any) -> int:
    """``inline_limit`` as a whole number of bytes, or a ConfigurationError naming it and the fix."""
    try:
        limit = int(inline_limit)
    except (TypeError, ValueError, OverflowError):
        limit = -1
    if isinstance(inline_limit, bool) or limit < 0 or limit != inline_limit:
        raise ConfigurationError(
            f"inline_limit must be a whole number of bytes, 0 or more (0: always write the result to a "
            f"path), not {short_repr(inline_limit)}; the default is {DEFAULT_INLINE_LIMIT}"
        )
    return limit


def check_output_path(output_path: str) -> None:
    """Fail before any request when ``output_path`` is malformed, or a local folder that cannot be written.
    (Remote object stores are checked when written: probing them would need their credentials now.)"""
    path = object_storage_path_or_error(output_path)
    if path.protocol in ("file", "local"):
        folder = Path(str(path.parent.path))
        if not os.access(folder, os.W_OK):
            raise ConfigurationError(f"output_path {output_path!r}: the folder {folder} cannot be written")


def object_storage_path_or_error(output_path: str) -> Any:
    """:func:`object_storage_path`, any failure restated as a ConfigurationError naming output_path."""
    try:
        return object_storage_path(output_path)
    except ConfigurationError:
        raise
    except Exception as error:
        raise ConfigurationError(f"output_path {output_path!r} cannot be used: {error}") from None


def parse_document(text: str, job_id: str) -> Any:
    """An inline result: its JSON, or the text itself (with a warning) when it is not JSON."""
    try:
        return loads_json(text)  # NaN or nesting that overflows: not JSON that XCom can hold
    except ValueError:
        log.warning("the result of job %s is not JSON: returning it as text", job_id)
        return text


def _read_small(source: ResultSource, open_url: Opener, limit: int) -> bytes:
    assert source.url is not None
    with open_url(source.url) as download:
        if download.size is not None and download.size > limit:
            raise _too_large(source, download.size, limit)
        buffer = bytearray()
        for chunk in download.chunks:
            buffer += chunk
            if len(buffer) > limit:
                raise _too_large(source, None, limit)
    return bytes(buffer)


def _too_large(source: ResultSource, size: int | None, limit: int) -> ResultTooLarge:
    what = f"{size} bytes" if size is not None else f"more than {limit} bytes"
    return ResultTooLarge(
        f"the result of job {source.job_id} is {what}, above inline_limit ({limit} bytes), so it does not "
        "go to XCom: set output_path (e.g. 's3://bucket/results/{{ run_id }}.json') to stream it there, "
        "or raise inline_limit. A retry reattaches to the job; nothing is submitted again"
    )


def _remove(destination: Any) -> None:
    try:
        if destination.exists():
            destination.unlink()
    except Exception as error:  # the original error matters more
        log.warning("could not remove the partial result %s: %s", destination, error)
