"""The contract of a spec: :class:`UploadSpec`, :class:`Column`, file rules and cell formatting.

:class:`~bulkupload.spec.model.ModelUploadSpec` derives all of this from a model; a plain
:class:`UploadSpec` declares it by hand with a row form of its own, for rules a model cannot state.
"""

from __future__ import annotations

import datetime
import decimal
import operator
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, ClassVar, Protocol

from django import forms
from django.contrib.auth import get_permission_codename
from django.core.checks import CheckMessage
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

#: How rows meet existing records: update or create by key, only create, only update.
UPSERT, CREATE, UPDATE = "upsert", "create", "update"
IMPORT_MODES = (UPSERT, CREATE, UPDATE)

#: A column's width in the template when nothing says otherwise.
DEFAULT_WIDTH = 18


@dataclass(frozen=True)
class Column:
    """One column of the spreadsheet.

    ``key`` is the row form's field name; ``label`` the template's header; the
    file's headers match ``label``, ``key`` or any alias regardless of case,
    surrounding spaces and underscores. ``field`` names the model field the
    column lands in (a name or an attname), so the preview can show old → new values.

    In a :class:`~bulkupload.spec.ModelUploadSpec` every attribute left at its
    default is derived from the model field; one given here overrides it
    (``form_field`` replaces the parsing and validation of the cell).
    """

    key: str
    label: Any = ""
    required: bool | None = None
    aliases: tuple[str, ...] = ()
    field: str | None = None
    help_text: Any = ""
    format: Any = ""
    choices: tuple[str, ...] = ()
    example: str = ""
    width: int | None = None
    form_field: forms.Field | None = None

    def completed(self) -> Column:
        """This column with the defaults a spec without a model uses: label from the key, optional, default width."""
        return replace(
            self,
            label=self.label or capfirst(self.key.replace("_", " ")),
            required=bool(self.required),
            width=self.width or DEFAULT_WIDTH,
        )


@dataclass
class StagedRow:
    """A valid staged row as file rules see it: its id, number and model values."""

    id: int
    row_number: int
    values: dict[str, Any]
    raw: dict[str, str] = field(default_factory=dict)


class RuleRun(Protocol):
    """One run of a file rule over one file: handed each valid row in file order, then asked what it found."""

    def add(self, row: StagedRow) -> None: ...

    def findings(self) -> Iterator[tuple[int, str, str]]: ...


class FileRule:
    """A rule over the whole file: yields ``(row_id, column_key, message)`` for bad rows.

    Rules see only rows that passed row validation, in file order. A rule defines
    either :meth:`start` or :meth:`check`. With :meth:`start`, staging hands the run
    each row as it is read, so a new file's rows are not read back from the database
    for the rule; a fix checks the rows again through :meth:`check`, which feeds the
    same run from the stored rows.
    """

    def start(self, *, spec: UploadSpec, scope: Any) -> RuleRun | None:
        """A new :class:`RuleRun` of this rule; None (the default) when the rule reads all rows in :meth:`check`."""
        return None

    def check(self, rows: Iterable[StagedRow], *, spec: UploadSpec, scope: Any) -> Iterator[tuple[int, str, str]]:
        run = self.start(spec=spec, scope=scope)
        if run is None:
            raise NotImplementedError(f"{type(self).__name__} defines neither start() nor check().")
        for row in rows:
            run.add(row)
        yield from run.findings()


