"""CSV text: UTF-8 (with or without BOM), UTF-16 with BOM, or the fallback encoding;
comma, semicolon or tab, found from the header line or a ``sep=`` line."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator
from typing import IO, Any

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


#: Bytes read at a time: the text is decoded and its rows read block by block, never held whole.
BLOCK = 1 << 20


def detect_encoding(fileobj: IO[bytes], *, name: str) -> tuple[str, int]:
    """The file's encoding and its number of lines: by its byte-order mark, else strict UTF-8, else ``CSV_FALLBACK_ENCODING``.

    The whole file is decoded once to check it, a block at a time. The fallback is
    used only when no part of the file reads as UTF-8: a file of valid UTF-8 with a
    stray invalid byte is refused, naming the line and byte, rather than imported
    whole as mojibake ("Ã©" for "é").
    """
    fileobj.seek(0)
    start = fileobj.read(4)
    if start.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", _strict(fileobj, "utf-8-sig", name=name)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", _strict(fileobj, "utf-16", name=name)
    try:
        return "utf-8", _lines_checked(fileobj, "utf-8", name=name)
    except UnicodeDecodeError as exc:
        utf8_error = exc.start
    fallback = conf.get("CSV_FALLBACK_ENCODING")
    if not fallback:
        raise _undecodable(fileobj, utf8_error, "utf-8", name=name)
    if _has_utf8_sequence(fileobj):
        # Accented letters written as UTF-8 beside a stray byte: any other encoding would garble every one of them.
        message = _(
            "The file is UTF-8 text except for one byte: line %(line)d has the byte 0x%(byte)02X at position %(column)d, "
            "which is not UTF-8. Save the file as CSV UTF-8 and upload again."
        )
        raise _undecodable(fileobj, utf8_error, "utf-8", name=name, message=message)
    try:
        return fallback, _lines_checked(fileobj, fallback, name=name)
    except UnicodeDecodeError as exc:
        message = _(
            "The file's text is neither UTF-8 nor %(encoding)s: line %(line)d has the byte 0x%(byte)02X at position %(column)d. "
            "Save it as CSV UTF-8 and upload again."
        )
        raise _undecodable(fileobj, min(exc.start, utf8_error), fallback, name=name, message=message) from None
    except LookupError:
        raise _undecodable(fileobj, utf8_error, "utf-8", name=name) from None


def encoding_label(encoding: str) -> str:
    """An encoding's name for people ("Windows-1252")."""
    return ENCODING_NAMES.get(encoding.lower(), encoding)


def _strict(fileobj: IO[bytes], encoding: str, *, name: str) -> int:
    try:
        return _lines_checked(fileobj, encoding, name=name)
    except UnicodeDecodeError as exc:
        raise _undecodable(fileobj, exc.start, encoding, name=name) from None
    except LookupError:
        raise FileRejected(_("The file's text cannot be decoded; save it as CSV UTF-8 and upload again."), file=name) from None


def _lines_checked(fileobj: IO[bytes], encoding: str, *, name: str) -> int:
    """Decode the whole file a block at a time; its number of lines. A byte that is not ``encoding`` raises
    :class:`UnicodeDecodeError` whose ``start`` is its offset in the file; a NUL character, :class:`FileRejected`."""
    decoder = codecs.getincrementaldecoder(encoding)()
    fileobj.seek(0)
    offset, lines = 0, 1
    for block in itertools.chain(iter(lambda: fileobj.read(BLOCK), b""), [b""]):  # the empty block ends the decoding
        try:
            text = decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            held = len(exc.object) - len(block)  # bytes of an unfinished sequence the decoder kept from the block before
            raise UnicodeDecodeError(exc.encoding, exc.object, offset - held + exc.start, offset - held + exc.end, exc.reason) from None
        if "\x00" in text:
            raise FileRejected(_("The file contains NUL bytes; it is not a CSV text file."), file=name)
        lines += text.count("\n")
        offset += len(block)
    return lines


def _has_utf8_sequence(fileobj: IO[bytes]) -> bool:
    """Whether any part of the file is a UTF-8 sequence of two to four bytes (blocks overlap by three bytes)."""
    fileobj.seek(0)
    tail = b""
    for block in iter(lambda: fileobj.read(BLOCK), b""):
        if UTF8_SEQUENCE.search(tail + block):
            return True
        tail = block[-3:]
    return False


