"""Sets of input indexes kept as sorted ``[start, stop)`` ranges: a million contiguous items are one pair.

The ledger (:mod:`airflow_jobstatus.core.ledger`) keeps which items each job covers, and which are still to
send, this way, so that its size and the cost of its questions grow with the number of jobs and gaps,
not of items.
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from typing import overload


class IndexRanges(Sequence[int]):
    """Ascending input indexes held as half-open ranges: its length and slices cost no more than the
    ranges they touch (a million pending items are one range)."""

    def __init__(self, ranges: list[list[int]]) -> None:
        self.ranges = ranges
        self._starts: list[int] = []
        total = 0
        for start, stop in ranges:
            self._starts.append(total)
            total += stop - start
        self._len = total

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, key: int) -> int: ...
    @overload
    def __getitem__(self, key: slice) -> list[int]: ...
    def __getitem__(self, key: int | slice) -> int | list[int]:
        if isinstance(key, slice):
            start, stop, step = key.indices(self._len)
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            out: list[int] = []
            part = bisect_right(self._starts, start) - 1
            while start < stop:
                first, last = self.ranges[part]
                begin = first + start - self._starts[part]
                end = min(last, begin + stop - start)
                out.extend(range(begin, end))
                start += end - begin
                part += 1
            return out
        index = operator.index(key)
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError("index out of range")
        part = bisect_right(self._starts, index) - 1
        return self.ranges[part][0] + index - self._starts[part]

    def __iter__(self) -> Iterator[int]:
        for start, stop in self.ranges:
            yield from range(start, stop)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IndexRanges):
            return self.ranges == other.ranges
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(other) == self._len and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"IndexRanges({self.ranges})"


def normalized(indexes: Iterable[int]) -> list[list[int]]:
    """The ranges of a set of indexes given in any order, duplicates and all."""
    return to_ranges(sorted(set(indexes)))


def normalized_ranges(ranges: Iterable[Sequence[int]]) -> list[list[int]]:
    """Sorted, disjoint, merged copies of ``ranges``."""
    out: list[list[int]] = []
    for start, stop in sorted((int(a), int(b)) for a, b in ranges if b > a):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], stop)
        else:
            out.append([start, stop])
    return out


def subtract_ranges(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:
    """``a`` without ``b`` (both sorted and disjoint)."""
    out: list[list[int]] = []
    j = 0
    for start, stop in a:
        while j < len(b) and b[j][1] <= start:
            j += 1
        k = j
        while start < stop:
            if k == len(b) or b[k][0] >= stop:
                out.append([start, stop])
                break
            if b[k][0] > start:
                out.append([start, b[k][0]])
            start = max(start, b[k][1])
            k += 1
    return out


def to_ranges(indexes: Iterable[int]) -> list[list[int]]:
    """``[0, 1, 2, 5]`` -> ``[[0, 3], [5, 6]]`` (half-open ranges, order kept)."""
    ranges: list[list[int]] = []
    for index in indexes:
        if ranges and ranges[-1][1] == index:
            ranges[-1][1] = index + 1
        else:
            ranges.append([index, index + 1])
    return ranges


def from_ranges(ranges: Iterable[Sequence[int]]) -> list[int]:
    """The inverse of :func:`to_ranges`."""
    return [index for start, stop in ranges for index in range(start, stop)]


def describe_indexes(indexes: Iterable[int]) -> str:
    """Input indexes for messages: ``items 0-99``, ``item 7``, ``items 3, 10-12``."""
    ordered = sorted(set(indexes))
    parts = [f"{a}" if b - a == 1 else f"{a}-{b - 1}" for a, b in to_ranges(ordered)]
    noun = "item" if len(ordered) == 1 else "items"
    return f"{noun} {', '.join(parts)}" if parts else "no items"
