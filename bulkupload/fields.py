"""Form fields for spreadsheet cells: what people type into Excel, cleaned strictly.

Each field takes the cell's text (the reader turns every cell into text) and
either returns a Python value or raises a ``ValidationError`` whose message is
shown at that cell.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import conf

TRUE_WORDS = frozenset({"yes", "y", "true", "1", "x", "ja", "wahr"})
FALSE_WORDS = frozenset({"no", "n", "false", "0", "", "nein", "falsch"})


class SpreadsheetBooleanField(forms.Field):
    """yes/no, true/false, y/n, 1/0, x/blank and Excel's TRUE/FALSE; anything else is an error."""

    default_error_messages = {
        "invalid": _("“%(value)s” is not yes or no (use yes/no, true/false, y/n, 1/0, or x for yes)."),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value or "").strip().casefold()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value})

    def validate(self, value: Any) -> None:
        # Blank means no; never "required".
        return None


class LenientChoiceField(forms.Field):
    """One of ``choices``, in any case; returns the canonical spelling."""

    default_error_messages = {
        "invalid_choice": _("“%(value)s” is not one of: %(choices)s."),
    }

    def __init__(self, *, choices: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choices = tuple(choices)
        self._canonical = {c.casefold(): c for c in self.choices}

    def to_python(self, value: Any) -> str:
        text = str(value or "").strip()
        if not text:
            return ""
        try:
            return self._canonical[text.casefold()]
        except KeyError:
            raise ValidationError(
                self.error_messages["invalid_choice"],
                code="invalid_choice",
                params={"value": text, "choices": ", ".join(self.choices)},
            ) from None


class SpreadsheetDateField(forms.DateField):
    """A date as ISO text (what the reader makes of date cells) or in the configured formats."""

    default_error_messages = {
        "invalid": _("“%(value)s” is not a date; use YYYY-MM-DD."),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("input_formats", conf.get("DATE_INPUT_FORMATS"))
        super().__init__(**kwargs)

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
