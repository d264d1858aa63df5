"""Values made ready for the database, for the set-based writes of :mod:`bulkupload.bulk` and :mod:`bulkupload.pgcopy`.

Django's ``get_db_prep_save`` call chain costs more per value than the insert
itself, and for most values it hands back what it was given. :func:`preparer`
skips it for exactly those values; :func:`array_text` writes a column of simple
values as one PostgreSQL array text instead of letting psycopg adapt each element.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from types import NoneType
from typing import Any

from django.db import models

Prepare = Callable[[Any, Any], Any]

#: Field classes (exactly these) whose ``get_db_prep_save`` hands back a value of these types as it is, on every database.
_AS_IS: dict[type, tuple[type, ...]] = {
    **dict.fromkeys((models.CharField, models.TextField, models.EmailField, models.SlugField, models.URLField), (str, NoneType)),
    **dict.fromkeys(
        (models.IntegerField, models.BigIntegerField, models.SmallIntegerField, models.PositiveIntegerField, models.AutoField),
        (int, NoneType),
    ),
    **dict.fromkeys((models.PositiveSmallIntegerField, models.PositiveBigIntegerField, models.BigAutoField), (int, NoneType)),
    models.BooleanField: (bool, NoneType),
}

_JSON_TYPES = frozenset({dict, list, str, int, float, bool})

_SAMPLE_DATE = datetime.date(2000, 1, 31)
_SAMPLE_DECIMAL = Decimal("1.50")


def preparer(field: models.Field, connection: Any) -> Prepare:
    """``field.get_db_prep_save``, skipped for the values it would hand back as they are, and JSON written straight.

    A value of a plain field is usually returned unchanged, and a JSON field's
    dict or list is ``json.dumps``'d (PostgreSQL gets the text, cast to ``jsonb``
    by the statement, as ``Jsonb`` would send). Dates, decimals and UUIDs pass as
    they are where ``connection``'s backend takes them so (PostgreSQL; SQLite wants text).
    """
    prepare = field.get_db_prep_save
    target = field.target_field if type(field) is models.ForeignKey else field
    as_is = _AS_IS.get(type(target)) or _native(target, connection)
    if as_is is not None:
        return _keeping(frozenset(as_is), prepare)
    if type(field) is models.DecimalField and _takes_decimals(field, connection):
        return lambda value, connection: value if type(value) is Decimal and value.is_finite() else prepare(value, connection)
    if type(field) is models.JSONField:
        encoder = field.encoder

        def dumps(value: Any, connection: Any) -> Any:
            if type(value) is dict and not value:
                return "{}"  # most of a staged row's JSON columns
            return json.dumps(value, cls=encoder) if type(value) in _JSON_TYPES else prepare(value, connection)

        return dumps
    return prepare


def _keeping(kept: frozenset[type], prepare: Prepare) -> Prepare:
    """A preparer that hands back a value of the ``kept`` types as it is; ``prepare`` makes any other ready."""

    def keeping(value: Any, connection: Any) -> Any:
        return value if type(value) in kept else prepare(value, connection)

    keeping.kept = kept  # type: ignore[attr-defined]
    return keeping


def prepare_column(prepare: Prepare, values: list, connection: Any) -> list:
    """A column of values made ready by ``prepare``: as it is when every value is of a type it keeps (one pass in C)."""
    kept = getattr(prepare, "kept", None)
    if kept is not None and set(map(type, values)) <= kept:
        return values
    return [prepare(value, connection) for value in values]


def _native(field: models.Field, connection: Any) -> tuple[type, ...] | None:
    """The types a date or UUID field's value keeps on ``connection`` (Django's own fields only), else None."""
    if type(field) is models.DateField and connection.ops.adapt_datefield_value(_SAMPLE_DATE) is _SAMPLE_DATE:
        return (datetime.date, NoneType)  # exactly a date: a datetime is cut to its date by to_python
    if type(field) is models.UUIDField and connection.features.has_native_uuid_field:
        return (uuid.UUID, NoneType)
    return None


def _takes_decimals(field: models.DecimalField, connection: Any) -> bool:
    """Whether ``connection``'s backend takes a Decimal for ``field`` as it is (PostgreSQL; SQLite formats it)."""
    return connection.ops.adapt_decimalfield_value(_SAMPLE_DECIMAL, field.max_digits, field.decimal_places) is _SAMPLE_DECIMAL


def array_text(values: list) -> list | str:
    """A column of values for ``UNNEST``: as PostgreSQL's array text when every value is of a simple type, else the list.

    psycopg renders a list element by element through its generic adapters,
    which took a third of the time of writing a 100,000-row upload; the text
    of an array of numbers, dates, booleans, UUIDs and strings is simple to
    write (quoted elements, backslash before ``"`` and ``\\``, unquoted
    ``NULL``) and goes as one string, cast to the column's array type by the
    query. Anything else (JSON, times with zones, floats, bytes) is left to psycopg.
    """
    kinds = set(map(type, values))
    if not kinds <= _ARRAY_TEXT.keys():
        return values
    if Decimal in kinds and not all(value.is_finite() for value in values if type(value) is Decimal):
        return values
    if len(kinds) == 1:  # one type: written in one pass (texts with nothing to escape: joined as they are)
        [kind] = kinds
        if kind is str and '"' not in (joined := "".join(values)) and "\\" not in joined:
            return '{"' + '","'.join(values) + '"}'
        return "{" + ",".join(map(_ARRAY_TEXT[kind], values)) + "}"
    return "{" + ",".join([_ARRAY_TEXT[type(value)](value) for value in values]) + "}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


#: How a value of each type is written as an element of PostgreSQL's array text.
_ARRAY_TEXT: dict[type, Callable[[Any], str]] = {
    NoneType: lambda value: "NULL",
    int: str,
    bool: lambda value: "t" if value else "f",
    Decimal: str,
    datetime.date: datetime.date.isoformat,
    uuid.UUID: str,
    str: _quoted,
}
