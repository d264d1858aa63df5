"""What a file is, from its bytes rather than its name.

Only two formats are read: Excel workbooks (.xlsx) and CSV text. Everything
else gets a message that says what the file is and what to do instead.
"""

from __future__ import annotations

import struct
from typing import IO

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..exceptions import FileRejected

XLSX, CSV = "xlsx", "csv"

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")

#: Leading bytes of formats people upload by mistake → what to call them.
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", gettext_lazy("an image (PNG)")),
    (b"\xff\xd8\xff", gettext_lazy("an image (JPEG)")),
    (b"GIF87a", gettext_lazy("an image (GIF)")),
    (b"GIF89a", gettext_lazy("an image (GIF)")),
    (b"BM", gettext_lazy("an image (BMP)")),
    (b"II*\x00", gettext_lazy("an image (TIFF)")),
    (b"MM\x00*", gettext_lazy("an image (TIFF)")),
    (b"%PDF", gettext_lazy("a PDF document")),
    (b"{\\rtf", gettext_lazy("a Rich Text document (RTF)")),
    (b"\x1f\x8b", gettext_lazy("a compressed archive (gzip)")),
    (b"7z\xbc\xaf\x27\x1c", gettext_lazy("a compressed archive (7z)")),
    (b"Rar!", gettext_lazy("a compressed archive (RAR)")),
    (b"MZ", gettext_lazy("a program (Windows executable)")),
    (b"\x7fELF", gettext_lazy("a program (ELF executable)")),
)
#: Leading text (after a byte-order mark and spaces, lower case) of markup files.
MARKUP = (
    (b"<!doctype html", gettext_lazy("a web page (HTML)")),
    (b"<html", gettext_lazy("a web page (HTML)")),
    (b"<table", gettext_lazy("a web page (HTML)")),
    (b"<?xml", gettext_lazy("an XML file (perhaps an Excel 2003 XML spreadsheet)")),
    (b"<workbook", gettext_lazy("an XML file (perhaps an Excel 2003 XML spreadsheet)")),
)


def not_a_spreadsheet(kind: str) -> str:
    return _("This is %(kind)s, neither an Excel workbook (.xlsx) nor a CSV text file. Save it as .xlsx or .csv and upload again.") % {
        "kind": kind
    }


def sniff_format(head: bytes) -> str:
    """``XLSX`` or ``CSV`` from the file's first bytes; :class:`FileRejected` for anything else.

    Old Office files (.xls, password-protected workbooks) are told apart by
    :func:`identify`, which can look further into the file.
    """
    if head.startswith(b"PK\x03\x04"):
        return XLSX
    if head.startswith(OLE_MAGIC):
        raise FileRejected(
            _("This is an old Excel workbook (.xls) or a password-protected one. Save it as .xlsx or .csv and upload again.")
        )
    if head.startswith((b"PK\x05\x06", b"PK\x07\x08")):
        raise FileRejected(_("This zip file is not an Excel workbook (.xlsx)."))
    for magic, kind in MAGIC:
        if head.startswith(magic):
            raise FileRejected(not_a_spreadsheet(str(kind)))
    text = head
    for bom in BOMS:
        if text.startswith(bom):
            text = text[len(bom) :]
            break
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = text.replace(b"\x00", b"")
    if not text.strip(b"\r\n\t "):
        raise FileRejected(_("The file is empty."))
    lowered = text.lstrip(b"\r\n\t ").lower()
    for start, kind in MARKUP:
        if lowered.startswith(start):
            raise FileRejected(not_a_spreadsheet(str(kind)))
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRejected(_("This file is neither an Excel workbook (.xlsx) nor a CSV text file."))
    return CSV


def identify(fileobj: IO[bytes], *, name: str) -> str:
    """Like :func:`sniff_format` on ``fileobj``, telling old Office files apart; the file is left at 0."""
    fileobj.seek(0)
    head = fileobj.read(4096)
    fileobj.seek(0)
    try:
        if head.startswith(OLE_MAGIC):
            raise FileRejected(_ole_message(fileobj))
        return sniff_format(head)
    except FileRejected as exc:
        exc.file = name
        raise
    finally:
        fileobj.seek(0)


# --- old Office files: an OLE2 compound file, whose directory names its streams -------------

ENCRYPTED_STREAMS = {"encryptedpackage", "encryptioninfo"}
WORKBOOK_STREAMS = {"workbook", "book"}
MAX_DIRECTORY_SECTORS = 64


def _ole_message(fileobj: IO[bytes]) -> str:
    names = _ole_stream_names(fileobj)
    if names & ENCRYPTED_STREAMS:
        return _("This workbook is protected with a password. Remove the password in Excel, save it, and upload it again.")
    if names & WORKBOOK_STREAMS:
        return _("This is an old Excel workbook (.xls). Save it as an Excel workbook (.xlsx) or CSV and upload again.")
    if names:
        return not_a_spreadsheet(_("an old Microsoft Office document (.doc, .ppt or similar)"))
    return _("This is an old Excel workbook (.xls) or a password-protected one. Save it as .xlsx or .csv and upload again.")


def _ole_stream_names(fileobj: IO[bytes]) -> set[str]:
    """Lower-case names in the compound file's directory; an empty set when it cannot be read."""
    fileobj.seek(0)
    header = fileobj.read(512)
    if len(header) < 512:
        return set()
    sector_shift = struct.unpack_from("<H", header, 0x1E)[0]
    if sector_shift not in (9, 12):
        return set()
    size = 1 << sector_shift
    directory_start = struct.unpack_from("<I", header, 0x30)[0]
    fat_sectors = [s for s in struct.unpack_from("<109I", header, 0x4C) if s < 0xFFFFFFFA]

    def sector(number: int) -> bytes:
        fileobj.seek((number + 1) * size)  # sector 0 follows the header, which fills one sector
        return fileobj.read(size)

    fat: list[int] = []
    for number in fat_sectors[:MAX_DIRECTORY_SECTORS]:
        data = sector(number)
        fat.extend(struct.unpack(f"<{len(data) // 4}I", data[: len(data) // 4 * 4]))
    names: set[str] = set()
    current, seen = directory_start, 0
    while current < 0xFFFFFFFA and seen < MAX_DIRECTORY_SECTORS:
        data = sector(current)
        for offset in range(0, len(data) - 127, 128):
            length = struct.unpack_from("<H", data, offset + 64)[0]
            if 2 <= length <= 64:
                names.add(data[offset : offset + length - 2].decode("utf-16-le", "replace").lower())
        seen += 1
        current = fat[current] if current < len(fat) else 0xFFFFFFFE
    return names
