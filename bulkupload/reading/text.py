"""CSV text: UTF-8 (with or without BOM), UTF-16 with BOM, or the fallback encoding;
comma, semicolon or tab, found from the header line or a ``sep=`` line."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from typing import IO

from django.utils.translation import gettext as _

from .. import conf
from ..exceptions import FileRejected
from .budget import Budget
from .cells import cell_text
from .sniff import CSV
from .table import Limits, Table, build_table

DELIMITERS = (",", ";", "\t", "|")


#: A valid UTF-8 sequence of two to four bytes: text written as UTF-8 has them wherever it is not plain ASCII.
UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252", "latin-1": "Latin-1"}


def decode(raw: bytes, *, name: str) -> tuple[str, str]:
    """The file's text and its encoding: by its byte-order mark, else strict UTF-8, else ``CSV_FALLBACK_ENCODING``.

    The fallback is used only when no part of the file reads as UTF-8: a file of
    valid UTF-8 with a stray invalid byte is refused, naming the line and byte,
    rather than imported whole as mojibake ("Ã©" for "é").
    """
    if raw.startswith(codecs.BOM_UTF8):
        return _strict(raw, "utf-8-sig", name=name), "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict(raw, "utf-16", name=name), "utf-16"
    try:
        return _checked(raw.decode("utf-8"), name=name), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    fallback = conf.get("CSV_FALLBACK_ENCODING")
    if not fallback:
        raise _undecodable(raw, utf8_error.start, "utf-8", name=name)
    if UTF8_SEQUENCE.search(raw):
        # Accented letters written as UTF-8 beside a stray byte: any other encoding would garble every one of them.
        message = _(
            "The file is UTF-8 text except for one byte: line %(line)d has the byte 0x%(byte)02X at position %(column)d, "
            "which is not UTF-8. Save the file as CSV UTF-8 and upload again."
        )
        raise _undecodable(raw, utf8_error.start, "utf-8", name=name, message=message)
    try:
        return _checked(raw.decode(fallback), name=name), fallback
    except UnicodeDecodeError as exc:
        message = _(
            "The file's text is neither UTF-8 nor %(encoding)s: line %(line)d has the byte 0x%(byte)02X at position %(column)d. "
            "Save it as CSV UTF-8 and upload again."
        )
        raise _undecodable(raw, min(exc.start, utf8_error.start), fallback, name=name, message=message) from None
    except LookupError:
        raise _undecodable(raw, utf8_error.start, "utf-8", name=name) from None


def encoding_label(encoding: str) -> str:
    """An encoding's name for people ("Windows-1252")."""
    return ENCODING_NAMES.get(encoding.lower(), encoding)


def _strict(raw: bytes, encoding: str, *, name: str) -> str:
    try:
        return _checked(raw.decode(encoding), name=name)
    except UnicodeDecodeError as exc:
        raise _undecodable(raw, exc.start, encoding, name=name) from None
    except LookupError:
        raise FileRejected(_("The file's text cannot be decoded; save it as CSV UTF-8 and upload again."), file=name) from None


def _checked(text: str, *, name: str) -> str:
    if "\x00" in text:
        raise FileRejected(_("The file contains NUL bytes; it is not a CSV text file."), file=name)
    return text


def _undecodable(raw: bytes, offset: int, encoding: str, *, name: str, message: str = "") -> FileRejected:
    """Name the line and byte that are not ``encoding`` (positions count bytes from 1), and ask for a UTF-8 save."""
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    message = message or _(
        "The file's text is not valid %(encoding)s: line %(line)d has the byte 0x%(byte)02X at position %(column)d. "
        "Save it as CSV UTF-8 and upload again."
    )
    return FileRejected(message % {"encoding": encoding_label(encoding), "line": line, "byte": raw[offset], "column": column}, file=name)


def sniff_delimiter(first_line: str) -> str:
    """The delimiter the header line uses most, outside quotes; comma when none."""
    outside = "".join(part for index, part in enumerate(first_line.split('"')) if index % 2 == 0)
    counts = {d: outside.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


class CsvBook:
    """A CSV file decoded once; it has no sheets, and :meth:`table` reads it."""

    format = CSV
    sheet_names: list[str] = []

    def __init__(self, fileobj: IO[bytes], *, name: str, limits: Limits, budget: Budget) -> None:
        fileobj.seek(0)
        self.name, self.limits, self.budget = name, limits, budget
        self.text, self.encoding = decode(fileobj.read(limits.max_file_size + 1), name=name)

    def value_rows(self, sheet: str | None = None) -> int:
        """About how many rows the file has: its lines."""
        return self.text.count("\n") + 1

    def table(self, sheet: str | None = None, *, closing: bool = False) -> Table:
        table = open_csv(self.text, name=self.name, limits=self.limits, budget=self.budget)
        table.encoding = self.encoding
        return table

    def close(self) -> None:
        pass


def open_csv(text: str, *, name: str, limits: Limits, budget: Budget) -> Table:
    skip, delimiter = 0, None
    first_end = _line_end(text, 0)
    first = text[:first_end].strip(" ")  # not the tab that "sep=\t" names
    if first.lower().startswith("sep=") and len(first) == 5:
        # Excel's hint line: "sep=;" names the delimiter and is not part of the table.
        delimiter, skip = first[4], 1
    if delimiter is None:
        start = 0
        while start < len(text) and not text[start : _line_end(text, start)].strip():
            start = _line_end(text, start) + 1
        delimiter = sniff_delimiter(text[start : _line_end(text, start)])
    rows = _csv_rows(io.StringIO(text, newline=""), delimiter=delimiter, skip=skip, name=name, limits=limits)
    return build_table(budget.metered(rows), name=name, limits=limits, format=CSV)


def _line_end(text: str, start: int) -> int:
    ends = [i for i in (text.find("\n", start), text.find("\r", start)) if i >= 0]
    return min(ends) if ends else len(text)


def _csv_rows(stream: io.StringIO, *, delimiter: str, skip: int, name: str, limits: Limits) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(stream, delimiter=delimiter)
    record = 0
    try:
        for values in reader:
            if reader.line_num <= skip:
                continue
            # Records, not physical lines: a quoted cell may span lines, as in Excel.
            record += 1
            yield record + skip, [cell_text(v) for v in values]
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            message = _('A cell holds more than %(limit)d characters; at most %(max)d are allowed. A quote (") may not be closed.') % {
                "limit": csv.field_size_limit(),
                "max": limits.max_cell_length,
            }
        else:
            message = _("The CSV text is malformed (%(reason)s).") % {"reason": exc}
        raise FileRejected(message, file=name, row=record + skip + 1) from None
