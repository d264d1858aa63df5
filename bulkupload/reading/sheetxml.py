"""Excel workbooks (.xlsx), every one streamed: one reader for all, with flat memory whatever the file's length.

The archive is checked first (:mod:`.archive`). The small parts that describe the
workbook (content types, workbook, relationships, styles) are read by openpyxl as
before, so a broken one is reported in the same words. The two large parts are
parsed with the stdlib's expat (C), refusing any DOCTYPE, entity declaration or
external reference: the shared strings, held in a list within the archive's size
caps, and the sheet, streamed block by block, keeping only the rows of the current
block. The sheet's rows are cut out by patterns while expat checks every byte
(:mod:`.sheetscan`); a sheet holding anything the patterns do not cover is read by
the event parser here instead. The cell values, errors and messages are those of
the openpyxl reader (:mod:`.xlsx`) cell for cell (``tests/test_sheetxml.py``):
formulas give their saved result, or a "no saved result" problem; error cells are
marked; dates follow the cell's number format and the workbook's 1900/1904
calendar; merged ranges over the table are refused once the sheet has been read.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from typing import IO, Any
from xml.etree.ElementTree import ParseError
from xml.parsers import expat

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from django.utils.translation import gettext as _
from openpyxl.xml.constants import SHARED_STRINGS, SHEET_MAIN_NS

from ..exceptions import FileRejected
from .archive import check_archive
from .parts import _causes, _Reader
from .sheetcells import CellBuilder, check_merged, unsafe_message
from .sheetscan import Fallback, fast_rows
from .sniff import XLSX
from .strings import SharedStrings
from .table import Limits, Table, build_table

#: Bytes of unpacked XML handed to expat at a time: the rows of one block are all that is held.
BLOCK_SIZE = 256 * 1024
_NS = SHEET_MAIN_NS + "}"
ROW, CELL, VALUE, FORMULA, INLINE = _NS + "row", _NS + "c", _NS + "v", _NS + "f", _NS + "is"
TEXT, RUN, STRING_ITEM, MERGE_CELL = _NS + "t", _NS + "r", _NS + "si", _NS + "mergeCell"


def open_sheet(fileobj: IO[bytes], *, name: str, limits: Limits, sheet: str | None = None) -> Table:
    """The sheet (the first worksheet by default) of the workbook as a :class:`Table`."""
    book = Workbook(fileobj, name=name, limits=limits)
    if sheet is not None and sheet not in book.titles:
        raise FileRejected(_("The workbook has no sheet “%(sheet)s”.") % {"sheet": sheet}, file=name)
    title = sheet if sheet is not None else book.titles[0]
    rows = SheetRows(book, title)
    table = build_table(iter(rows), name=name, limits=limits, sheet=title, format=XLSX)
    rows.header_row, rows.header_width = table.header_row, len(table.header)
    table.rows = checking_merged(table.rows, rows)
    return table


def sheet_names(fileobj: IO[bytes], *, name: str, limits: Limits) -> list[str]:
    """The names of the workbook's worksheets (not chart sheets), in order."""
    return Workbook(fileobj, name=name, limits=limits).titles


def checking_merged(data: Iterator[tuple[int, list[str]]], rows: SheetRows) -> Iterator[tuple[int, list[str]]]:
    # Merged ranges come after the rows in the sheet's XML: known only once every row has been read.
    yield from data
    check_merged(rows.merged, header_row=rows.header_row, header_width=rows.header_width, name=rows.book.name, sheet=rows.title)


class Workbook:
    """What the sheets need from the workbook: titles and parts, shared strings, calendar, date styles."""

    def __init__(self, fileobj: IO[bytes], *, name: str, limits: Limits) -> None:
        self.fileobj, self.name, self.limits = fileobj, name, limits
        workbook, self.strings = _load(fileobj, name=name, limits=limits)
        try:
            self.titles = [ws.title for ws in workbook.worksheets]
            self.parts = {ws.title: ws._worksheet_path for ws in workbook.worksheets}
            self.epoch = workbook.epoch
            self.date_styles = frozenset(workbook._date_formats)
            self.timedelta_styles = frozenset(workbook._timedelta_formats)
        finally:
            workbook.close()
        fileobj.seek(0)


def _load(fileobj: IO[bytes], *, name: str, limits: Limits) -> tuple[Any, Sequence[str]]:
    """The workbook's small parts read by openpyxl, its shared strings by expat; damage reported as the openpyxl reader does."""

    class MetadataReader(_Reader):
        def read_strings(self) -> None:
            self.shared_strings = []
            if (part := self.package.find(SHARED_STRINGS)) is not None:
                with self.archive.open(part.PartName[1:]) as source:
                    self.shared_strings = read_shared_strings(source, limit=getattr(limits, "max_shared_strings", None), name=name)

    check_archive(fileobj, name=name, limits=limits)
    try:
        reader = MetadataReader(fileobj, read_only=True, data_only=True, keep_links=False, keep_vba=False)
        reader.read()
        workbook = reader.wb
    except (MemoryError, FileRejected):
        raise
    except Exception as exc:  # openpyxl raises a dozen kinds on broken parts, and wraps some in ValueError
        causes = _causes(exc)
        if any(isinstance(cause, DefusedXmlException) for cause in causes):
            raise FileRejected(unsafe_message(), file=name) from None
        if any(isinstance(cause, (zipfile.BadZipFile, EOFError)) for cause in causes):
            raise FileRejected(_("This file looks like a workbook but is damaged and cannot be opened."), file=name) from None
        raise FileRejected(_("The workbook cannot be read (%(reason)s).") % {"reason": type(causes[-1]).__name__}, file=name) from None
    if not workbook.worksheets:
        workbook.close()
        raise FileRejected(_("The workbook has no worksheet."), file=name)
    return workbook, reader.shared_strings


