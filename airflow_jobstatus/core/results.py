"""Where a job's result goes: returned as parsed JSON, or streamed to an ObjectStoragePath.

The policy, the same for every vendor with result files. What comes back depends on the arguments
only, never on the size of the result:

- ``output_path`` given: the result is always written there (``file://``, ``s3://``, ``gs://``...: any
  Airflow object storage), chunk by chunk, and ``{"path", "size", "sha256"}`` is returned, however
  small the result;
- no ``output_path``: the result is parsed and returned (it lands in XCom). One bigger than
  ``inline_limit`` bytes raises :class:`ResultTooLarge`; a downloaded one that is not UTF-8 text raises
  :class:`ResultNotText` (it is never decoded with replacement characters). Both name ``output_path``
  as the fix; the operators fail the task with them, without retrying it (the same job gives the same
  result).

``overflow`` is for hooks called directly, kept for compatibility (no operator passes it): the path to
write a result to instead of raising ResultTooLarge or ResultNotText. The shape then depends on the
result, so prefer ``output_path``.

Memory stays flat: a download is never held whole. The inline case stops reading as soon as it is past
``inline_limit`` (and reads nothing when the download's Content-Length is above it). A download cut
off halfway is retried from the start, and the destination is removed rather than left holding a
truncated file presented as complete.
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

from airflow_jobstatus.core.checks import loads_json, short_repr
from airflow_jobstatus.core.wording import plural
from airflow_jobstatus.errors import (
    ConfigurationError,
    PermanentVendorError,
    ResultNotText,
    ResultTooLarge,
    TransientVendorError,
)
from airflow_jobstatus.http.transport import Download, RetryPolicy

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


def deliver_result(
    source: ResultSource,
    open_url: Opener,
    *,
    output_path: str | None,
    inline_limit: int = DEFAULT_INLINE_LIMIT,
    retry: RetryPolicy | None = None,
    overflow: Callable[[], str] | None = None,
) -> Any:
    """The return value for a job's result: ``{"path", "size", "sha256"}`` with ``output_path``, else the
    parsed result (see the module docstring). ``overflow`` (hooks only) is called only for a result that
    cannot be returned inline, for the path to write it to instead."""
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
        too_large = f"is above inline_limit ({plural(inline_limit, 'byte')})"
        why = "is not UTF-8 text" if isinstance(error, ResultNotText) else too_large
        log.warning("the result of job %s %s: it goes to %s, not to XCom", source.job_id, why, path)
        return store_result(source, open_url, path, retry or RetryPolicy()).to_dict()


def _inline_result(source: ResultSource, open_url: Opener, inline_limit: int) -> Any:
    if source.inline is not None:
        size = len(source.inline.encode())
        if size > inline_limit:
            raise _too_large(source, inline_limit, size=size, read=0, how="sent inline in the job's status")
        return parse_document(source.inline, source.job_id)
    assert source.url is not None
    body = _read_small(source, open_url, inline_limit)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        detail = f"byte {body[error.start]:#04x} at offset {error.start}"
        raise ResultNotText(
            f"the result of job {source.job_id} is not UTF-8 text ({detail}), so it does not go to XCom: "
            "set output_path (e.g. 's3://bucket/results/{{ run_id }}.bin') to store its bytes as they are",
            job_id=source.job_id,
            detail=detail,
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
        "result of job %s written to %s: %s, sha256 %s",
        source.job_id,
        stored.path,
        plural(stored.size, "byte"),
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
            expected = plural(expected_size, "byte")
            raise TransientVendorError(f"the download ended after {size} of {expected}")
    except BaseException:
        _remove(destination)
        raise
    return StoredResult(str(destination), size, digest.hexdigest())


def object_storage_path(output_path: str, name: str = "output_path") -> Any:
    """An ``ObjectStoragePath`` for ``output_path`` (a URL such as ``s3://bucket/key``, or an absolute
    local path), its folder created for local files."""
    from airflow.sdk import ObjectStoragePath

    text = str(output_path).strip()
    how = "a URL such as s3://bucket/key.json or file:///data/key.json, or an absolute local path"
    if "://" not in text:
        if not text.startswith("/"):
            raise ConfigurationError(f"{name} {output_path!r} must be {how}")
        text = f"file://{text}"
    scheme, _, rest = text.partition("://")
    if scheme.lower() in READ_ONLY_SCHEMES:
        raise ConfigurationError(f"{name} {output_path!r}: {scheme} cannot be written to; it must be {how}")
    if scheme.lower() in ("file", "local") and not rest.startswith("/"):
        raise ConfigurationError(
            f"{name} {output_path!r} is a relative file URL (its first folder would be read as a host): "
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


def object_storage_path_or_error(output_path: str, name: str = "output_path") -> Any:
    """:func:`object_storage_path`, any failure restated as a ConfigurationError naming output_path."""
    try:
        return object_storage_path(output_path, name)
    except ConfigurationError:
        raise
    except Exception as error:
        raise ConfigurationError(f"{name} {output_path!r} cannot be used: {error}") from None


def parse_document(text: str, job_id: str) -> Any:
    """An inline result: its JSON, or the text itself (with a warning) when it is not JSON."""
    try:
        return loads_json(text)  # NaN or nesting that overflows: not JSON that XCom can hold
    except ValueError:
        log.warning("the result of job %s is not JSON: returning it as text", job_id)
        return text


def _read_small(source: ResultSource, open_url: Opener, limit: int) -> bytes:
    """The whole download when it is at most ``limit`` bytes; past that, reading stops (the connection is
    closed, the rest never read) and ResultTooLarge is raised. At most ``limit`` + one chunk is held."""
    assert source.url is not None
    with open_url(source.url) as download:
        if download.size is not None and download.size > limit:
            how = "the download's Content-Length; none of it was read"
            raise _too_large(source, limit, size=download.size, read=0, how=how)
        buffer = bytearray()
        for chunk in download.chunks:
            buffer += chunk
            if len(buffer) > limit:
                how = f"reading stopped after {plural(len(buffer), 'byte')}"
                raise _too_large(source, limit, size=None, read=len(buffer), how=how)
    return bytes(buffer)


def _too_large(source: ResultSource, limit: int, *, size: int | None, read: int, how: str) -> ResultTooLarge:
    what = plural(size, "byte") if size is not None else f"more than {plural(limit, 'byte')}"
    detail = f"{what} ({how})"
    return ResultTooLarge(
        f"the result of job {source.job_id} is {what}, above inline_limit ({plural(limit, 'byte')}), so it "
        f"does not go to XCom ({how}): set output_path (e.g. 's3://bucket/results/{{{{ run_id }}}}.json') "
        "to stream it there, or raise inline_limit",
        job_id=source.job_id,
        limit=limit,
        size=size,
        read=read,
        detail=detail,
    )


def _remove(destination: Any) -> None:
    try:
        if destination.exists():
            destination.unlink()
    except Exception as error:  # the original error matters more
        log.warning("could not remove the partial result %s: %s", destination, error)
