"""Form fields for spreadsheet cells: what people type into Excel, cleaned strictly.

Each field takes the cell's text (the reader turns every cell into text) and
either returns a Python value or raises a ``ValidationError`` whose message is
shown at that cell.
"""

from __future__ import annotations

import datetime
import decimal
import re
from collections.abc import Iterable, Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from . import conf

TRUE_WORDS = frozenset({"yes", "y", "true", "1", "x", "ja", "wahr"})
FALSE_WORDS = frozenset({"no", "n", "false", "0", "", "nein", "falsch"})


class SpreadsheetBooleanField(forms.Field):
    """yes/no, true/false, y/n, 1/0, x/blank and Excel's TRUE/FALSE; anything else is an error."""

    default_error_messages = {
        "invalid": _("“%(value)s” is not yes or no (use yes/no, true/false, y/n, 1/0, or x for yes)."),
    }

    def __init__(self, *, nullable: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        #: A blank cell means "unknown" (None) rather than no, for a model field with ``null=True``.
        self.nullable = nullable

    def to_python(self, value: Any) -> bool | None:
        if isinstance(value, bool):
            return value
        text = str(value or "").strip().casefold()
        if not text and self.nullable:
            return None
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value})

    def validate(self, value: Any) -> None:
        # Blank means no; never "required".
        return None


class LenientChoiceField(forms.Field):
    """One of ``choices``, in any case; returns the canonical spelling.

    ``choices`` are texts, or ``(value, label)`` pairs as a model field declares them:
    then the label (in the active language) and the value are both accepted, and the value is returned.
    """

    default_error_messages = {
        "invalid_choice": _("“%(value)s” is not one of: %(choices)s."),
    }

    def __init__(self, *, choices: Sequence[Any], empty_value: Any = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pairs = tuple(choice if isinstance(choice, tuple | list) else (choice, choice) for choice in choices)
        self.choices = tuple(str(label) for _value, label in self.pairs)
        self.empty_value = empty_value

    @property
    def _canonical(self) -> dict[str, Any]:
        # Labels may be translated: built for the active language (values win over another choice's label).
        found = {str(label).casefold(): value for value, label in self.pairs}
        found.update({str(value).casefold(): value for value, _label in self.pairs})
        return found

    def to_python(self, value: Any) -> Any:
        text = str(value or "").strip()
        if not text:
            return self.empty_value
        canonical = self.__dict__.get("_by_language", {}).get(translation.get_language())
        if canonical is None:
            canonical = self._canonical
            self.__dict__.setdefault("_by_language", {})[translation.get_language()] = canonical
        try:
            return canonical[text.casefold()]
        except KeyError:
            raise ValidationError(
                self.error_messages["invalid_choice"],
                code="invalid_choice",
                params={"value": text, "choices": ", ".join(str(label) for _value, label in self.pairs)},
            ) from None


#: Text dates with the day and month as numbers: 03/11/2026, 3.11.2026, 03-11-2026 (the year last, four digits).
NUMERIC_DATE = re.compile(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{4})$")
#: An Excel serial number (days since 1899-12-30), as a date cell without a date format reads; the time of day is dropped.
EXCEL_SERIAL = re.compile(r"^(\d{5,7})(?:\.\d+)?$")
#: Serials below this (before 1927-05-18) are more likely a year or an amount typed in the wrong column than a date.
EXCEL_SERIAL_MIN = 10_000
#: Excel's last date, 9999-12-31.
EXCEL_SERIAL_MAX = 2_958_465
EXCEL_EPOCH = datetime.date(1899, 12, 30)
DAY_FIRST, MONTH_FIRST = "dmy", "mdy"


def date_orders_of(text: str) -> set[str]:
    """How a text date can be read: {"dmy"}, {"mdy"}, both (03/11/2026), or neither (not a numeric d/m/y date)."""
    found = NUMERIC_DATE.match(text.strip())
    if not found:
        return set()
    first, second, year = int(found[1]), int(found[3]), int(found[4])
    return {order for order, (day, month) in ((DAY_FIRST, (first, second)), (MONTH_FIRST, (second, first))) if _is_date(year, month, day)}


def read_numeric_date(text: str, order: str) -> datetime.date | None:
    """``text`` (a numeric d/m/y date) read day-first or month-first; None when it is not one or not a real day."""
    found = NUMERIC_DATE.match(text.strip())
    if not found:
        return None
    first, second, year = int(found[1]), int(found[3]), int(found[4])
    day, month = (second, first) if order == MONTH_FIRST else (first, second)
    return datetime.date(year, month, day) if _is_date(year, month, day) else None


def excel_serial_date(text: str) -> datetime.date | None:
    """The date an Excel serial number stands for (45992 → 2025-12-01); None when ``text`` is not one."""
    found = EXCEL_SERIAL.match(text.strip())
    if not found or not EXCEL_SERIAL_MIN <= int(found[1]) <= EXCEL_SERIAL_MAX:
        return None
    return EXCEL_EPOCH + datetime.timedelta(days=int(found[1]))


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


class SpreadsheetDateField(forms.DateField):
    """A date as ISO text (what the reader makes of date cells), an Excel serial number, or in the configured formats.

    :attr:`order` is how the upload reads numeric text dates of this column ("dmy" or "mdy", decided once per
    column by :mod:`bulkupload.values`); None keeps the configured formats (day-first).
    """

    default_error_messages = {
        "invalid": _("“%(value)s” is not a date; use YYYY-MM-DD."),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("input_formats", conf.get("DATE_INPUT_FORMATS"))
        super().__init__(**kwargs)
        self.order: str | None = None

    def to_python(self, value: Any) -> datetime.date | None:
        if isinstance(value, str):
            value = value.strip()
            # A datetime cell at midnight reads as "2026-01-05 00:00:00".
            if len(value) > 10 and value[10] in " T" and value[11:].strip("0:") == "":
                value = value[:10]
            if len(value) == 10 and value[4] == "-" and value[7] == "-":
                # The reader writes date cells as ISO text: skip trying each input format in turn.
                try:
                    return datetime.date.fromisoformat(value)
                except ValueError:
                    pass
            if self.order and NUMERIC_DATE.match(value):
                found = read_numeric_date(value, self.order)
                if found is None:
                    raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value})
                return found
            if (serial := excel_serial_date(value)) is not None:
                return serial
        try:
            return super().to_python(value)
        except ValidationError:
            raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value}) from None


