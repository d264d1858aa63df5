"""Set-based writes of many rows, for the chunks the services write.

Django's ``bulk_create`` spends more time compiling its SQL, field by field and
value by value, than the database spends inserting: :func:`insert_values` and
:func:`insert_instances` send the same multi-row ``INSERT`` built once per chunk
(about twice as fast on 100,000 rows, ``bench/pipeline.py``).
:func:`insert_records` goes further for new records given as dicts: when an
instance would add nothing to the row, it builds none.

Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` per row and field:
its cost grows with the square of the batch size, and for 10,000 rows it takes
longer than all the rest of an upload. :func:`update_rows` sends one
``UPDATE … FROM (VALUES …)`` per chunk instead (SQLite 3.33+ and PostgreSQL),
and falls back to ``bulk_update`` on other databases.

On PostgreSQL an update sends a column of values per parameter (``UNNEST``),
as Django's own insert does, written as array text where the values allow it;
:func:`insert_values` streams the rows with ``COPY`` instead (:mod:`bulkupload.pgcopy`) under psycopg 3.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router
from django.db.models import signals

from . import pgcopy
from .dbvalues import array_text, prepare_column, preparer

#: PostgreSQL's wire protocol takes at most this many parameters in one statement.
MAX_PARAMETERS = 65535


def update_rows(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str], *, batch_size: int = 1000) -> int:
    """Write ``fields`` of each saved instance in ``objs`` to its row.

    Like ``bulk_update``: no ``save()``, no signals, no ``auto_now``. Returns how many rows were updated.
    """
    if not objs:
        return 0
    alias = router.db_for_write(model)
    if connections[alias].vendor not in ("sqlite", "postgresql"):
        return model._default_manager.db_manager(alias).bulk_update(objs, fields, batch_size=batch_size)
    attnames = [model._meta.pk.attname, *(model._meta.get_field(name).attname for name in fields)]
    return update_values(model, fields, [tuple(getattr(obj, name) for name in attnames) for obj in objs], batch_size=batch_size)


def update_values(model: type[models.Model], fields: Sequence[str], rows: Sequence[tuple], *, batch_size: int = 1000) -> int:
    """Like :func:`update_rows` for rows given as ``(pk, *values of fields)`` tuples: no model instances to build.

    Returns how many rows the database updated: a row deleted meanwhile is not counted.
    """
    if not rows:
        return 0
    alias = router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    if connection.vendor not in ("sqlite", "postgresql"):
        objs = [model(**{field.attname: value for field, value in zip(columns, row, strict=True)}) for row in rows]
        return model._default_manager.db_manager(alias).bulk_update(objs, fields, batch_size=batch_size)
    # PostgreSQL: a column of values per parameter (UNNEST), as for inserts; else one parameter per value.
    unnest = connection.vendor == "postgresql" and all(_plain(field, connection) for field in columns)
    width = batch_size if unnest else max(1, min(batch_size, 30000 // len(columns)))
    prepare = [preparer(field, connection) for field in columns]
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), width):
            part = rows[start : start + width]
            sql = _update_sql(meta.db_table, columns, len(part), connection, unnest=unnest)
            before = connection.connection.total_changes if connection.vendor == "sqlite" else 0
            cursor.execute(sql, _parameters(prepare, part, connection, unnest=unnest))
            # Python's sqlite3 reports no rowcount for a statement that starts with WITH; its change counter does.
            updated += connection.connection.total_changes - before if connection.vendor == "sqlite" else cursor.rowcount
    return updated


def _update_sql(table: str, columns: list[models.Field], count: int, connection, *, unnest: bool) -> str:
    quote = connection.ops.quote_name
    names = [f"c{i}" for i in range(len(columns))]
    if unnest:
        source = _unnest(columns, connection)
    elif connection.vendor == "postgresql":
        # Client-side parameters arrive untyped; cast each to its column's type.
        placeholder = "(" + ", ".join(f"CAST(%s AS {field.db_type(connection)})" for field in columns) + ")"
        source = "VALUES " + ", ".join([placeholder] * count)
    else:
        source = "VALUES " + ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * count)
    assignments = ", ".join(f"{quote(field.column)} = v.{name}" for field, name in zip(columns[1:], names[1:], strict=True))
    # Only quoted names of the model's own table and columns, and their types, go into the text; values are parameters.
    return (
        f"WITH v ({', '.join(names)}) AS ({source}) "  # noqa: S608
        f"UPDATE {quote(table)} SET {assignments} FROM v WHERE {quote(table)}.{quote(columns[0].column)} = v.{names[0]}"
    )


def refresh_statistics(model: type[models.Model], fields: Sequence[str] = ()) -> None:
    """Have PostgreSQL's planner count the rows just written (autovacuum would, later): a chunk's queries then use the indexes.

    Inside the transaction, ANALYZE sees the transaction's own rows; other databases need nothing. ``fields``: only
    the columns queries filter and sort by (sampling JSON columns took half the time); all of them when empty.
    """
    connection = connections[router.db_for_write(model)]
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        columns = ", ".join(quote(model._meta.get_field(name).column) for name in fields)
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {quote(model._meta.db_table)}" + (f" ({columns})" if columns else ""))


def returns_ids(model: type[models.Model]) -> bool:
    """Whether :func:`insert_values` can hand back the primary keys the database gave the rows (one statement each chunk)."""
    return bool(connections[router.db_for_write(model)].features.can_return_rows_from_bulk_insert and model._meta.pk.db_returning)


def insert_values(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[tuple],
    *,
    batch_size: int = 1000,
    returning: bool = False,
    copy: bool = True,
) -> list:
    """Insert ``rows``, each a tuple of values of ``fields``: no instances, no ``pre_save``, no signals.

    Every other column gets its field's default (a callable one called for each
    row), as ``model(**values)`` would give it; an automatic primary key is left
    to the database. ``returning`` (where :func:`returns_ids`): the rows' primary keys, in order.
    ``copy``: on PostgreSQL, stream the rows with ``COPY`` (:mod:`bulkupload.pgcopy`); it pays for wide rows
    of text and JSON such as staged rows (a third less time), not for narrow rows of numbers and keys.
    """
    if not rows:
        return []
    alias = router.db_for_write(model)
    connection = connections[alias]
    named = [model._meta.get_field(name) for name in fields]
    meta = model._meta
    others = [f for f in meta.concrete_fields if f not in named and not f.generated and not (f is meta.pk and f.db_returning)]
    columns = named + others
    plain = connection.vendor in ("sqlite", "postgresql") and all(_plain(field, connection) for field in columns)
    if not plain or any(field.has_db_default() for field in others):
        objs = [model(**{field.attname: value for field, value in zip(named, row, strict=True)}) for row in rows]
        model._default_manager.db_manager(alias).bulk_create(objs, batch_size=batch_size)
        return [obj.pk for obj in objs] if returning else []
    if others:
        per_row = [field.has_default() and callable(field.default) for field in others]
        fixed = [None if call else field.get_default() for field, call in zip(others, per_row, strict=True)]
        calls = [(i, field.get_default) for i, (field, call) in enumerate(zip(others, per_row, strict=True)) if call]

        def complete(row: tuple) -> tuple:
            rest = list(fixed)
            for i, default in calls:
                rest[i] = default()
            return (*row, *rest)

        rows = [complete(row) for row in rows]
    return _insert(model, alias, columns, rows, returning=returning, batch_size=batch_size, copy=copy)


def insert_instances(model: type[models.Model], objs: Sequence[models.Model], *, batch_size: int = 1000) -> None:
    """Like ``bulk_create(objs)`` for new, unsaved instances: each field's ``pre_save()`` runs, primary keys are set.

    No signals, as with ``bulk_create``. Other databases, and instances some with
    and some without a primary key, go through ``bulk_create`` itself.
    """
    if not objs:
        return
    alias = router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    pk_given = {obj.pk is not None for obj in objs}
    returning = meta.pk.db_returning and pk_given == {False}
    unsupported = connection.vendor not in ("sqlite", "postgresql") or len(pk_given) > 1
    if unsupported or (returning and not connection.features.can_return_rows_from_bulk_insert):
        model._default_manager.db_manager(alias).bulk_create(objs, batch_size=batch_size)
        return
    columns = [field for field in meta.concrete_fields if not field.generated and not (returning and field is meta.pk)]
    if not all(_plain(field, connection) for field in columns):  # fields with SQL of their own (GIS, arrays): Django's way
        model._default_manager.db_manager(alias).bulk_create(objs, batch_size=batch_size)
        return
    rows = [tuple(field.pre_save(obj, True) for field in columns) for obj in objs]
    pks = _insert(model, alias, columns, rows, returning=returning, batch_size=batch_size)
    for index, obj in enumerate(objs):
        if returning:
            setattr(obj, meta.pk.attname, pks[index])
        obj._state.adding = False
        obj._state.db = alias


def insert_records(model: type[models.Model], records: Sequence[dict[str, Any]], *, batch_size: int = 1000) -> list:
    """Insert new records given as dicts of attribute values, as ``bulk_create([model(**values), …])`` would; return their primary keys.

    An instance adds nothing to a row when the model keeps Django's
    ``__init__``, nothing listens to its init signals and each field's
    ``pre_save()`` only reads the attribute (no ``auto_now``, no file to
    commit): then each dict goes straight into the ``INSERT``, every missing
    column getting its field's default. Otherwise instances are built
    (:class:`NewRecords`) and inserted by :func:`insert_instances`.
    """
    if not records:
        return []
    alias = router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    columns = [field for field in meta.concrete_fields if not field.generated and not (field is meta.pk and field.db_returning)]
    attnames = [field.attname for field in columns]
    given = set().union(*(values.keys() for values in records))
    direct = (
        connection.vendor in ("sqlite", "postgresql")
        and connection.features.can_return_rows_from_bulk_insert
        and meta.pk.db_returning
        and model.__init__ is models.Model.__init__
        and not signals.pre_init.has_listeners(model)
        and not signals.post_init.has_listeners(model)
        and given <= set(attnames)
        and all(_plain(field, connection) and _pre_save_reads(field) and not field.has_db_default() for field in columns)
    )
    if not direct:
        build = NewRecords(model)
        objs = [build(**values) for values in records]
        insert_instances(model, objs, batch_size=batch_size)
        return [obj.pk for obj in objs]
    fixed = {field.attname: field.get_default() for field in columns if not (field.has_default() and callable(field.default))}
    calls = [(field.attname, field.get_default) for field in columns if field.has_default() and callable(field.default)]

    pick = operator.itemgetter(*attnames) if len(attnames) > 1 else lambda complete: tuple(complete[name] for name in attnames)

    def row(values: dict[str, Any]) -> tuple:
        return pick(fixed | {name: default() for name, default in calls if name not in values} | values if calls else fixed | values)

    return _insert(model, alias, columns, [row(values) for values in records], returning=True, batch_size=batch_size)


def _pre_save_reads(field: models.Field) -> bool:
    """``field.pre_save()`` returns the attribute as it is: Django's own, or a date or time field without ``auto_now(_add)``."""
    method = type(field).pre_save
    if method is models.Field.pre_save:
        return True
    own = (models.DateField.pre_save, models.DateTimeField.pre_save, models.TimeField.pre_save)
    return method in own and not field.auto_now and not field.auto_now_add


