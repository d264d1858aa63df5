"""The fast path of the sheet reader: rows cut out by patterns while expat checks every byte.

Calling Python for each XML event costs more than calamine's whole read, so the
sheet's rows are found here with compiled patterns over the unpacked text, and
the same bytes go, first, through an expat parser with no element callbacks
(C speed) that refuses DOCTYPEs and entities and stops at any malformed XML.
The patterns cover what spreadsheet programs write inside ``<sheetData>``:
rows, cells, ``<v>``, ``<f>``, an ``<is>`` with one ``<t>``, the five XML
entities and character references. Anything else anywhere (a comment, CDATA, a
namespace prefix or declaration, rich text, a part that is not UTF-8, XML that
expat refuses) raises :class:`Fallback` and the sheet is read by the event
parser (:mod:`.sheetxml`) instead, which skips the rows already passed on: both
feed the same :class:`~.sheetcells.CellBuilder`, so nothing passed on differs.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from typing import IO, Any

from openpyxl.xml.constants import SHEET_MAIN_NS

from .sheetcells import CellBuilder, xml_text

#: Text held while looking for the end of a row, of the part's start or of its tail; past it, the event parser reads.
MAX_PENDING_TEXT = 8 * 1024 * 1024
_S = r"[ \t\r\n]"
_ATTRS = rf"((?:{_S}+[\w.:-]+{_S}*={_S}*(?:\"[^\"<&\t\r\n]*\"|'[^'<&\t\r\n]*'))*){_S}*"
#: A row's start tag; its content runs to the first ``</row>`` (text and attributes cannot hold a ``<``).
ROW_START = re.compile(rf"{_S}*<row{_ATTRS}(/?)>")
#: A cell as every common writer spells it: ``r``, ``s``, ``t`` in that order, a plain value or inline text.
_FAST_CELL = (
    r'[ \t\r\n]*<c r="([A-Z]{1,3})([0-9]+)"(?: s="([0-9]+)")?(?: t="([a-zA-Z]+)")?'
    r"(?:/>|>(?:<f>([^<\r]+)</f>)?(?:<v>([^<\r]*)</v>)?</c>|><is><t>([^<\r]*)</t></is></c>)"
)
FAST_CELL = re.compile(_FAST_CELL)
#: A row's content made of such cells only: read with one ``findall``.
FAST_CELLS = re.compile(rf"(?:{_FAST_CELL.replace('(', '(?:').replace('(?:?:', '(?:')})*{_S}*")
CELL = re.compile(rf"{_S}*<c{_ATTRS}(?:/>|>(.*?)</c>)", re.S)
CELL_CONTENT = re.compile(
    rf"{_S}*(<f(?:{_S}+[\w.:-]+{_S}*={_S}*(?:\"[^\"<]*\"|'[^'<]*'))*{_S}*(?:/>|>([^<]*)</f>){_S}*)?"
    rf"(?:<v>([^<]*)</v>|<v/>)?{_S}*"
    rf"(<is>{_S}*<t(?:{_S}+xml:space={_S}*=?{_S}*(?:\"preserve\"|'preserve'))?{_S}*>([^<]*)</t>{_S}*</is>)?{_S}*"
)
ATTR = re.compile(r"([\w.:-]+)[ \t\r\n]*=[ \t\r\n]*([\"'])(.*?)\2", re.S)
SHEET_DATA = re.compile(rf"<sheetData{_S}*(/?)>")
SHEET_DATA_END = re.compile(rf"{_S}*</sheetData{_S}*>")
DECLARATION = re.compile(rf"\ufeff?<\?xml{_ATTRS}\?>")
ROOT = re.compile(rf"{_S}*<worksheet{_ATTRS}>")
MERGE_CELL = re.compile(rf"<mergeCell{_ATTRS}/?>")
#: Elements the event parser would see as rows, merged ranges or the table when they sit outside ``<sheetData>``.
STRAY = re.compile(r"<!|<\?|xmlns=|<(?:[\w.-]+:)?(?:row|sheetData)[ \t\r\n/>]|<[\w.-]+:(?:c|v|f|is|mergeCell)[ \t\r\n/>]")


class Fallback(Exception):
    """The part holds something the patterns do not cover: the event parser reads it."""


def fast_rows(
    source: IO[bytes], validator: Any, cells: CellBuilder, merged: list[str], *, block_size: int, max_merged: int
) -> Iterator[list[tuple[int, list[str]]]]:
    """The sheet's rows, a list per block; ``merged`` is filled once the part has been read to its end."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    text, state = "", "prefix"
    while True:
        block = source.read(block_size)
        final = not block
        try:
            validator.Parse(block, final)
            text += decoder.decode(block, final)
        except Exception:  # malformed, refused or not UTF-8: the event parser says what, where
            raise Fallback from None
        if state == "prefix":
            text, state = _after_prefix(text, final)
        if state == "rows":
            rows: list[tuple[int, list[str]]] = []
            error = None
            try:
                text, state = _rows(text, cells, final, rows)
            except Exception as exc:  # the rows before it are passed on first, as the event parser would
                error = exc
            yield rows
            if error is not None:
                raise error
        if state == "tail" and final:
            _merged_cells(text, merged, max_merged)
            return
        if len(text) > MAX_PENDING_TEXT or (final and state != "tail"):
            raise Fallback