class UploadSpec:
    """The declaration of one kind of upload by hand: a row form, columns, and how rows become model values.

    Subclass it and register it with :func:`bulkupload.spec.register`. Most uploads
    need only :class:`~bulkupload.spec.ModelUploadSpec`.
    """

    slug: ClassVar[str]
    title: ClassVar[Any] = ""
    model: ClassVar[type[models.Model]]
    form_class: ClassVar[type[forms.Form]]
    columns: Sequence[Column] = ()
    #: Model fields (names or attnames) that identify an existing record within the scope.
    natural_key: ClassVar[tuple[str, ...]] = ()
    #: ``"upsert"`` (by the natural key), ``"create"`` (every valid row is a new record) or ``"update"`` (existing records only).
    import_mode: ClassVar[str] = UPSERT
    #: A foreign key on the model to ``bulkupload.UploadBatch`` set on every write.
    batch_field: ClassVar[str | None] = None
    file_rules: ClassVar[Sequence[FileRule]] = ()
    sheet_title: ClassVar[str] = "Data"
    #: The Django permissions a user needs to upload; None: the model's add and change permissions, as the admin asks.
    permissions: tuple[str, ...] | None = None

    def __init__(self) -> None:
        self.columns = tuple(self.get_columns())

    def get_columns(self) -> list[Column]:
        """The spreadsheet's columns, in order (called once, when the spec is registered)."""
        return [column.completed() for column in type(self).columns]

    # --- hooks a host implements -------------------------------------------------

    def get_scope(self, user: Any) -> Any | None:
        """What part of the data ``user`` may upload into (a tenant, say); None for nothing."""
        return user

    def scope_key(self, scope: Any) -> str:
        """A short text that identifies the scope, stored on the batch."""
        return str(getattr(scope, "pk", scope))

    def get_queryset(self, scope: Any) -> models.QuerySet:
        """Existing records the upload may match and update."""
        return self.model._default_manager.all()

    def get_row_context(self, scope: Any) -> dict[str, Any]:
        """Lookups the row form needs, loaded once per upload (never a query per row)."""
        return {}

    def to_model_values(self, cleaned_data: dict[str, Any], scope: Any) -> dict[str, Any]:
        """Model attribute values for one valid row."""
        return dict(cleaned_data)

    def scope_values(self, scope: Any) -> dict[str, Any]:
        """Attributes every created record gets from the scope (its tenant, say)."""
        return {}

    def to_row_values(self, instance: models.Model) -> dict[str, str]:
        """An existing record as template cells, keyed by column key (for preview and export)."""
        values = {}
        for column in self.columns:
            if column.field:
                values[column.key] = format_cell(getattr(instance, column.field, ""))
        return values

    def existing_related(self) -> tuple[str, ...]:
        """Relations to ``select_related`` when loading existing records."""
        return ()

    def template_choices(self, scope: Any = None) -> dict[str, tuple[str, ...]]:
        """Column key → the values the template offers in a dropdown (``scope``: the user's, when known)."""
        return {column.key: tuple(str(choice) for choice in column.choices) for column in self.columns if column.choices}

    def suggestions(self, scope: Any, limit: int) -> dict[str, tuple[str, ...]]:
        """Lookup column key → the values the preview's edit boxes suggest in ``scope``; none for a column with more than
        ``limit``. A spec with its own row form has no lookups the engine knows of: none."""
        return {}

    # --- derived, not usually overridden -----------------------------------------------

    def get_title(self) -> str:
        """The upload's name on the pages: ``title``, or the model's plural name."""
        return str(capfirst(self.title or self.model._meta.verbose_name_plural))

    def get_permissions(self) -> tuple[str, ...]:
        """The permissions uploading needs: those declared, or the model's add and change permissions."""
        if self.permissions is not None:
            return tuple(self.permissions)
        opts = self.model._meta
        return tuple(f"{opts.app_label}.{get_permission_codename(action, opts)}" for action in ("add", "change"))

    def has_permission(self, user: Any) -> bool:
        """Whether ``user`` may upload (besides having a scope): logged in, with :meth:`get_permissions`."""
        return bool(user.is_authenticated and user.has_perms(self.get_permissions()))

    def permission_denied_message(self) -> str:
        """Why a user with a scope but without :meth:`get_permissions` may not upload (shown on the 403 page)."""
        return _("You need permission to add and change %(things)s to upload them; ask an administrator for it.") % {
            "things": self.model._meta.verbose_name_plural
        }

    def get_form(self, context: dict[str, Any], data: dict[str, Any] | None = None) -> forms.Form:
        """A row form bound to ``data`` (one row's cells by column key), with the upload's ``context``."""
        return self.form_class(data=data, context=context)

    @cached_property
    def key_fields(self) -> tuple[str, ...]:
        """The natural key as model attnames (``company_id`` for ``company``); empty when rows are not matched."""
        if self.import_mode == CREATE:
            return ()
        return tuple(_attname(self.model, name) for name in self.natural_key)

    @property
    def matches_records(self) -> bool:
        """Whether rows are matched with existing records (by a natural key)."""
        return bool(self.key_fields)

    def write_fields(self) -> list[str]:
        """Model attributes an upload writes (the form's model values, excluding the key)."""
        return [name for name in self.model_value_fields() if name not in self.key_fields]

    def model_value_fields(self) -> list[str]:
        """Model attributes a row's values hold: the columns' and the key's."""
        return list(dict.fromkeys([c.field for c in self.columns if c.field] + list(self.key_fields)))

    def column(self, key: str) -> Column:
        """The column with ``key``; ``KeyError`` if none."""
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)

    def key_of(self, values: dict[str, Any]) -> tuple:
        """A row's natural key from its model values (``()`` when rows are not matched)."""
        return self._key_getter(values)

    @cached_property
    def _key_getter(self) -> Any:
        names = self.key_fields
        return operator.itemgetter(*names) if len(names) > 1 else lambda values: tuple(values[name] for name in names)

    def check(self) -> list[CheckMessage]:
        """System check messages for this declaration (see :mod:`bulkupload.checks`)."""
        from ..checks import check_spec

        return check_spec(self)


def _attname(model: type[models.Model], name: str) -> str:
    try:
        return model._meta.get_field(name).attname
    except (FieldDoesNotExist, AttributeError):
        return name  # reported by the system checks


def format_cell(value: Any) -> str:
    """A model or cell value as the text a spreadsheet user would type."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, decimal.Decimal):
        text = format(value.normalize(), "f")
        return text
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def normalize_header(text: Any) -> str:
    """Header text as compared: case, surrounding spaces and underscores do not matter."""
    return re.sub(r"\s+", " ", str(text or "").replace("_", " ")).strip().casefold()
