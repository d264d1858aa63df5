"""The engine in the Django admin.

* :class:`UploadBatchAdmin`: every upload, read-only (nobody edits history by
  hand), its rows with their errors and outcome, and the action **Roll back
  selected batches**, which asks before overwriting changes made since.
* :class:`SpreadsheetUploadAdminMixin`: for a host ``ModelAdmin`` whose model has
  an upload spec, an **Upload spreadsheet** button that runs the same wizard in
  the admin's look, and the action **Export selected as spreadsheet**.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_permission_codename
from django.db.models import Q, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from . import progress, selectors, services, workbook
from .adminpages import AdminFixRowsView, AdminProgressView, AdminStartView, AdminUploadWizard
from .exceptions import RollbackConflict
from .mixins import XLSX_TYPE
from .models import UploadBatch, UploadRow, WebhookDelivery
from .spec import UploadSpec, all_specs, get_spec


def visible_batches(user: Any) -> Q | None:
    """Which batches a staff user may see in the admin: ``None`` for all (superusers), else a filter.

    The specs already say it: a batch is visible when its ``scope_key`` is the key of the scope that
    ``spec.get_scope(user)`` gives the user for the batch's spec (their tenant, say). A user without a scope in
    any spec sees none. Override :meth:`ScopedHistoryAdmin.get_visible_batches` to decide otherwise.
    """
    if user.is_superuser:
        return None
    visible = Q(pk__in=[])
    for spec in all_specs():
        scope = spec.get_scope(user)
        if scope is not None:
            visible |= Q(spec=spec.slug, scope_key=spec.scope_key(scope))
    return visible


class ScopedHistoryAdmin(admin.ModelAdmin):
    """Upload history: read-only, limited to the batches the staff user may see, filtered only as offered.

    Viewable with the view permission, never added, changed or deleted by hand.
    """

    #: The path from this admin's model to its batch ("" for UploadBatch itself).
    batch_path: str = ""
    #: Lookups the query string may use besides ``list_filter`` and ``date_hierarchy``: the rest are refused
    #: (400), so no crafted lookup (``values__contains``, a regex) reaches the database.
    extra_lookups: tuple[str, ...] = ()
    SAFE_LOOKUPS = frozenset({"exact", "in", "isnull", "gte", "gt", "lte", "lt", "year", "month", "day"})

    def get_visible_batches(self, request: HttpRequest) -> Q | None:
        """The hook: a filter on batches for this staff user, or None for all of them."""
        return visible_batches(request.user)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        visible = self.get_visible_batches(request)
        if visible is None:
            return queryset
        if not self.batch_path:
            return queryset.filter(visible)
        return queryset.filter(**{f"{self.batch_path}__in": UploadBatch.objects.filter(visible)})

    def lookup_allowed(self, lookup: str, value: Any, request: HttpRequest | None = None) -> bool:
        # A SimpleListFilter class reads its own parameter; the field filters are named by a string or (name, class).
        offered = {name if isinstance(name, str) else name[0] for name in self.list_filter if isinstance(name, str | tuple | list)}
        offered |= {self.date_hierarchy, *self.extra_lookups} - {None}
        parts = lookup.split(LOOKUP_SEP)
        path, last = (parts[:-1], parts[-1]) if parts[-1] in self.SAFE_LOOKUPS else (parts, "exact")
        return LOOKUP_SEP.join(path) in offered and last in self.SAFE_LOOKUPS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class WebhookDeliveryInline(admin.TabularInline):
    """Each attempt to deliver a webhook event about the batch, as the receiver answered it (read-only)."""

    model = WebhookDelivery
    fields = ["created_at", "event", "url", "attempt", "status_code", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(UploadBatch)
class UploadBatchAdmin(ScopedHistoryAdmin):
    list_display = [
        "file_name",
        "owner",
        "spec",
        "status_shown",
        "total_rows",
        "invalid_count",
        "created_count",
        "updated_count",
        "created_at",
        "applied_at",
    ]
    list_filter = ["status", "spec"]
    list_select_related = ["owner"]
    search_fields = ["file_name", "owner__username"]
    date_hierarchy = "created_at"
    actions = ["rollback_selected"]
    inlines = [WebhookDeliveryInline]
    # What a person reads: no scope key, raw JSON or checksum; the size in units; links to the receipt and the rows.
    fieldsets = [
        (None, {"fields": ["owner", "spec", "status_shown", "task_error", "receipt_link", "rows_link"]}),
        (gettext_lazy("File"), {"fields": ["file_name", "size", "sheet_name", "header_row", "columns_read", "ignored_columns"]}),
        (
            gettext_lazy("Preview"),
            {"fields": ["total_rows", "new_count", "update_count", "unchanged_count", "invalid_count"]},
        ),
        (
            gettext_lazy("Outcome"),
            {"fields": ["overwrite", "skip_invalid", "created_count", "updated_count", "skipped_count"]},
        ),
        (gettext_lazy("Dates"), {"fields": ["created_at", "validated_at", "applied_at", "rolled_back_at"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [name for _title, options in self.fieldsets for name in options["fields"]]

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def status_shown(self, batch: UploadBatch) -> str:
        return progress.status_label(batch)

    @admin.display(description=gettext_lazy("Size"))
    def size(self, batch: UploadBatch) -> str:
        return filesizeformat(batch.file_size) if batch.file_size else "—"

    @admin.display(description=gettext_lazy("Columns read"))
    def columns_read(self, batch: UploadBatch) -> str:
        """Each column of the file and the column it went to, as the user chose them."""
        try:
            labels = {c.key: str(c.label) for c in get_spec(batch.spec).columns}
        except KeyError:
            labels = {}
        pairs = [(str(header), labels.get(key, key)) for key, header in (batch.headers or {}).items()]
        return format_html_join(mark_safe("<br>"), "{} → {}", pairs) or "—"  # each part escaped by format_html_join

    @admin.display(description=gettext_lazy("Ignored columns"))
    def ignored_columns(self, batch: UploadBatch) -> str:
        return ", ".join(str(header) for header in batch.ignored_headers or []) or "—"

    @admin.display(description=gettext_lazy("Receipt"))
    def receipt_link(self, batch: UploadBatch) -> str:
        url = reverse("bulkupload:batch", kwargs={"batch_id": batch.pk})
        return format_html('<a href="{}">{}</a>', url, _("The upload's receipt, row by row"))

    @admin.display(description=gettext_lazy("Rows"))
    def rows_link(self, batch: UploadBatch) -> str:
        url = reverse("admin:bulkupload_uploadrow_changelist") + f"?batch__id__exact={batch.pk}"
        return format_html('<a href="{}">{}</a>', url, _("All %(count)d rows with their errors and outcome") % {"count": batch.total_rows})

    def has_rollback_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    def may_undo(self, request: HttpRequest, batch: UploadBatch) -> bool:
        """Rolling back deletes the records a batch created and restores those it changed: both permissions on its model."""
        try:
            opts = get_spec(batch.spec).model._meta
        except KeyError:  # the spec is no longer registered: nothing to say which records are whose
            return False
        return request.user.has_perms([f"{opts.app_label}.{get_permission_codename(a, opts)}" for a in ("delete", "change")])

    def records_name(self, batch: UploadBatch) -> str:
        try:
            return str(get_spec(batch.spec).model._meta.verbose_name_plural)
        except KeyError:
            return _("the records of an upload type that no longer exists")

    @admin.action(description=gettext_lazy("Roll back selected batches"), permissions=["rollback"])
    def rollback_selected(self, request: HttpRequest, queryset: QuerySet[UploadBatch]) -> HttpResponse | None:
        """Ask first on an intermediate page (as Django's delete action does), naming what each batch would undo and
        any records changed since; roll back only when that page is confirmed."""
        confirmed = bool(request.POST.get("confirm_rollback"))
        forced = set(request.POST.getlist("force")) if confirmed else set()
        self._report_hidden(request, queryset)
        rolled, untouched, asked = 0, 0, []
        # Newest first: undoing a later batch first often clears the conflicts of an earlier one.
        for batch in queryset.order_by("-applied_at", "-created_at"):
            if not self.may_undo(request, batch):
                self.message_user(
                    request,
                    _("“%(batch)s” was not rolled back: that deletes and changes %(records)s, which you may not do.")
                    % {"batch": batch, "records": self.records_name(batch)},
                    messages.ERROR,
                )
            elif batch.status != UploadBatch.Status.APPLIED:
                untouched += 1
            elif not confirmed:
                asked.append({"batch": batch, "message": services.rollback_conflict(batch_id=batch.pk)})
            else:
                try:
                    _batch, done = services.rollback_batch(batch_id=batch.pk, force=str(batch.pk) in forced)
                except RollbackConflict as exc:  # changed between the question and the answer: ask again
                    asked.append({"batch": batch, "message": str(exc)})
                    continue
                rolled += done
                untouched += not done
        self._report_done(request, rolled, untouched)
        if not asked:
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Roll back the selected batches?"),
            "opts": self.opts,
            "batches": asked,
            "conflicts": [item for item in asked if item["message"]],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": "rollback_selected",
        }
        return TemplateResponse(request, "bulkupload/admin/rollback_confirmation.html", context)

    def _report_hidden(self, request: HttpRequest, queryset: QuerySet[UploadBatch]) -> None:
        hidden = len(set(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME))) - queryset.count()
        if hidden > 0 and not request.POST.get("select_across"):
            # The queryset holds only the batches this user may see: the others were not found, and stay as they are.
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected batch was not found among the uploads you may see; nothing was done to it.",
                    "%(count)d selected batches were not found among the uploads you may see; nothing was done to them.",
                    hidden,
                )
                % {"count": hidden},
                messages.ERROR,
            )

    def _report_done(self, request: HttpRequest, rolled: int, untouched: int) -> None:
        if rolled:
            self.message_user(
                request, ngettext("Rolled back %(count)d batch.", "Rolled back %(count)d batches.", rolled) % {"count": rolled}
            )
        if untouched:
            self.message_user(
                request,
                ngettext(
                    "%(count)d batch was not applied (or already rolled back); nothing was done to it.",
                    "%(count)d batches were not applied (or already rolled back); nothing was done to them.",
                    untouched,
                )
                % {"count": untouched},
                messages.WARNING,
            )


@admin.register(UploadRow)
class UploadRowAdmin(ScopedHistoryAdmin):
    batch_path = "batch"
    #: The batch page links to its rows with ?batch__id__exact=.
    extra_lookups = ("batch__id", "batch")
    list_display = ["row_number", "batch", "status", "outcome", "cells", "error_text"]
    list_filter = ["status", "outcome"]
    list_select_related = ["batch"]
    search_fields = ["natural_key"]
    fields = ["batch", "row_number", "status", "outcome", "cells", "error_text", "target_pk", "changes", "previous"]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("Cells"))
    def cells(self, row: UploadRow) -> str:
        # Keys starting "__" are the reader's marks (an Excel error cell, a short CSV row), not cells.
        return " · ".join(str(value) for key, value in row.values.items() if not key.startswith("__"))

    @admin.display(description=gettext_lazy("Errors"))
    def error_text(self, row: UploadRow) -> str:
        return "; ".join(f"{key}: {' '.join(messages_)}" for key, messages_ in row.all_errors().items())


# --- the mixin for host ModelAdmins (its pages are in adminpages.py) ------------------------


class SpreadsheetUploadAdminMixin:
    """Add to a host ``ModelAdmin`` whose model has an upload spec::

        @admin.register(Entry)
        class EntryAdmin(SpreadsheetUploadAdminMixin, admin.ModelAdmin):
            upload_spec = "timesheet-entries"   # optional: found by the model otherwise

    The changelist gets an **Upload spreadsheet** button (for users with the
    model's ``add`` and ``change`` permissions and a scope in the spec) that runs
    the upload wizard in the admin's look; and the action **Export selected as
    spreadsheet** writes the selected records in the spec's template format.
    """

    upload_spec: str = ""
    change_list_template = "bulkupload/admin/change_list.html"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Added to whatever actions the host declares (None: the host wants none).
        if self.actions is not None and "export_selected_as_spreadsheet" not in self.actions:
            self.actions = [*self.actions, "export_selected_as_spreadsheet"]

    def get_upload_spec(self) -> UploadSpec:
        if self.upload_spec:
            return get_spec(self.upload_spec)
        for spec in all_specs():
            if spec.model is self.model:
                return spec
        raise LookupError(f"No upload spec is registered for {self.model.__name__}.")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Staff see, change and export only the records of their own scope (superusers: all).

        The scope is the upload spec's: ``get_scope(user)``, and the records ``get_queryset(scope)`` may match;
        a staff user without a scope sees none. Override :meth:`get_scoped_queryset` to decide otherwise.
        """
        return self.get_scoped_queryset(request, super().get_queryset(request))

    def get_scoped_queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """The hook: limit the admin's records to what the staff user may see."""
        if request.user.is_superuser:
            return queryset
        spec = self.get_upload_spec()
        scope = spec.get_scope(request.user)
        if scope is None:
            return queryset.none()
        return queryset.filter(pk__in=spec.get_queryset(scope).values("pk"))

    def has_upload_permission(self, request: HttpRequest) -> bool:
        """Uploading creates and changes records: both permissions, and a scope in the spec."""
        spec = self.get_upload_spec()
        return bool(self.has_add_permission(request) and self.has_change_permission(request) and selectors.may_upload(spec, request.user))

    def upload_url_name(self, what: str) -> str:
        return f"admin:{self.opts.app_label}_{self.opts.model_name}_bulkupload_{what}"

    def get_urls(self) -> list:
        name = f"{self.opts.app_label}_{self.opts.model_name}_bulkupload_"
        spec = {"spec": self.get_upload_spec().slug}

        def view(cls: type, **initkwargs: Any):
            return self.admin_site.admin_view(cls.as_view(model_admin=self, **initkwargs))

        ours = [
            path("upload/", view(AdminStartView), spec, name=f"{name}start"),
            path("upload/<uuid:upload_id>/fix/", view(AdminFixRowsView), spec, name=f"{name}fix"),
            path("upload/<uuid:upload_id>/progress/", view(AdminProgressView), spec, name=f"{name}progress"),
            path(
                "upload/<uuid:upload_id>/<str:step>/", view(AdminUploadWizard, url_name=f"admin:{name}wizard"), spec, name=f"{name}wizard"
            ),
        ]
        return ours + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = dict(extra_context or {})
        if self.has_upload_permission(request):
            extra_context["bulkupload_upload_url"] = reverse(self.upload_url_name("start"))
        return super().changelist_view(request, extra_context=extra_context)

    @admin.action(description=gettext_lazy("Export selected as spreadsheet"), permissions=["view"])
    def export_selected_as_spreadsheet(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        """The selected records in the upload template's format: edit them in Excel and upload them back."""
        spec = self.get_upload_spec()
        response = HttpResponse(workbook.export_workbook(spec, queryset), content_type=XLSX_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{slugify(spec.slug)}-export.xlsx"'
        return response
