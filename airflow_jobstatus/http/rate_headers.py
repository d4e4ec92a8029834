"""What a vendor's answer says of its account's rate limit: the ``X-Rate-Limit`` / ``ratelimit-*`` headers.

Zendesk sends, on every answer, the account's limit per minute and what is left of it, in two spellings:
``X-Rate-Limit`` and ``X-Rate-Limit-Remaining``, and ``ratelimit-limit``, ``ratelimit-remaining`` and
``ratelimit-reset`` (seconds until the window frees). Other APIs use ``X-RateLimit-*`` or the IETF draft's
``RateLimit-Limit: 100, 100;w=60``. Every value is hostile until checked: a value that is not a plain
non-negative number of sane size is ignored, as is a remaining count above the limit, so a broken
header can neither stop the budget nor let it run wild.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

#: Header spellings, in the order they are tried (headers are matched without regard to case).
LIMIT_HEADERS = ("ratelimit-limit", "x-rate-limit", "x-ratelimit-limit")
REMAINING_HEADERS = ("ratelimit-remaining", "x-rate-limit-remaining", "x-ratelimit-remaining")
RESET_HEADERS = ("ratelimit-reset", "x-rate-limit-reset", "x-ratelimit-reset")
#: The window of a limit that does not state one (Zendesk's limits are per minute).
DEFAULT_WINDOW = 60.0
#: Larger numbers are not a rate limit anyone sends: ignored (a header of a million digits included).
MAX_COUNT = 10_000_000
#: A reset further away than this is not believed (an epoch timestamp, say): the window is used instead.
MAX_RESET = 3600.0

_FIRST_NUMBER = re.compile(r"\s*(\d{1,12}(?:\.\d{1,6})?)\s*(?:[,;]|$)")
_WINDOW = re.compile(r";\s*w\s*=\s*(\d{1,6})\b")


@dataclass(frozen=True)
class AccountLimit:
    """The account's rate limit as one answer reported it.

    :param limit: requests the account may send per window (all its integrations together).
    :param remaining: requests left in the current window when the vendor answered.
    :param reset: seconds from the answer until the window frees room again (None: not said).
    :param window: the window the limit counts over, in seconds.
    """

    limit: int
    remaining: int
    reset: float | None = None
    window: float = DEFAULT_WINDOW

    @property
    def per_minute(self) -> float:
        """The limit as requests per minute."""
        return self.limit * 60.0 / self.window


def account_limit(headers: Mapping[str, str]) -> AccountLimit | None:
    """The rate limit the answer's ``headers`` report, or None when they report none that can be trusted."""
    lowered = _lowered(headers)
    limit_text = _first(lowered, LIMIT_HEADERS)
    limit = _count(limit_text)
    remaining = _count(_first(lowered, REMAINING_HEADERS))
    if limit is None or remaining is None or limit < 1 or remaining > limit:
        return None
    window = _window(limit_text) or DEFAULT_WINDOW
    reset = _seconds(_first(lowered, RESET_HEADERS))
    if reset is not None and reset > max(window, MAX_RESET):
        reset = None
    return AccountLimit(int(limit), int(remaining), reset, window)


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in headers.items():
        if isinstance(name, str) and isinstance(value, str):
            found.setdefault(name.lower(), value)
    return found


def _first(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in headers:
            return headers[name]
    return None


def _number(text: str | None) -> float | None:
    if text is None or len(text) > 200:
        return None
    match = _FIRST_NUMBER.match(text)
    if match is None:
        return None
    value = float(match.group(1))
    return value if math.isfinite(value) else None


def _count(text: str | None) -> float | None:
    value = _number(text)
    if value is None or value != int(value) or value > MAX_COUNT:
        return None
    return value


def _seconds(text: str | None) -> float | None:
    value = _number(text)
    return None if value is None or value > MAX_COUNT else value


def _window(limit_text: str | None) -> float | None:
    if limit_text is None or len(limit_text) > 200:
        return None
    match = _WINDOW.search(limit_text)
    if match is None:
        return None
    seconds = float(match.group(1))
    return seconds if 1 <= seconds <= MAX_RESET else None