class SpreadsheetDecimalField(forms.DecimalField):
    """A number as typed in a sheet: decimal commas and spaces between thousands accepted.

    Use Django's ``step_size`` for quarter hours and the like.
    """

    default_error_messages = {
        "invalid": _("“%(value)s” is not a number."),
    }

    def to_python(self, value: Any) -> decimal.Decimal | None:
        if isinstance(value, str):
            value = value.strip().replace("\u00a0", "").replace(" ", "")
            if value.count(",") == 1 and "." not in value:
                value = value.replace(",", ".")
        try:
            return super().to_python(value)
        except ValidationError as exc:
            if exc.code == "invalid":
                raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value}) from None
            raise


class SpreadsheetHoursField(SpreadsheetDecimalField):
    """Hours as a number (7.5) or as a time of day or duration typed in Excel (7:30, 07:30:00)."""

    default_error_messages = {
        "invalid": _("“%(value)s” is not a number of hours (like 7.5 or 7:30)."),
    }

    def to_python(self, value: Any) -> decimal.Decimal | None:
        if isinstance(value, str) and ":" in value:
            parts = value.strip().split(":")
            if 2 <= len(parts) <= 3 and all(p.strip().isdigit() for p in parts):
                hours, minutes, seconds = (int(p) for p in [*parts, "0"][:3])
                if minutes < 60 and seconds < 60:
                    exact = decimal.Decimal(hours) + decimal.Decimal(minutes * 60 + seconds) / decimal.Decimal(3600)
                    # 7:10 is 7.1666…: keep two places so the message is about the step, not the digits.
                    return exact.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)
            raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value})
        return super().to_python(value)


def _plain_number(value: Any) -> Any:
    """Number text without spaces between thousands, with a lone decimal comma made a point."""
    if isinstance(value, str):
        value = value.strip().replace("\u00a0", "").replace(" ", "")
        if value.count(",") == 1 and "." not in value:
            value = value.replace(",", ".")
    return value


