"""Counted nouns for messages: ``1 job``, ``2 jobs``, ``1 media``."""

from __future__ import annotations


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``count`` and ``noun``, the noun in the plural unless ``count`` is 1: ``plural(1, "job")`` is
    ``1 job``, ``plural(0, "job")`` ``0 jobs``; an irregular plural is given, as in
    ``plural(2, "media", "media")``."""
    word = noun if count == 1 else (plural_form or f"{noun}s")
    return f"{count} {word}"
