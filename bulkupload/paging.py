"""Pages of an upload's rows that cost the same on row 100,000 as on row 1."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from .models import UploadBatch


class CountedPaginator(Paginator):
    """A paginator told its row count (kept on the batch) instead of running ``COUNT(*)`` over every row."""

    def __init__(self, object_list: Any, per_page: int, *, count: int, **kwargs: Any) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


def status_count(batch: UploadBatch, status: str) -> int:
    """How many of the batch's rows have ``status`` ("" for all), from the counts kept on the batch."""
    return batch.count_of(status)
