"""How big, how inflated and how slow a result download may be: the ``[jobstatus]`` download settings.

``max_result_bytes`` caps the document, ``max_result_inflation`` the decompressed bytes per byte received
for a body sent with a ``Content-Encoding``, ``result_download_timeout`` the whole download and
``min_result_bytes_per_second`` its average throughput (after :data:`THROUGHPUT_GRACE_SECONDS`). Each
setting is checked once, when read: a value that is not a finite number in range is a ConfigurationError
naming it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from airflow_jobstatus.core.checks import finite_number
from airflow_jobstatus.errors import ConfigurationError

SECTION = "jobstatus"
DEFAULT_MAX_RESULT_BYTES = 10 * 1024**3
DEFAULT_MAX_INFLATION = 100.0
DEFAULT_DOWNLOAD_TIMEOUT = 3600.0
DEFAULT_MIN_BYTES_PER_SECOND = 1024.0
#: Throughput is judged only once the body has been arriving this long.
THROUGHPUT_GRACE_SECONDS = 30.0
#: A compressed body may inflate this much whatever its ratio (small, very repetitive documents).
INFLATION_FLOOR_BYTES = 1 << 20


@dataclass(frozen=True)
class _Rule:
    option: str
    field: str
    default: float
    minimum: float
    above: bool


_RULES = (
    _Rule("max_result_bytes", "max_bytes", DEFAULT_MAX_RESULT_BYTES, 0, True),
    _Rule("max_result_inflation", "max_inflation", DEFAULT_MAX_INFLATION, 1, False),
    _Rule("result_download_timeout", "deadline_seconds", DEFAULT_DOWNLOAD_TIMEOUT, 0, True),
    _Rule("min_result_bytes_per_second", "min_bytes_per_second", DEFAULT_MIN_BYTES_PER_SECOND, 0, False),
)


def setting_name(option: str) -> str:
    """``[jobstatus] option (environment AIRFLOW__JOBSTATUS__OPTION)``, for messages."""
    return f"[{SECTION}] {option} (environment AIRFLOW__{SECTION.upper()}__{option.upper()})"


def check_number(option: str, value: Any, *, minimum: float, above: bool, default: float) -> float:
    """``value`` of the setting ``[jobstatus] option`` as a finite number of at least (``above``: more
    than) ``minimum``, or a ConfigurationError naming the setting and the fix."""
    try:
        number: float | None = finite_number(option, value)
    except ConfigurationError:
        number = None
    if number is None or (number <= minimum if above else number < minimum):
        bound = f"above {minimum:g}" if above else f"of {minimum:g} or more"
        raise ConfigurationError(
            f"{setting_name(option)} must be a number {bound}, not {value!r}: fix it, or unset it for "
            f"the default {default:g}"
        )
    return number


@dataclass(frozen=True)
class DownloadLimits:
    """How big, how inflated and how slow a result download may be (see the module docstring).

    :param max_bytes: most bytes of the document (after decompression).
    :param max_inflation: most decompressed bytes per byte received, for a body sent with a
        ``Content-Encoding``, once past :data:`INFLATION_FLOOR_BYTES`.
    :param deadline_seconds: the whole download (redirects, headers, body) ends within this.
    :param min_bytes_per_second: the body arrives at least this fast on average, once it has been
        arriving ``grace_seconds``; 0 turns the check off.
    :param grace_seconds: see ``min_bytes_per_second``.
    """

    max_bytes: int = DEFAULT_MAX_RESULT_BYTES
    max_inflation: float = DEFAULT_MAX_INFLATION
    deadline_seconds: float = DEFAULT_DOWNLOAD_TIMEOUT
    min_bytes_per_second: float = DEFAULT_MIN_BYTES_PER_SECOND
    grace_seconds: float = THROUGHPUT_GRACE_SECONDS

    def __post_init__(self) -> None:
        for rule in _RULES:
            value = getattr(self, rule.field)
            check_number(rule.option, value, minimum=rule.minimum, above=rule.above, default=rule.default)
        if not (math.isfinite(self.grace_seconds) and self.grace_seconds >= 0):
            raise ConfigurationError(
                f"grace_seconds must be a number of 0 or more, not {self.grace_seconds!r}"
            )

    @classmethod
    def from_settings(cls) -> DownloadLimits:
        """The limits from the ``[jobstatus]`` settings ``max_result_bytes``, ``max_result_inflation``,
        ``result_download_timeout`` and ``min_result_bytes_per_second``, each checked here (unset: the
        default)."""
        from airflow_jobstatus.core.result_location import airflow_setting

        values: dict[str, float] = {}
        for rule in _RULES:
            text = airflow_setting(SECTION, rule.option)
            values[rule.field] = (
                check_number(rule.option, text, minimum=rule.minimum, above=rule.above, default=rule.default)
                if text
                else rule.default
            )
        return cls(
            max_bytes=int(values["max_bytes"]),
            max_inflation=values["max_inflation"],
            deadline_seconds=values["deadline_seconds"],
            min_bytes_per_second=values["min_bytes_per_second"],
        )