class _PlainNumberInput:
    """``to_python`` of a number field for what a sheet holds: spaces between thousands, a decimal comma, and the
    field's own ``invalid`` message naming the value."""

    error_messages: dict[str, Any]

    def to_python(self, value: Any) -> Any:
        value = _plain_number(value)
        try:
            return super().to_python(value)  # type: ignore[misc]
        except ValidationError as exc:
            if exc.code == "invalid":
                raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value}) from None
            raise


class SpreadsheetIntegerField(_PlainNumberInput, forms.IntegerField):
    """A whole number as typed in a sheet: spaces between thousands and a trailing ``.0`` (Excel's numbers) accepted."""

    default_error_messages = {
        "invalid": _("“%(value)s” is not a whole number."),
    }


class SpreadsheetFloatField(_PlainNumberInput, forms.FloatField):
    """A number as typed in a sheet (decimal commas and spaces between thousands accepted), as a float."""

    default_error_messages = {
        "invalid": _("“%(value)s” is not a number."),
    }


class SpreadsheetTimeField(forms.TimeField):
    """A time of day: what the reader makes of a time cell (07:30:00) or typed as 7:30 or 7:30 PM."""

    default_error_messages = {
        "invalid": _("“%(value)s” is not a time of day; use HH:MM."),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("input_formats", ["%H:%M:%S", "%H:%M", "%H:%M:%S.%f", "%I:%M %p", "%I:%M:%S %p"])
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> datetime.time | None:
        try:
            return super().to_python(value.strip() if isinstance(value, str) else value)
        except ValidationError:
            raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value}) from None


class SpreadsheetDateTimeField(forms.DateTimeField):
    """A date and time: what the reader makes of a date cell (ISO text, midnight as a bare date) or in the configured formats."""

    default_error_messages = {
        "invalid": _("“%(value)s” is not a date and time; use YYYY-MM-DD HH:MM."),
    }

    def __init__(self, *, date_formats: Sequence[str] = (), **kwargs: Any) -> None:
        dates = [*conf.get("DATE_INPUT_FORMATS"), *date_formats]
        kwargs.setdefault("input_formats", [f"{d} %H:%M:%S" for d in dates] + [f"{d} %H:%M" for d in dates] + dates)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> datetime.datetime | None:
        try:
            return super().to_python(value.strip() if isinstance(value, str) else value)
        except ValidationError:
            raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value}) from None


#: A lookup value that names more than one related record.
AMBIGUOUS = object()


class LookupTable:
    """A related model's records by a unique field, loaded once per upload: cell text → the foreign key's value.

    Text matches exactly, or regardless of case when only one record spells it that way.
    """

    def __init__(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        from .spec.base import format_cell

        self.exact: dict[str, Any] = {}
        self.folded: dict[str, Any] = {}
        for value, target in pairs:
            text = format_cell(value)
            self.exact[text] = AMBIGUOUS if self.exact.get(text, target) != target else target
            folded = text.casefold()
            self.folded[folded] = AMBIGUOUS if self.folded.get(folded, target) != target else target

    def find(self, text: str) -> Any:
        """The foreign key value for ``text``, :data:`AMBIGUOUS`, or None when no record has it."""
        found = self.exact.get(text)
        return found if found is not None else self.folded.get(text.casefold())

    def __len__(self) -> int:
        return len(self.exact)

    def values(self) -> list[str]:
        """The lookup values, sorted (for the template's dropdown)."""
        return sorted(self.exact)


class LookupField(forms.Field):
    """A foreign key named by a unique field of the related model (a company by its ticker).

    The row form binds :attr:`table` once per upload; cleaning a cell is a dictionary look-up, never a query.
    """

    default_error_messages = {
        "unknown": _("Unknown %(model)s “%(value)s”."),
        "ambiguous": _("“%(value)s” matches more than one %(model)s."),
    }

    def __init__(self, *, model_name: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_name = model_name
        self.table: LookupTable = LookupTable(())

    def to_python(self, value: Any) -> Any:
        text = str(value or "").strip()
        if not text:
            return None
        found = self.table.find(text)
        if found is None or found is AMBIGUOUS:
            code = "unknown" if found is None else "ambiguous"
            raise ValidationError(self.error_messages[code], code=code, params={"value": text, "model": self.model_name})
        return found
