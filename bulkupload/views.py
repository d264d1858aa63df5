"""The pages: index, template download, start, discard, error report, the receipt, rollback, progress.

The upload wizard is in :mod:`bulkupload.wizard`, the fixes in :mod:`bulkupload.fixviews`.

Every view needs a login, resolves the spec and the user's scope, and finds
uploads only among the user's own: an id that is not theirs answers 404.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.paginator import Paginator
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import TemplateView

from . import background, conf, limits, preview, progress, selectors, services, workbook
from .exceptions import LimitReached, RollbackConflict
from .mixins import STEPS, XLSX_TYPE, PageMixin, SpecMixin, retry_step, scope_name, wizard_url
from .models import UploadBatch, UploadRow
from .spec import UploadSpec, get_spec_or_404
from .wizard import UploadWizard, preview_context, preview_jump_url

# Kept importable from here, where the URLs, the admin and the fix pages find them.
__all__ = ["STEPS", "PageMixin", "SpecMixin", "UploadWizard", "preview_context", "preview_jump_url", "scope_name", "wizard_url"]

logger = logging.getLogger(__name__)


class IndexView(PageMixin, TemplateView):
    """What the user can upload, and their uploads so far."""

    template_name = "bulkupload/index.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # Where uploads land is said to staff only: they act in the admin beside other scopes' records; a member's own
        # pages already name their one scope.
        staff = self.request.user.is_staff
        context["specs"] = [
            {"spec": spec, "scope": scope_name(spec, self.request.user) if staff else ""} for spec in selectors.specs_for(self.request.user)
        ]
        # An upload that never got a file (a refused one, a start left behind) is nothing to show; the purge removes it.
        batches = selectors.user_batches(self.request.user).exclude(status=UploadBatch.Status.DRAFT, file_name="")
        page = Paginator(batches, 25).get_page(self.request.GET.get("page"))
        for batch in page.object_list:
            batch.status_label = progress.status_label(batch)
            batch.may_discard = batch.status in DISCARDABLE
        context["page"] = page
        return context


#: Uploads their owner may throw away: not applied, and no task working on them.
DISCARDABLE = (UploadBatch.Status.DRAFT, UploadBatch.Status.READY)


class DiscardView(PageMixin, View):
    """POST: the owner throws away an upload that was not applied (a refused file, one not wanted), with its file."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        batch = selectors.batch_for_user_or_404(request.user, kwargs["batch_id"])
        if not services.discard_batch(batch_id=batch.pk, statuses=DISCARDABLE):
            messages.error(request, _("This upload is being worked on or was applied; it cannot be discarded."))
            return redirect("bulkupload:index")
        messages.success(request, _("The upload “%(name)s” was discarded.") % {"name": batch.file_name or _("(no file yet)")})
        return redirect("bulkupload:index")


