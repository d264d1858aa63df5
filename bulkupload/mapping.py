"""Match a file's header to a spec's columns."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .exceptions import FileRejected
from .spec import UploadSpec, normalize_header


@dataclass
class ColumnMapping:
    """Which file column feeds which spec column."""

    #: column key → index of the file column
    positions: dict[str, int]
    #: column key → the header as written in the file
    headers: dict[str, str]
    #: headers of the file that match no column
    ignored: list[str]

    def row_values(self, cells: list[str]) -> dict[str, str]:
        return {key: cells[index] for key, index in self.positions.items()}


def header_lookup(spec: UploadSpec) -> dict[str, str]:
    """Normalised header text → column key, for labels, keys and aliases."""
    lookup: dict[str, str] = {}
    for column in spec.columns:
        for text in (column.label, column.key, *column.aliases):
            lookup.setdefault(normalize_header(text), column.key)
    return lookup


def map_header(spec: UploadSpec, header: list[str], *, file_name: str = "", sheet: str | None = None, header_row: int = 1) -> ColumnMapping:
    """Map ``header`` to the spec's columns or raise :class:`FileRejected` saying which are wrong."""
    lookup = header_lookup(spec)
    positions: dict[str, int] = {}
    headers: dict[str, str] = {}
    ignored: list[str] = []
    duplicates: list[str] = []
    for index, text in enumerate(header):
        key = lookup.get(normalize_header(text))
        if key is None:
            if text:
                ignored.append(text)
            continue
        if key in positions:
            duplicates.append(text)
            continue
        positions[key] = index
        headers[key] = text
    where = {"file": file_name, "sheet": sheet, "row": header_row}
    if duplicates:
        raise FileRejected(
            ngettext("The column %(names)s appears more than once.", "The columns %(names)s appear more than once.", len(duplicates))
            % {"names": _quote(duplicates)},
            **where,
        )
    missing = [c.label for c in spec.columns if c.required and c.key not in positions]
    if missing:
        message = ngettext(
            "The required column %(names)s is missing.",
            "The required columns %(names)s are missing.",
            len(missing),
        ) % {"names": _quote(missing)}
        if ignored:
            message += " " + _("The file has these other columns: %(names)s.") % {"names": _quote(ignored)}
        raise FileRejected(message, **where)
    return ColumnMapping(positions=positions, headers=headers, ignored=ignored)


def _quote(names: list[str]) -> str:
    return ", ".join(f"“{n}”" for n in names)