def read_shared_strings(source: IO[bytes], *, limit: int | None, name: str) -> SharedStrings:
    """Every ``<si>``'s text, as openpyxl's ``read_string_table``; malformed XML is a ``ParseError`` as there."""
    collector = _StringTable(limit, name=name)
    try:
        for _block in _feed(collector.parser, source):
            pass
    except expat.ExpatError as exc:
        raise ParseError(str(exc)) from None
    return collector.strings


class SheetRows:
    """A sheet's rows as ``(row_number, cells)``, streamed; ``merged`` holds its merged ranges once read."""

    def __init__(self, book: Workbook, title: str) -> None:
        self.book, self.title = book, title
        self.header_row: int | None = None
        self.header_width = 0
        self.merged: list[str] = []

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        name = self.book.name
        try:
            yield from self._parse()
        except FileRejected:
            raise
        except MemoryError:
            raise
        except DefusedXmlException:
            raise FileRejected(unsafe_message(), file=name, sheet=self.title) from None
        except (zipfile.BadZipFile, EOFError):  # the archive itself: a part shorter or longer than declared, a bad checksum
            raise FileRejected(_("This file looks like a workbook but is damaged and cannot be opened."), file=name) from None
        except Exception:  # broken XML, bad coordinates or shared string indexes
            raise FileRejected(_("The sheet is damaged and cannot be read past this point."), file=name, sheet=self.title) from None

    def _parse(self) -> Iterator[tuple[int, list[str]]]:
        book = self.book
        book.fileobj.seek(0)
        with zipfile.ZipFile(book.fileobj) as archive:
            strings = book.strings
            passed = 0
            with archive.open(book.parts[self.title]) as source:
                try:
                    for rows in fast_rows(
                        source, _refusing_parser(), self._cells(strings), self.merged, block_size=BLOCK_SIZE, max_merged=MAX_MERGED_RANGES
                    ):
                        passed += len(rows)
                        yield from rows
                    return
                except Fallback:
                    pass
            # Something the fast path does not cover: the event parser reads the part again, from its start.
            self.merged.clear()
            handler = _SheetHandler(self._cells(strings), self.merged)
            with archive.open(book.parts[self.title]) as source:
                for _block in _feed(handler.parser, source):
                    skipped = min(passed, len(handler.rows))
                    passed -= skipped
                    yield from handler.rows[skipped:]
                    handler.rows.clear()

    def _cells(self, strings: list[str]) -> CellBuilder:
        book = self.book
        return CellBuilder(
            strings, book.date_styles, book.timedelta_styles, book.epoch, limits=book.limits, name=book.name, sheet=self.title
        )


def _feed(parser: Any, source: IO[bytes]) -> Iterator[None]:
    """Hand ``source`` to ``parser`` block by block; yields after each block so its rows can be passed on.

    Rows parsed before an error are still passed on, then the error is raised: as a row-by-row reader would.
    """
    while True:
        block = source.read(BLOCK_SIZE)
        error = None
        try:
            parser.Parse(block, not block)
        except Exception as exc:  # passed on after the rows read before it
            error = exc
        yield None
        if error is not None:
            raise error
        if not block:
            return


