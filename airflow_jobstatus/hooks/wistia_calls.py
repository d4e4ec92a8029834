"""Wistia's job-creating calls: each one's request, built only from input that passed its checks.

Every check runs before any request and names the argument and the fix. Nothing here talks HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_jobstatus.core.checks import short_repr
from airflow_jobstatus.core.wording import plural
from airflow_jobstatus.errors import ConfigurationError

#: The most media one archive, restore or move request may name (Wistia's documented limit).
MAX_MEDIA_PER_REQUEST = 100
#: The media bulk actions of ``WistiaMediaBulkOperator`` and whether each needs a ``folder_id``.
MEDIA_BULK_ACTIONS: dict[str, bool] = {"archive": False, "restore": True, "move": True, "copy": True}

_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_TRIM = re.compile(r"^(\d{2}):([0-5]\d):([0-5]\d)\.(\d{3})-(\d{2}):([0-5]\d):([0-5]\d)\.(\d{3})$")


@dataclass(frozen=True)
class WistiaCall:
    """One job-creating request: method, path under the base URL, JSON body, and what it does (for logs)."""

    method: str
    path: str
    body: dict[str, Any] | None
    what: str
    media: list[str] = field(default_factory=list)


def check_id(value: Any, name: str) -> str:
    """A hashed id or folder id as text; raises naming ``name`` when it is blank or has odd characters."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConfigurationError(f"{name} must be a Wistia hashed id (text), got {type(value).__name__}")
    if isinstance(value, int) and value.bit_length() > 512:  # no id, and str() of it may raise
        raise ConfigurationError(f"{name}: {short_repr(value)} is not a Wistia hashed id")
    text = str(value).strip()
    if not _ID.match(text):
        raise ConfigurationError(
            f"{name}: {text!r} is not a Wistia hashed id; use the id from the media or folder URL "
            "(letters and digits, e.g. 'abc123def4')"
        )
    return text


def check_hashed_ids(value: Any, name: str = "hashed_ids", limit: int | None = None) -> list[str]:
    """A non-empty list of distinct hashed ids (at most ``limit``), each checked."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigurationError(f"{name} must be a list of hashed ids, got {type(value).__name__}")
    if not value:
        raise ConfigurationError(f"{name} is empty: give at least one hashed id")
    ids = [check_id(item, f"{name}[{pos}]") for pos, item in enumerate(value)]
    seen: dict[str, int] = {}
    for pos, hashed_id in enumerate(ids):
        if hashed_id in seen:
            raise ConfigurationError(
                f"{name}[{pos}]: {hashed_id!r} appears twice (also at [{seen[hashed_id]}]); "
                "name each media once"
            )
        seen[hashed_id] = pos
    if limit is not None and len(ids) > limit:
        raise ConfigurationError(
            f"{name} has {len(ids)} ids; Wistia takes at most {limit} per request (the operators split "
            "longer lists for you)"
        )
    return ids


def check_texts(value: Any, name: str) -> list[str]:
    """A non-empty list of non-blank strings (e.g. tag names)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not value:
        raise ConfigurationError(f"{name} must be a non-empty list of strings")
    out = []
    for pos, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ConfigurationError(f"{name}[{pos}] must be a non-blank string, got {short_repr(item)}")
        out.append(item.strip())
    return out