def _plain(field: models.Field, connection) -> bool:
    """A column whose values go in as plain parameters, with a type of the database's own (as Django's UNNEST insert requires)."""
    if hasattr(field, "get_placeholder") or hasattr(field, "get_placeholder_sql"):
        return False
    return (field.target_field if field.is_relation else field).get_internal_type() in connection.data_types


def _unnest(columns: list[models.Field], connection) -> str:
    """``SELECT * FROM UNNEST((%s)::type[], …)``: one array parameter per column, typed without length limits (as Django's insert)."""
    arrays = ", ".join(f"(%s)::{field.db_type(connection).split('(')[0]}[]" for field in columns)
    return f"SELECT * FROM UNNEST({arrays})"  # noqa: S608 - the model's own column types; values are parameters


def _parameters(prepare: list, rows: Sequence[tuple], connection, *, unnest: bool) -> list:
    """The rows' values made ready for the database: a list per column for ``UNNEST``, else one flat list."""
    if unnest:
        columns = zip(*rows, strict=True)
        return [array_text(prepare_column(to_db, list(column), connection)) for to_db, column in zip(prepare, columns, strict=True)]
    return [to_db(value, connection) for row in rows for to_db, value in zip(prepare, row, strict=True)]


def _insert(
    model, alias: str, columns: list[models.Field], rows: Sequence[tuple], *, returning: bool, batch_size: int, copy: bool = False
) -> list:
    """One ``INSERT`` per ``batch_size`` rows; PostgreSQL gets a column of values per parameter (``UNNEST``), as Django sends."""
    connection = connections[alias]
    meta = model._meta
    quote = connection.ops.quote_name
    prepare = [preparer(field, connection) for field in columns]
    # Only quoted names of the model's own table and columns, and their types, go into the text; values are parameters.
    head = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in columns)}) "
    tail = f" RETURNING {quote(meta.pk.column)}" if returning else ""
    unnest = connection.vendor == "postgresql"
    if unnest:
        width = batch_size
    else:
        placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
        limit = min(connection.features.max_query_params or MAX_PARAMETERS, MAX_PARAMETERS)
        width = max(1, min(batch_size, limit // max(1, len(columns))))
    if copy and pgcopy.usable(connection):
        copied = pgcopy.copy_rows(connection, model, columns, rows, prepare, returning=returning, width=width)
        if copied is not None:  # else no sequence to draw the keys from, and nothing written: INSERT … RETURNING
            return copied
    pks: list = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), width):
            part = rows[start : start + width]
            values = _unnest(columns, connection) if unnest else "VALUES " + ", ".join([placeholder] * len(part))
            cursor.execute(head + values + tail, _parameters(prepare, part, connection, unnest=unnest))
            if returning:
                pks.extend(meta.pk.to_python(row[0]) for row in cursor.fetchall())
    return pks


class NewRecords:
    """Build new, unsaved instances of ``model`` from dicts of attribute values, as ``model(**values)`` would.

    Django builds an instance from positional values (all concrete fields, in
    order) several times faster than from keywords: this fills in what keywords
    would have left to ``__init__`` (each field's default, a callable one called
    per record) and builds positionally. ``__init__`` still runs, with its
    signals; ``pre_save()`` runs at insert. Values given by field name rather
    than attribute name (a related object), or a field with a database default,
    take the keyword path.
    """

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.attnames = {field.attname for field in self.fields}
        self.positional = len(self.fields) == len(model._meta.fields) and not any(field.has_db_default() for field in self.fields)

    def __call__(self, **values: Any) -> models.Model:
        if not self.positional or not values.keys() <= self.attnames:
            return self.model(**values)
        return self.model(*[values[field.attname] if field.attname in values else field.get_default() for field in self.fields])