class TemplateDownloadView(SpecMixin, View):
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = HttpResponse(
            workbook.template_workbook(self.spec, scope=self.scope),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="{slugify(self.spec.slug)}-template.xlsx"'
        return response


class StartView(SpecMixin, TemplateView):
    """GET: what a new upload needs; POST: create it and open its wizard."""

    template_name = "bulkupload/start.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "spec": self.spec}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            limits.check_open_uploads(request.user)
        except LimitReached as exc:
            messages.error(request, str(exc))
            return redirect("bulkupload:index")
        batch = services.create_batch(spec=self.spec, user=request.user)
        return redirect(wizard_url(batch, "upload"))


class ErrorReportView(SpecMixin, View):
    """The invalid rows as .xlsx: the file's columns, an Errors column, each bad cell highlighted with its message."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        batch = selectors.batch_for_user_or_404(request.user, kwargs["upload_id"], spec=self.spec)
        response = HttpResponse(workbook.error_report(self.spec, batch), content_type=XLSX_TYPE)
        stem = slugify(batch.file_name.rsplit(".", 1)[0]) or "upload"
        response["Content-Disposition"] = f'attachment; filename="{stem}-errors.xlsx"'
        return response


class BatchView(PageMixin, TemplateView):
    """The receipt: what the upload did, row by row."""

    template_name = "bulkupload/batch.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        batch = selectors.batch_for_user_or_404(self.request.user, kwargs["batch_id"])
        spec = get_spec_or_404(batch.spec)
        outcome = self.request.GET.get("outcome", "")
        rows = batch.rows.all()
        if outcome in UploadRow.Outcome.values and outcome:
            rows = rows.filter(outcome=outcome)
        page = Paginator(rows.order_by("row_number"), conf.get("PREVIEW_PAGE_SIZE")).get_page(self.request.GET.get("page"))
        page_rows = list(page.object_list)
        return {
            "receipt_rows": receipt_rows(spec, page_rows),
            **super().get_context_data(**kwargs),
            "batch": batch,
            "spec": spec,
            "page_obj": page,
            "columns": spec.columns,
            "outcome_filter": outcome,
            "outcome_choices": UploadRow.Outcome.choices[1:],
            "resume_url": wizard_url(batch, "preview") if not batch.is_final else None,
            "may_roll_back": batch.status == UploadBatch.Status.APPLIED and spec.has_permission(self.request.user),
        }


def receipt_rows(spec: UploadSpec, rows: list[UploadRow]) -> list[dict[str, Any]]:
    """A receipt page's rows with their cells as the preview showed them: numbers and dates in the active locale, a
    related record by its own value (``p-009`` → ``P-009``); a row never read well shows what the file had."""
    model = getattr(spec, "model", None)
    fields = {c.key: _model_field(model, c.field) for c in spec.columns}
    decoded = {row.pk: preview.decoded_values(spec, row) for row in rows}
    names: dict[str, dict[Any, str]] = {}
    for key, field in fields.items():
        if field is None or not field.is_relation or not hasattr(spec, "lookup_field"):
            continue
        pks = {values.get(field.attname, values.get(field.name)) for values in decoded.values()} - {None}
        lookup = spec.lookup_field(field)
        if pks and lookup:
            found = field.related_model._default_manager.filter(pk__in=pks).values_list("pk", lookup)
            names[key] = {pk: str(value) for pk, value in found}
    shown = []
    for row in rows:
        values = decoded[row.pk]
        cells = []
        for column in spec.columns:
            text, field = row.values.get(column.key, ""), fields[column.key]
            typed = values.get(field.attname, values.get(field.name)) if field is not None else None
            cells.append(names[column.key].get(typed, text) if column.key in names else preview.localized(text, typed))
        shown.append({"row": row, "cells": cells})
    return shown


def _model_field(model: Any, name: str | None) -> Any:
    try:
        return model._meta.get_field(name) if model is not None and name else None
    except Exception:  # a column of the row form alone
        return None


class RollbackView(PageMixin, TemplateView):
    """GET: what rolling back would undo, and a button; POST: roll back (``force`` after a named conflict)."""

    template_name = "bulkupload/rollback_confirm.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        batch = self.get_batch()
        if batch.status != UploadBatch.Status.APPLIED:
            raise Http404("Only an applied upload can be rolled back.")
        return {**super().get_context_data(**kwargs), "batch": batch, "conflict": kwargs.get("conflict")}

    def get_batch(self) -> UploadBatch:
        """The user's own upload; rolling it back writes its records again, so it needs the permissions uploading needs."""
        return selectors.batch_to_roll_back_or_404(self.request.user, self.kwargs["batch_id"])

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        batch = self.get_batch()
        try:
            _batch, done = services.rollback_batch(batch_id=batch.pk, force=bool(request.POST.get("force")))
        except RollbackConflict as exc:
            # Show the rows by number (or why it cannot be done) and let the user decide; nothing was changed.
            return self.render_to_response(self.get_context_data(conflict=str(exc), **kwargs))
        if done:
            messages.success(request, _("The upload was rolled back."))
        return redirect("bulkupload:batch", batch_id=batch.pk)


class ProgressView(PageMixin, TemplateView):
    """Where a task working on an upload stands; moves on by itself when it ends.

    A small script polls ``?format=json``; without JavaScript the page refreshes
    itself. A failed task's message is shown with a way to try again.
    """

    template_name = "bulkupload/progress.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            batch = selectors.batch_for_user_or_404(request.user, kwargs["batch_id"])
            stalled = services.is_stalled(batch=batch)
            if stalled:  # shown as released, released only by the page's POST
                batch = services.as_released(batch=batch)
            status = progress_status(batch, next_url=self.get_next_url(batch), stalled=stalled)
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
            # SQLite without a write-ahead log (or its shared-cache test database): the work holds the table for a
            # moment. Never a 500 and never a wait: "still working, look again", with nothing about the upload.
            return self.busy_response(request)
        if request.GET.get("format") == "json":
            return JsonResponse(status, headers={"Cache-Control": "no-store"})
        if status["state"] == "done":
            return redirect(status["next"])
        context = self.get_context_data(batch=batch, spec=get_spec_or_404(batch.spec), status=status, retry_url=self.get_retry_url(batch))
        return self.render_to_response(context)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """ "Try again" on work whose worker died: release the batch, then go where the user retries."""
        batch = selectors.batch_for_user_or_404(request.user, kwargs["batch_id"])
        if services.release_if_stalled(batch=batch):
            return redirect(self.get_retry_url(batch))
        return redirect(request.path)  # not stalled (any more): the page says where the work stands

    def busy_response(self, request: HttpRequest) -> HttpResponse:
        """503 with Retry-After: the page's script polls again; without it, the page refreshes itself."""
        status = {"state": "working", "label": progress.Snapshot().label, "text": _("Still working…"), "percent": None}
        if request.GET.get("format") == "json":
            response: HttpResponse = JsonResponse(status, status=503)
        else:
            response = self.render_to_response(self.get_context_data(status=status, busy=True), status=503)
        response["Retry-After"] = "3"
        response["Cache-Control"] = "no-store"
        return response

    def get_next_url(self, batch: UploadBatch) -> str:
        """Where the user goes when the work ended: the receipt, or the wizard's next step."""
        if batch.is_final:
            return reverse("bulkupload:batch", kwargs={"batch_id": batch.pk})
        return wizard_url(batch, "preview")

    def get_retry_url(self, batch: UploadBatch) -> str:
        """Where the user tries again after a failure: the upload step, or confirming again."""
        return wizard_url(batch, retry_step(batch))


def progress_status(batch: UploadBatch, *, next_url: str, stalled: bool = False) -> dict[str, Any]:
    """The progress page's state, as the page and its script read it (work whose worker died is ``failed`` and
    ``stalled``: the page offers to release it by a POST)."""
    snapshot = progress.read(batch.pk) if batch.is_working else progress.Snapshot()
    if snapshot.total:
        text = ngettext("%(done)s of %(total)s row", "%(done)s of %(total)s rows", snapshot.total) % {
            "done": intcomma(snapshot.done),
            "total": intcomma(snapshot.total),
        }
    else:
        text = ngettext("%(done)s row so far", "%(done)s rows so far", snapshot.done) % {"done": intcomma(snapshot.done)}
    if (left := snapshot.remaining_seconds()) is not None:
        text += " · " + (
            ngettext("about %(n)d second left", "about %(n)d seconds left", left) % {"n": left}
            if left < 90
            else ngettext("about %(n)d minute left", "about %(n)d minutes left", round(left / 60)) % {"n": round(left / 60)}
        )
    return {
        **snapshot.as_dict(),
        "state": background.state(batch),
        "status": batch.status,
        "text": text,
        "message": batch.task_error,
        "next": next_url,
        "stalled": stalled,
    }
