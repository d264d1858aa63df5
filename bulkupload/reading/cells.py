"""Turn a cell's value, whatever its type, into the text a person would see in it."""

from __future__ import annotations

import datetime
from typing import Any

# Spaces a copy from a web page or a PDF brings along.
INVISIBLE = "\u00a0\u200b\u200c\u200d\u2060\ufeff"


def cell_text(value: Any) -> str:
    """Cell text, stripped of surrounding (also non-breaking and zero-width) spaces."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        hours = value.total_seconds() / 3600
        return str(int(hours)) if hours.is_integer() else repr(round(hours, 6))
    return str(value).strip(" \t\r\n" + INVISIBLE)


def trim_trailing(cells: list[str]) -> list[str]:
    """Drop empty cells at the end of a row."""
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]