def _undecodable(fileobj: IO[bytes], offset: int, encoding: str, *, name: str, message: str = "") -> FileRejected:
    """Name the line and byte that are not ``encoding`` (positions count bytes from 1), and ask for a UTF-8 save."""
    fileobj.seek(0)
    line, line_start, read = 1, 0, 0
    while read < offset:
        block = fileobj.read(min(BLOCK, offset - read))
        if not block:
            break
        line += block.count(b"\n")
        if (last := block.rfind(b"\n")) >= 0:
            line_start = read + last + 1
        read += len(block)
    byte = fileobj.read(1)[:1] or b"\x00"
    message = message or _(
        "The file's text is not valid %(encoding)s: line %(line)d has the byte 0x%(byte)02X at position %(column)d. "
        "Save it as CSV UTF-8 and upload again."
    )
    values = {"encoding": encoding_label(encoding), "line": line, "byte": byte[0], "column": offset - line_start + 1}
    return FileRejected(message % values, file=name)


def sniff_delimiter(first_line: str) -> str:
    """The delimiter the header line uses most, outside quotes; comma when none."""
    outside = "".join(part for index, part in enumerate(first_line.split('"')) if index % 2 == 0)
    counts = {d: outside.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


class CsvBook:
    """A CSV file whose encoding was found once; it has no sheets, and :meth:`table` streams its rows."""

    format = CSV
    sheet_names: list[str] = []

    def __init__(self, fileobj: IO[bytes], *, name: str, limits: Limits, budget: Budget) -> None:
        self.fileobj, self.name, self.limits, self.budget = fileobj, name, limits, budget
        self.encoding, self.lines = detect_encoding(fileobj, name=name)

    def value_rows(self, sheet: str | None = None) -> int:
        """About how many rows the file has: its lines."""
        return self.lines

    def table(self, sheet: str | None = None, *, closing: bool = False) -> Table:
        table = open_csv(self.fileobj, self.encoding, name=self.name, limits=self.limits, budget=self.budget)
        table.encoding = self.encoding
        return table

    def close(self) -> None:
        pass


def open_csv(fileobj: IO[bytes], encoding: str, *, name: str, limits: Limits, budget: Budget) -> Table:
    skip, delimiter = 0, None
    lines = _text_lines(fileobj, encoding)
    try:
        first = next(lines, "").rstrip("\r\n").strip(" ")  # not the tab that "sep=\t" names
        if first.lower().startswith("sep=") and len(first) == 5:
            # Excel's hint line: "sep=;" names the delimiter and is not part of the table.
            delimiter, skip = first[4], 1
        if delimiter is None:
            line = first
            while not line.strip() and (line := next(lines, None)) is not None:
                pass
            delimiter = sniff_delimiter((line or "").rstrip("\r\n"))
    finally:
        lines.close()
    rows = _csv_rows(_text_lines(fileobj, encoding), delimiter=delimiter, skip=skip, name=name, limits=limits)
    return build_table(budget.metered(rows), name=name, limits=limits, format=CSV)


def _text_lines(fileobj: IO[bytes], encoding: str) -> Iterator[str]:
    """The file's lines from its start, decoded a block at a time, each with its line end ("\n", "\r" or "\r\n"), as
    ``io.StringIO(text, newline="")`` gives them. The file object stays open: only the text reader over it is closed."""
    reader = io.TextIOWrapper(io.BufferedReader(_Borrowed(fileobj), BLOCK), encoding=encoding, newline="")
    try:
        yield from reader
    finally:
        reader.close()


class _Borrowed(io.RawIOBase):
    """Bytes read from a file object that is not closed with its reader (the caller's upload or stored file).

    Each read starts where the last one ended, wherever others moved the file in between (the file is hashed and
    stored while a plan's reader may still be open on it).
    """

    def __init__(self, fileobj: IO[bytes]) -> None:
        self._fileobj, self._position = fileobj, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._fileobj.seek(self._position)
        data = self._fileobj.read(len(buffer))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def _csv_rows(stream: Iterator[str], *, delimiter: str, skip: int, name: str, limits: Limits) -> Iterator[tuple[int, list[str]]]:
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
