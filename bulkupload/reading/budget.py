"""A reading's time budget: the seconds spent inside the reader for one file, whatever the file claims.

Only the reader's own time counts (scanning, parsing, building rows), not what the
caller does between rows (validating, inserting), so a large legitimate file read by
a task worker is held to the same budget as one read in a request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from django.utils.translation import gettext as _

from ..exceptions import FileRejected

T = TypeVar("T")


@dataclass
class Budget:
    """Seconds of reading left for one file; :meth:`check` refuses the file once they are spent."""

    seconds: float
    name: str
    spent: float = 0.0
    _since: float | None = None

    @classmethod
    def start(cls, limits: Any, *, name: str) -> Budget:
        budget = cls(seconds=limits.max_read_seconds, name=name)
        budget._since = time.monotonic()
        return budget

    def check(self, *, sheet: str | None = None, row: int | None = None) -> None:
        """Raise :class:`FileRejected` when the reading time is spent."""
        if self.used() > self.seconds:
            raise FileRejected(
                _("Reading this file takes longer than %(seconds)d seconds, the limit for one file. Split it into smaller files.")
                % {"seconds": self.seconds},
                file=self.name,
                sheet=sheet,
                row=row,
            )

    def used(self) -> float:
        return self.spent + (time.monotonic() - self._since if self._since is not None else 0.0)

    def pause(self) -> None:
        if self._since is not None:
            self.spent += time.monotonic() - self._since
            self._since = None

    def resume(self) -> None:
        if self._since is None:
            self._since = time.monotonic()

    def metered(self, rows: Iterator[T], *, sheet: str | None = None, every: int = 256) -> Iterator[T]:
        """``rows``, counting only the time spent producing them, checked every ``every`` rows."""
        count = 0
        self.resume()
        try:
            for item in rows:
                count += 1
                if count % every == 0:
                    self.check(sheet=sheet, row=item[0] if isinstance(item, tuple) else None)
                self.pause()
                yield item
                self.resume()
        finally:
            self.pause()
            getattr(rows, "close", lambda: None)()