def _refusing_parser() -> Any:
    """An expat parser with namespaces (``uri}local``) that refuses what defusedxml refuses, and any DOCTYPE."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.buffer_size = 1 << 16
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def doctype(name: str, sysid: Any, pubid: Any, _internal: Any) -> None:
        raise DTDForbidden(name, sysid, pubid)

    def entity(name: str, *_rest: Any) -> None:
        raise EntitiesForbidden(name, None, None, None, None, None)

    def external(_context: Any, base: Any, sysid: Any, pubid: Any) -> None:
        raise ExternalReferenceForbidden(_context, base, sysid, pubid)

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.ExternalEntityRefHandler = external
    return parser


class _TextOf:
    """The text of an ``<is>`` or ``<si>`` element as openpyxl's ``Text.content``: its last ``<t>``, then each run's last ``<t>``.

    Fed the element's children's start and end events; text is kept only directly inside a ``<t>`` and
    before that ``<t>``'s own first child, as ElementTree's ``.text``.
    """

    __slots__ = ("buffer", "in_run", "plain", "run_text", "runs")

    def __init__(self) -> None:
        self.plain: str | None = None
        self.runs: list[str | None] = []
        self.in_run = False
        self.run_text: str | None = None
        self.buffer: list[str] | None = None

    def content(self) -> str:
        return (self.plain or "") + "".join(text for text in self.runs if text is not None)


class _SheetHandler:
    """expat callbacks over a worksheet: each ``<row>`` becomes ``(row_number, cells)`` in ``rows``."""

    def __init__(self, cells: CellBuilder, merged: list[str]) -> None:
        self.cells, self.merged = cells, merged
        self.rows: list[tuple[int, list[str]]] = []
        self.depth = 0
        self.row_depth = self.cell_depth = -9
        self.attrs: dict[str, str] = {}
        self.value: list[str] | None = None  # text of the cell's first <v>
        self.formula: list[str] | None = None  # text of the cell's first <f>
        self.text: _TextOf | None = None  # the cell's first <is>
        self.text_depth = -9
        self.buffer: list[str] | None = None  # where character data goes now, if anywhere
        self.parser = parser = _refusing_parser()
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.data

    def data(self, text: str) -> None:
        if self.buffer is not None:
            self.buffer.append(text)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.buffer = None  # an element's text is what comes before its first child
        depth = self.depth = self.depth + 1
        if depth == self.cell_depth + 1:
            if name == VALUE:
                if self.value is None:
                    self.value = self.buffer = []
            elif name == FORMULA:
                if self.formula is None:
                    self.formula = self.buffer = []
            elif name == INLINE and self.text is None:
                self.text, self.text_depth = _TextOf(), depth
        elif depth > self.text_depth > 0:
            self._text_start(name, depth)
        elif depth == self.row_depth + 1:
            self.cell_depth, self.attrs = depth, attrs
            self.value = self.formula = self.text = None
        elif name == ROW:
            self.row_depth = depth
            self.cells.start_row(attrs.get("r"))
        elif name == MERGE_CELL and len(self.merged) < MAX_MERGED_RANGES:
            self.merged.append(attrs.get("ref", ""))

    def _text_start(self, name: str, depth: int) -> None:
        text = self.text
        if depth == self.text_depth + 1:
            if name == TEXT:
                text.buffer = self.buffer = []
            elif name == RUN:
                text.in_run, text.run_text = True, None
        elif depth == self.text_depth + 2 and text.in_run and name == TEXT:
            text.buffer = self.buffer = []

    def end(self, name: str) -> None:
        self.buffer = None
        depth = self.depth
        self.depth = depth - 1
        if depth > self.text_depth > 0:
            self._text_end(name, depth)
        elif depth == self.cell_depth:
            self.cell_depth = self.text_depth = -9
            attrs, value, formula = self.attrs, self.value, self.formula
            self.cells.add_cell(
                attrs.get("r"),
                attrs.get("s"),
                attrs.get("t"),
                None if value is None else "".join(value),
                None if formula is None else "".join(formula),
                None if self.text is None else self.text.content(),
            )
        elif depth == self.row_depth:
            self.row_depth = -9
            self.rows.append(self.cells.end_row())
        elif depth == self.text_depth:
            self.text_depth = -9

    def _text_end(self, name: str, depth: int) -> None:
        text = self.text
        if depth == self.text_depth + 1:
            if name == TEXT:
                text.plain, text.buffer = "".join(text.buffer or ()), None
            elif name == RUN and text.in_run:
                text.runs.append(text.run_text)
                text.in_run = False
        elif depth == self.text_depth + 2 and text.in_run and name == TEXT:
            text.run_text, text.buffer = "".join(text.buffer or ()), None


#: At most this many merged ranges are remembered (only the first over the table is reported).
MAX_MERGED_RANGES = 10_000


class _StringTable:
    """expat callbacks over the shared strings part: every ``<si>``'s text, as openpyxl's ``read_string_table``."""

    def __init__(self, limit: int | None, *, name: str) -> None:
        self.strings = SharedStrings()
        self.limit, self.name = limit, name
        self.handler = handler = _SheetHandler.__new__(_SheetHandler)
        handler.depth, handler.text, handler.text_depth, handler.buffer = 0, None, -9, None
        self.parser = parser = _refusing_parser()
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = handler.data

    def start(self, name: str, _attrs: dict[str, str]) -> None:
        handler = self.handler
        handler.buffer = None
        depth = handler.depth = handler.depth + 1
        if depth > handler.text_depth > 0:
            handler._text_start(name, depth)
        elif name == STRING_ITEM:
            handler.text, handler.text_depth = _TextOf(), depth

    def end(self, name: str) -> None:
        handler = self.handler
        handler.buffer = None
        depth = handler.depth
        handler.depth = depth - 1
        if depth > handler.text_depth > 0:
            handler._text_end(name, depth)
        elif depth == handler.text_depth:
            handler.text_depth = -9
            self.strings.append(handler.text.content().replace("x005F_", ""))
            if self.limit is not None and len(self.strings) > self.limit:
                raise FileRejected(
                    _("The workbook has more than %(limit)d different texts; at most %(limit)d are allowed.") % {"limit": self.limit},
                    file=self.name,
                )