def _seconds(hours: str, minutes: str, seconds: str, millis: str) -> float:
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def check_trims(value: Any) -> list[str]:
    """Trim ranges ``HH:MM:SS.mmm-HH:MM:SS.mmm``, each starting before it ends."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not value:
        raise ConfigurationError(
            "trims must be a non-empty list of ranges such as '00:00:05.000-00:00:12.500'"
        )
    out = []
    for pos, item in enumerate(value):
        text = item.strip() if isinstance(item, str) else item
        match = _TRIM.match(text) if isinstance(text, str) else None
        if match is None:
            raise ConfigurationError(
                f"trims[{pos}]: {short_repr(item)} is not a range HH:MM:SS.mmm-HH:MM:SS.mmm "
                "(e.g. '00:00:05.000-00:00:12.500')"
            )
        parts = match.groups()
        if _seconds(*parts[:4]) >= _seconds(*parts[4:]):
            raise ConfigurationError(f"trims[{pos}]: {text!r} ends before it starts; give start-end")
        out.append(text)
    return out


def check_url(value: Any, name: str = "url") -> str:
    """An http(s) URL."""
    text = "" if isinstance(value, int) else str(value or "").strip()  # (no int is a URL; str() may raise)
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. "http://[": an unclosed IPv6 address
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{name}: {short_repr(value)} is not an http(s) URL Wistia can fetch")
    return text


# --- the calls -----------------------------------------------------------------------------------------
def bulk_tag_call(hashed_ids: Any, tag_names: Any) -> WistiaCall:
    """``POST /taggings/bulk_create``: add tags to media."""
    ids = check_hashed_ids(hashed_ids)
    tags = check_texts(tag_names, "tag_names")
    body = {"hashed_ids": ids, "tag_names": tags}
    return WistiaCall("POST", "/taggings/bulk_create", body, f"tag {len(ids)} media", ids)


def trim_call(hashed_id: Any, trims: Any, keep_trims: bool | None = None) -> WistiaCall:
    """``POST /medias/{hashed_id}/trims``: make a media from trim ranges."""
    media = check_id(hashed_id, "hashed_id")
    body: dict[str, Any] = {"trims": check_trims(trims)}
    if keep_trims is not None:
        body["keep_trims"] = bool(keep_trims)
    return WistiaCall("POST", f"/medias/{media}/trims", body, f"trim media {media}", [media])


def media_bulk_call(
    action: str, hashed_ids: Any, folder_id: Any = None, subfolder_id: Any = None
) -> WistiaCall:
    """``PUT /medias/{archive|restore|move|copy}`` for at most 100 media."""
    if action not in MEDIA_BULK_ACTIONS:
        raise ConfigurationError(f"action must be one of {sorted(MEDIA_BULK_ACTIONS)}, not {action!r}")
    ids = check_hashed_ids(hashed_ids, limit=MAX_MEDIA_PER_REQUEST)
    body: dict[str, Any] = {"hashed_ids": ids}
    if MEDIA_BULK_ACTIONS[action]:
        if folder_id is None or str(folder_id).strip() == "":
            raise ConfigurationError(f"folder_id is required to {action} media: the folder's hashed id")
        body["folder_id"] = check_id(folder_id, "folder_id")
    elif folder_id is not None:
        raise ConfigurationError(f"folder_id does not apply to {action}; leave it out")
    if subfolder_id is not None:
        if action != "move":
            raise ConfigurationError(f"subfolder_id applies to move only, not to {action}")
        body["subfolder_id"] = check_id(subfolder_id, "subfolder_id")
    return WistiaCall("PUT", f"/medias/{action}", body, f"{action} {len(ids)} media", ids)


def swap_call(hashed_id: Any, replacement_media_id: Any) -> WistiaCall:
    """``PUT /medias/{hashed_id}/swap``: replace a media's file with another media's."""
    media = check_id(hashed_id, "hashed_id")
    body = {"replacement_media_id": check_id(replacement_media_id, "replacement_media_id")}
    return WistiaCall("PUT", f"/medias/{media}/swap", body, f"swap media {media}", [media])


def translate_call(hashed_id: Any, target_language: Any, source_language: Any = None) -> WistiaCall:
    """``POST /medias/{hashed_id}/translate``: a translated copy of a media."""
    media = check_id(hashed_id, "hashed_id")
    body = {"target_language": check_texts(target_language, "target_language")[0]}
    if source_language is not None:
        body["source_language"] = check_texts(source_language, "source_language")[0]
    return WistiaCall("POST", f"/medias/{media}/translate", body, f"translate media {media}", [media])


def import_url_call(url: Any, folder_id: Any = None) -> WistiaCall:
    """``POST /medias/import_url``: a media imported from a URL."""
    body = {"url": check_url(url)}
    if folder_id is not None:
        body["folder_id"] = check_id(folder_id, "folder_id")
    return WistiaCall("POST", "/medias/import_url", body, "import a media from a URL")


def copy_folder_call(folder_id: Any, admin_email: str | None = None) -> WistiaCall:
    """``POST /folders/{id}/copy``: copy a folder and its media."""
    folder = check_id(folder_id, "folder_id")
    body = {"adminEmail": check_texts(admin_email, "admin_email")[0]} if admin_email is not None else {}
    return WistiaCall("POST", f"/folders/{folder}/copy", body, f"copy folder {folder}")


def bulk_delete_subfolders_call(folder_id: Any, hashed_ids: Any) -> WistiaCall:
    """``DELETE /folders/{id}/subfolders/bulk_delete``: delete subfolders of a folder."""
    folder = check_id(folder_id, "folder_id")
    ids = check_hashed_ids(hashed_ids)
    body = {"hashed_ids": ids}
    return WistiaCall(
        "DELETE",
        f"/folders/{folder}/subfolders/bulk_delete",
        body,
        f"delete {plural(len(ids), 'subfolder')}",
        ids,
    )
