"""The one gate for what comes from outside: numbers, delays, job ids and JSON bodies.

A vendor answer, an operator argument or a connection extra is checked here once, where it enters, so
that nothing further in can meet a NaN, an infinite delay, an id that walks out of its URL path, or a
body nested deep enough to overflow the parser's stack. Every refusal is a named error of ours whose
message says which field and what to do.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from airflow_jobstatus.errors import ConfigurationError

#: The longest any delay or timeout argument may be: one year. (A longer one overflows timedelta.)
MAX_SECONDS = 366 * 24 * 3600.0
#: Job ids are at most this long (vendors use 10-40 characters).
MAX_JOB_ID_CHARS = 128
#: What a job id may hold when a vendor says nothing stricter: letters, digits, ``_`` and ``-``.
SAFE_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
#: A job id of digits only (ASCII: ``"١٢"`` is digits to ``str.isdigit`` but no vendor's id).
DIGITS_JOB_ID = re.compile(r"[0-9]+")


def finite_number(name: str, value: Any) -> float:
    """``value`` as a finite float, or a ConfigurationError naming ``name`` (bools, None, text that is
    not a number, NaN and infinities are all refused)."""
    if isinstance(value, bool) or value is None:
        raise ConfigurationError(f"{name} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigurationError(f"{name} must be a number, not {short_repr(value)}") from None
    if not math.isfinite(number):
        raise ConfigurationError(f"{name} must be a finite number, not {short_repr(value)}")
    return number


def positive_seconds(name: str, value: Any, *, maximum: float = MAX_SECONDS) -> float:
    """``value`` as float seconds above 0 and at most ``maximum`` (one year by default), or a
    ConfigurationError naming ``name`` and the fix."""
    seconds = finite_number(name, value)
    if seconds <= 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, not {short_repr(value)}")
    if seconds > maximum:
        raise ConfigurationError(
            f"{name} must be at most {maximum:g} seconds, not {short_repr(value)}; use a shorter {name}"
        )
    return seconds


def whole_number(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int of at least ``minimum`` (a float with a fraction, a bool or text is refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ConfigurationError(f"{name} must be a whole number, not {short_repr(value)}")
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise ConfigurationError(f"{name} must be a whole number, not {short_repr(value)}")
    number = int(value)
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigurationError(f"{name} must be {bound}, not {short_repr(value)}")
    return number


def check_flag(name: str, value: Any) -> bool:
    """``value`` if it is a bool; a ConfigurationError naming ``name`` otherwise (``"False"`` is truthy)."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, not {short_repr(value)}")
    return value


def sane_delay(seconds: float | None, *, fallback: float, ceiling: float = MAX_SECONDS) -> float:
    """A delay safe to sleep for: ``seconds`` clipped to ``[0, ceiling]``; ``fallback`` when it is None or
    not finite (an int too large for a float counts as not finite; a ``fallback`` that is not finite
    either gives 0). (``asyncio.sleep(nan)`` poisons an event loop's timer heap: no sleep may ever get one.)
    """
    delay = _finite_float(seconds)
    if delay is None:
        delay = _finite_float(fallback)
    upper = float(ceiling) if ceiling >= 0 else 0.0  # a NaN or negative ceiling: no wait at all
    return min(max(delay or 0.0, 0.0), upper)


def _finite_float(value: Any) -> float | None:
    """``value`` as a finite float, or None (None, a bool, NaN, an infinity, an int beyond float range)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


#: How an error names the id shapes of the shipped vendors (another vendor's pattern is shown as it is).
_ID_SHAPES = {DIGITS_JOB_ID.pattern: "digits", SAFE_JOB_ID.pattern: "letters, digits, '_' and '-'"}


def listed_job_ids(listed: Sequence[Any], shown: Any, *, name: str = "job_id") -> list[str]:
    """Job ids given as a list: each text or a number (not a bool, not a number too long to be an id),
    stripped, none empty; a ConfigurationError naming ``name`` and showing ``shown`` (what was given)
    otherwise. Duplicates are kept (the caller decides)."""
    if not listed or any(isinstance(job_id, bool) or not isinstance(job_id, (str, int)) for job_id in listed):
        raise ConfigurationError(
            f"{name} must be a job id or a non-empty list of job ids (text or numbers), got "
            + short_repr(shown, 80)
        )
    if any(isinstance(job_id, int) and job_id.bit_length() > 4 * MAX_JOB_ID_CHARS for job_id in listed):
        raise ConfigurationError(
            f"{name} {short_repr(shown, 80)} holds a number too long to be a job id "
            f"(at most {MAX_JOB_ID_CHARS} digits)"
        )
    ids = [str(job_id).strip() for job_id in listed]
    if any(not job_id for job_id in ids):
        raise ConfigurationError(
            f"{name} must be a job id or a non-empty list of job ids, got {short_repr(shown, 80)}"
        )
    return ids


def check_job_id(vendor: str, job_id: Any, pattern: re.Pattern[str] = SAFE_JOB_ID) -> str:
    """``job_id`` as text, if it is a job id ``vendor`` could have given (``pattern``, at most 128
    characters); a ConfigurationError naming it otherwise. Run before any request, so an id such as
    ``../../users/me`` or ``1?x=1#`` never reaches a URL."""
    if isinstance(job_id, bool) or not isinstance(job_id, (str, int)):
        raise ConfigurationError(
            f"job id {short_repr(job_id)} is not a job id of {vendor}: give text or a number"
        )
    if isinstance(job_id, int) and job_id.bit_length() > 4 * MAX_JOB_ID_CHARS:  # too long (to print, even)
        raise ConfigurationError(
            f"job id {short_repr(job_id)} is not a job id of {vendor}: "
            f"it has more than {MAX_JOB_ID_CHARS} digits"
        )
    text = str(job_id).strip()
    if len(text) > MAX_JOB_ID_CHARS or not pattern.fullmatch(text):
        shape = _ID_SHAPES.get(pattern.pattern, f"text matching {pattern.pattern}")
        raise ConfigurationError(
            f"job id {short_repr(text)} is not a job id of {vendor}: it must be {shape}, "
            f"at most {MAX_JOB_ID_CHARS} characters"
        )
    return text


class UnsafeJson(ValueError):
    """A body that is JSON in form but unsafe to use: ``NaN``/``Infinity``, or nesting that would overflow
    the stack. (A body that is not JSON at all raises a plain ValueError.)"""


def _reject_constant(name: str) -> float:
    raise UnsafeJson(f"{name} is not a JSON number")


def loads_json(body: bytes | str) -> Any:
    """Parse JSON from outside: like ``json.loads``, but ``NaN``/``Infinity`` (which Python accepts and
    JSON does not have) and nesting deep enough to overflow the stack raise :class:`UnsafeJson`."""
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise UnsafeJson("the JSON is nested too deeply") from None


def short_repr(value: Any, limit: int = 60) -> str:
    """``value``'s repr for a message, at most ``limit`` characters (an int too long to print, or a list
    nested too deeply to print, is described instead: its repr would raise)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        if isinstance(value, int):
            return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
        return f"a {type(value).__name__} that cannot be printed"
    return text if len(text) <= limit else text[: limit - 3] + "..."
