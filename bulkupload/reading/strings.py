"""A workbook's shared strings table, kept compactly past its first texts.

Cells point into the table by index, so it is held whole while a sheet streams. As a list of Python strings a
million short texts take about 80 MB; past the first :data:`KEPT_AS_IS` texts (where a file's repeated values,
first seen early, usually are), the table keeps blocks of texts joined into one string with an array of offsets,
about a fifth of that, and slices a text out when a cell asks for it.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence

#: Texts kept as they are, for the fastest lookups; the rest are joined block by block.
KEPT_AS_IS = 65_536
BLOCK = 1024


class SharedStrings(Sequence[str]):
    """Every ``<si>`` text in order, indexed as a list is (negative indexes and ``IndexError`` included)."""

    def __init__(self) -> None:
        self._head: list[str] = []
        self._blocks: list[str] = []
        self._offsets: list[array] = []
        self._pending: list[str] = []
        self._count = 0

    def append(self, text: str) -> None:
        self._count += 1
        if len(self._head) < KEPT_AS_IS:
            self._head.append(text)
            return
        self._pending.append(text)
        if len(self._pending) == BLOCK:
            self._seal()

    def _seal(self) -> None:
        offsets, total = array("I", [0]), 0
        for text in self._pending:
            total += len(text)
            offsets.append(total)
        self._blocks.append("".join(self._pending))
        self._offsets.append(offsets)
        self._pending = []

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("shared string index out of range")
        if index < KEPT_AS_IS:
            return self._head[index]
        block, at = divmod(index - KEPT_AS_IS, BLOCK)
        if block == len(self._blocks):
            return self._pending[at]
        offsets = self._offsets[block]
        return self._blocks[block][offsets[at] : offsets[at + 1]]

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(self._count))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(other) == self._count and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]