def _after_prefix(text: str, final: bool) -> tuple[str, str]:
    """What follows ``<sheetData>``, once the part's start is known to be plain; the state to go on in."""
    start = text.find("<sheetData")
    found = SHEET_DATA.match(text, start) if start >= 0 else None
    if found is None:
        if final or len(text) > MAX_PENDING_TEXT:
            raise Fallback
        return text, "prefix"
    prefix = text[:start]
    declaration = DECLARATION.match(prefix)
    position = declaration.end() if declaration else (1 if prefix.startswith("\ufeff") else 0)
    if declaration and not _utf8(declaration.group(1)):
        raise Fallback
    root = ROOT.match(prefix, position)
    if root is None or _attributes(root.group(1), namespaces=True).get("xmlns") != SHEET_MAIN_NS:
        raise Fallback
    if STRAY.search(prefix, root.end()) or "<mergeCell" in prefix:
        raise Fallback
    return text[found.end() :], "tail" if found.group(1) else "rows"


def _utf8(attributes: str) -> bool:
    encoding = _attributes(attributes, namespaces=True).get("encoding", "utf-8")
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8")


def _rows(text: str, cells: CellBuilder, final: bool, rows: list[tuple[int, list[str]]]) -> tuple[str, str]:
    """The complete rows at the start of ``text`` into ``rows``; the text after them, and the state to go on in."""
    position = 0
    match, find = ROW_START.match, text.find
    while (found := match(text, position)) is not None:
        attributes, closed = found.groups()
        if closed:
            content, after = "", found.end()
        else:
            close = find("</row>", found.end())
            if close < 0:
                break  # the row goes on in the next block
            content, after = text[found.end() : close], close + 6
        if attributes.startswith(' r="') and "xmlns" not in attributes:  # as every writer puts it: first
            cells.start_row(attributes[4 : attributes.index('"', 4)])
        else:
            cells.start_row(_attributes(attributes).get("r") if attributes else None)
        if content:
            if FAST_CELLS.fullmatch(content):
                cells.add_plain_cells(FAST_CELL.findall(content))
            else:
                _cells(content, cells)
        rows.append(cells.end_row())
        position = after
    end = SHEET_DATA_END.match(text, position)
    if end is not None:
        return text[end.end() :], "tail"
    if final or "</row>" in text[position:] or "</sheetData" in text[position:]:
        raise Fallback
    return text[position:], "rows"


def _cells(content: str, cells: CellBuilder) -> None:
    position = 0
    fast, general, add = FAST_CELL.match, CELL.match, cells.add_cell
    while True:
        found = fast(content, position)
        if found is not None:
            letters, row, style, kind, formula, value, inline = found.groups()
            ref = letters + row
            add(
                ref,
                style,
                kind,
                None if value is None else xml_text(value),
                None if formula is None else xml_text(formula),
                inline and xml_text(inline),
            )
        else:
            found = general(content, position)
            if found is None:
                if content[position:].strip(" \t\r\n"):
                    raise Fallback
                return
            _general_cell(found.group(1), found.group(2), add)
        position = found.end()


def _general_cell(attributes: str, content: str | None, add: Callable[..., None]) -> None:
    attrs = _attributes(attributes)
    if content is None:
        return add(attrs.get("r"), attrs.get("s"), attrs.get("t"), None, None, None)
    parts = CELL_CONTENT.fullmatch(content)
    if parts is None:
        raise Fallback
    formula, formula_text, value, inline, inline_text = parts.groups()
    add(
        attrs.get("r"),
        attrs.get("s"),
        attrs.get("t"),
        None if value is None else xml_text(value),
        None if formula is None else xml_text(formula_text or ""),
        None if inline is None else xml_text(inline_text),
    )


def _attributes(raw: str, *, namespaces: bool = False) -> dict[str, str]:
    attrs = {name: value for name, _quote, value in ATTR.findall(raw)}
    if not namespaces and any(name == "xmlns" or name.startswith("xmlns:") for name in attrs):
        raise Fallback  # a namespace declared on a row or cell changes what its elements are
    return attrs


def _merged_cells(tail: str, merged: list[str], max_merged: int) -> None:
    if STRAY.search(tail):
        raise Fallback  # only plain elements after the rows: a comment could hide or fake a range
    for found in MERGE_CELL.finditer(tail):
        if len(merged) < max_merged:
            merged.append(_attributes(found.group(1)).get("ref", ""))
