"""Look inside a zip before anything unpacks it: is it a plain workbook, and is it safe to open?

An .xlsx is a zip of XML parts. A zip bomb declares parts that unpack to far
more than any spreadsheet; the archive's directory gives every part's declared
size, and Python's zipfile never unpacks a part beyond its declared size (it
reports the part as damaged instead), so checking the declared sizes bounds the
memory and time of everything that reads the parts afterwards.
"""

from __future__ import annotations

import zipfile
import zlib
from typing import IO

from django.utils.translation import gettext as _

from ..exceptions import FileRejected
from .sniff import not_a_spreadsheet

MACRO_CONTENT_TYPES = (b"macroEnabled", b"vbaProject")
#: What Python's zipfile raises on a damaged archive or part: a bad deflate stream is ``zlib.error``, an
#: unknown compression method ``NotImplementedError``, an encrypted part ``RuntimeError``.
ARCHIVE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError, EOFError)
DAMAGED_ERRORS = (*ARCHIVE_ERRORS, RuntimeError, OSError, ValueError)


def damaged_message() -> str:
    return _("This file looks like a workbook but is damaged and cannot be opened.")


def check_archive(fileobj: IO[bytes], *, name: str, limits) -> None:
    """Raise :class:`FileRejected` unless ``fileobj`` is a plain .xlsx workbook within ``limits``."""
    fileobj.seek(0)
    try:
        with zipfile.ZipFile(fileobj) as archive:
            infos = archive.infolist()
            _check_kind(archive, {info.filename for info in infos}, name=name)
            _check_sizes(infos, name=name, limits=limits)
    except DAMAGED_ERRORS:
        raise FileRejected(damaged_message(), file=name) from None
    finally:
        fileobj.seek(0)


def _check_kind(archive: zipfile.ZipFile, names: set[str], *, name: str) -> None:
    if "xl/workbook.bin" in names:
        raise FileRejected(
            _("Binary Excel workbooks (.xlsb) are not accepted. Save it as an Excel workbook (.xlsx) and upload again."), file=name
        )
    if "xl/workbook.xml" not in names:
        raise FileRejected(_kind_message(archive, names), file=name)
    content_types = b""
    if "[Content_Types].xml" in names and archive.getinfo("[Content_Types].xml").file_size < 1 << 20:
        content_types = archive.read("[Content_Types].xml")
    macros = any(n.lower().endswith("vbaproject.bin") or n.startswith(("xl/macrosheets/", "xl/activeX/")) for n in names)
    if macros or any(marker in content_types for marker in MACRO_CONTENT_TYPES):
        raise FileRejected(
            _("Workbooks with macros are not accepted. Save it as a plain Excel workbook (.xlsx) and upload again."),
            file=name,
        )
    if any(info.flag_bits & 0x1 for info in archive.infolist()):
        raise FileRejected(
            _("This workbook is protected with a password. Remove the password in Excel, save it, and upload it again."), file=name
        )


def _kind_message(archive: zipfile.ZipFile, names: set[str]) -> str:
    mimetype = b""
    if "mimetype" in names and archive.getinfo("mimetype").file_size < 200:
        mimetype = archive.read("mimetype").strip()
    if mimetype == b"application/vnd.oasis.opendocument.spreadsheet":
        return _("This is an OpenDocument spreadsheet (.ods). Save it as .xlsx or .csv and upload again.")
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        return not_a_spreadsheet(_("an OpenDocument text or presentation"))
    if "word/document.xml" in names:
        return not_a_spreadsheet(_("a Word document (.docx)"))
    if "ppt/presentation.xml" in names:
        return not_a_spreadsheet(_("a PowerPoint presentation (.pptx)"))
    return _("This zip file is not an Excel workbook (.xlsx).")


def _check_sizes(infos: list[zipfile.ZipInfo], *, name: str, limits) -> None:
    if len(infos) > limits.max_zip_parts:
        raise FileRejected(
            _("The workbook has %(count)d parts; at most %(limit)d are allowed.") % {"count": len(infos), "limit": limits.max_zip_parts},
            file=name,
        )
    total = 0
    for info in infos:
        total += info.file_size
        # openpyxl holds the shared strings in memory (several times their size); sheets are streamed.
        limit = limits.max_shared_strings_size if info.filename.lower().endswith("sharedstrings.xml") else limits.max_unpacked_part_size
        if info.file_size > limit:
            raise FileRejected(
                _("A part of the workbook (%(part)s) unpacks to %(size)s; at most %(limit)s are allowed.")
                % {"part": info.filename[:80], "size": megabytes(info.file_size), "limit": megabytes(limit)},
                file=name,
            )
        if info.file_size >= limits.ratio_checked_above and info.file_size > info.compress_size * limits.max_compression_ratio:
            raise FileRejected(
                _("A part of the workbook (%(part)s) is compressed %(ratio)d to 1, far more than any spreadsheet; it is refused as unsafe.")
                % {"part": info.filename[:80], "ratio": info.file_size // max(info.compress_size, 1)},
                file=name,
            )
    if total > limits.max_unpacked_size:
        raise FileRejected(
            _("The workbook unpacks to %(size)s; at most %(limit)s are allowed.")
            % {"size": megabytes(total), "limit": megabytes(limits.max_unpacked_size)},
            file=name,
        )


def megabytes(size: int) -> str:
    """A size for people ("12.5 MB"), as the rest of the app writes it."""
    from django.template.defaultfilters import filesizeformat

    return str(filesizeformat(size))
