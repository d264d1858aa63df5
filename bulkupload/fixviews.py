"""The preview's fixes: saving edited cells (a whole page, or one cell from the page's script), bulk replace, exclude, duplicates.

Every button of the preview's form posts to :class:`FixRowsView`, which saves the
pending edits first and only then does what the button says, so no edit is lost
on the way to another step. Each view needs a login and the spec's scope; an
upload or row that is not the user's answers 404.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import TemplateView

from . import conf, fixing, preview, selectors
from .exceptions import BatchNotReady
from .fixforms import RowFixFormSet
from .models import UploadBatch, UploadRow
from .spec import UploadSpec
from .views import SpecMixin, wizard_url

#: Steps a button of the preview's form may go on to once the edits are saved.
NEXT_STEPS = ("confirm", "upload", "columns")
SEEN_SUFFIX = preview.SEEN_SUFFIX


def posted_edits(formset, spec: UploadSpec, data: QueryDict) -> tuple[dict, dict, dict, set]:
    """Row id → posted cells, → the cells as the page showed them, → the version the page showed; and the ids of rows
    the page's script saved already (marked ``-autosaved``); from a valid formset."""
    edits, seen, versions, autosaved = {}, {}, {}, set()
    for form in formset.forms:
        row_id = form.cleaned_data.get("row")
        if row_id is None:
            continue
        edits[row_id] = {c.key: form.cleaned_data.get(c.key, "") for c in spec.columns}
        shown = {c.key: data[f"{form.prefix}-{c.key}{SEEN_SUFFIX}"] for c in spec.columns if f"{form.prefix}-{c.key}{SEEN_SUFFIX}" in data}
        if shown:
            seen[row_id] = shown
        if data.get(f"{form.prefix}-autosaved"):
            autosaved.add(row_id)
        # An older page without versions: its cells are compared with the stored ones.
        with contextlib.suppress(KeyError, ValueError):
            versions[row_id] = int(data[f"{form.prefix}-version"])
    return edits, seen, versions, autosaved


def stale_message(spec: UploadSpec, stale: list[fixing.StaleRow]) -> str:
    """Which rows changed since the user loaded them, and what they hold now."""
    parts = [
        _("Row %(row)d now reads: %(cells)s.")
        % {"row": row.row_number, "cells": "; ".join(f"{c.label}: {row.values.get(c.key, '') or '∅'}" for c in spec.columns)}
        for row in stale[:5]
    ]
    numbers = ", ".join(str(row.row_number) for row in stale)
    head = ngettext(
        "Row %(rows)s was changed elsewhere (another tab or person) since you loaded it, so your change to it was not saved.",
        "Rows %(rows)s were changed elsewhere (another tab or person) since you loaded them, so your changes to them were not saved.",
        len(stale),
    ) % {"rows": numbers}
    return " ".join([head, *parts, _("Repeat your change if it is still needed.")])


class FixRowsView(SpecMixin, View):
    """Save the cells changed in the preview, then do what the pressed button says (go on, exclude, replace …)."""

    def get_back_url(self, batch: UploadBatch, **query: Any) -> str:
        """The preview page the fixes came from."""
        return wizard_url(batch, "preview", **query)

    def get_step_url(self, batch: UploadBatch, step: str) -> str:
        """Another step of the same wizard (the admin's or the site's): the preview's URL with the step swapped."""
        preview = self.get_back_url(batch)
        return preview[: -len("preview/")] + f"{step}/" if preview.endswith("preview/") else wizard_url(batch, step)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        batch = selectors.batch_for_user_or_404(request.user, kwargs["upload_id"], spec=self.spec)
        formset = RowFixFormSet(request.POST, spec=self.spec, prefix="fix", date_orders=batch.date_orders)
        back = self.get_back_url(batch, status=request.POST.get("status"), page=request.POST.get("page"))
        if not formset.is_valid():
            errors = "; ".join(str(e) for e in formset.non_form_errors()) or _("check the highlighted cells.")
            messages.error(request, _("The fixes could not be saved: %(errors)s") % {"errors": errors})
            return HttpResponseRedirect(back)
        edits, seen, versions, autosaved = posted_edits(formset, self.spec, request.POST)
        try:
            # The service locks the upload and checks that it is still ready: a confirm may have won the race.
            result = fixing.save_edits(batch, edits=edits, seen=seen, versions=versions) if edits else None
        except BatchNotReady as exc:
            messages.error(request, _("The fixes were not saved: %(reason)s") % {"reason": exc})
            batch.refresh_from_db()
            if batch.is_final:
                return redirect("bulkupload:batch", batch_id=batch.pk)
            return HttpResponseRedirect(back)  # the preview sends an upload without a file on to its upload step
        if result and result.stale:
            # Stop here: the user sees the row as it now is before going anywhere.
            messages.error(request, stale_message(self.spec, result.stale))
            return HttpResponseRedirect(back)
        action = self.action(request)
        # Rows saved now, and rows the page's script saved as the user left their cells: all of the user's saves.
        saved = set(result.saved if result else []) | set(batch.rows.filter(pk__in=autosaved).values_list("row_number", flat=True))
        if saved:
            invalid = result.batch.invalid_count if result else UploadBatch.objects.get(pk=batch.pk).invalid_count
            messages.success(
                request, _("Saved %(count)d row(s). %(invalid)d invalid row(s) left.") % {"count": len(saved), "invalid": invalid}
            )
        elif action == "save":
            messages.info(request, _("Nothing was changed."))
        try:
            return self.follow(request, batch, action, back)
        except BatchNotReady as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(back)

    def action(self, request: HttpRequest) -> str:
        """The pressed button: "save", a step, "jump", "replace", "duplicates", "exclude" or "include"."""
        for name in ("exclude", "include"):
            if name in request.POST:
                return name
        then = request.POST.get("then", "")
        if then in ("", "jump") and request.POST.get("row", "").strip():
            return "jump"  # Enter in "Go to row" presses the form's first button
        return then if then in (*NEXT_STEPS, "replace", "duplicates") else "save"

    def follow(self, request: HttpRequest, batch: UploadBatch, action: str, back: str) -> HttpResponse:
        """Once the edits are saved: go where the button leads."""
        if action in NEXT_STEPS:
            return HttpResponseRedirect(self.get_step_url(batch, action))
        if action == "jump":
            # The preview's own "go to row" (a GET) finds the row's page, or says there is none.
            return HttpResponseRedirect(self.get_back_url(batch, status=request.POST.get("status"), row=request.POST["row"].strip()[:20]))
        if action == "replace":
            query = {key: request.POST.get(f"replace-{key}", "") for key in ("column", "find", "with", "scope")}
            url = reverse("bulkupload:replace", kwargs={"spec": self.spec.slug, "upload_id": batch.pk})
            return HttpResponseRedirect(f"{url}?{urlencode(query)}")
        if action == "duplicates":
            count = fixing.resolve_duplicates(batch, keep=request.POST.get("keep", ""))
            messages.success(
                request, ngettext("%(count)d duplicate row excluded.", "%(count)d duplicate rows excluded.", count) % {"count": count}
            )
        elif action in ("exclude", "include"):
            row = self.posted_row(batch, request.POST.get(action))
            if action == "exclude":
                fixing.exclude_rows(batch, row_ids=[row.pk])
                messages.success(request, _("Row %(row)d is excluded: it will not be imported.") % {"row": row.row_number})
            else:
                fixing.include_rows(batch, row_ids=[row.pk])
                messages.success(request, _("Row %(row)d is included again and was checked.") % {"row": row.row_number})
        return HttpResponseRedirect(back)

    @staticmethod
    def posted_row(batch: UploadBatch, value: str | None) -> UploadRow:
        try:
            return batch.rows.only("id", "row_number").get(pk=int(value or ""))
        except (ValueError, UploadRow.DoesNotExist):
            raise Http404("No such row in this upload.") from None


class CellSaveView(SpecMixin, View):
    """One cell saved by the preview's script: the row's new status, messages and version as JSON."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        batch = selectors.batch_for_user_or_404(request.user, kwargs["upload_id"], spec=self.spec)
        post = request.POST
        try:
            row = batch.rows.get(pk=int(post.get("row", "")))
            version = int(post.get("version", ""))
        except (ValueError, UploadRow.DoesNotExist):
            raise Http404("No such row in this upload.") from None
        key, value = post.get("key", ""), post.get("value", "")
        if key not in {c.key for c in self.spec.columns}:
            return JsonResponse({"message": _("There is no such column in this upload.")}, status=400)
        if len(value) > conf.get("MAX_CELL_LENGTH"):
            limit = conf.get("MAX_CELL_LENGTH")
            return JsonResponse({"message": _("A cell holds at most %(limit)d characters.") % {"limit": limit}}, status=400)
        seen = {row.pk: {key: post["seen"]}} if "seen" in post else None
        try:
            result = fixing.save_edits(batch, edits={row.pk: {key: value}}, seen=seen, versions={row.pk: version})
        except BatchNotReady as exc:
            return JsonResponse({"message": str(exc)}, status=409)
        row.refresh_from_db()
        if result.stale:
            return JsonResponse(
                {"state": "stale", "message": stale_message(self.spec, result.stale), **row_state(self.spec, row, result.batch)}, status=409
            )
        if result.saved:
            message = _("Row %(row)d saved: %(status)s.") % {"row": row.row_number, "status": row.get_status_display()}
        else:
            message = _("Row %(row)d: nothing changed.") % {"row": row.row_number}
        return JsonResponse(
            {"state": "saved" if result.saved else "unchanged", "message": message, **row_state(self.spec, row, result.batch)}
        )


def row_state(spec: UploadSpec, row: UploadRow, batch: UploadBatch) -> dict[str, Any]:
    """A row as the preview's script redraws it, with the upload's counts."""
    errors = row.all_errors()
    return {
        "row": {
            "id": row.pk,
            "number": row.row_number,
            "version": row.version,
            "status": row.status,
            "status_label": str(row.get_status_display()),
            "values": {c.key: row.values.get(c.key, "") for c in spec.columns},
            "errors": {c.key: errors.get(c.key, []) for c in spec.columns},
            "row_errors": errors.get(NON_FIELD_ERRORS, []),
        },
        "counts": {
            "total": batch.total_rows,
            "new": batch.new_count,
            "update": batch.update_count,
            "unchanged": batch.unchanged_count,
            "invalid": batch.invalid_count,
        },
    }


class ReplaceView(SpecMixin, TemplateView):
    """GET: how many rows a find-and-replace will change; POST: replace, in one statement, and check them again."""

    template_name = "bulkupload/wizard/replace.html"

    def params(self, data: QueryDict) -> dict[str, str]:
        column = data.get("column", "")
        fixing.check_column(self.spec, column)
        scope = data.get("scope", fixing.SCOPE_ALL)
        return {
            "column": column,
            "find": data.get("find", ""),
            "with": data.get("with", ""),
            "scope": scope if scope == fixing.SCOPE_INVALID else fixing.SCOPE_ALL,
        }

    def get_batch(self) -> UploadBatch:
        return selectors.batch_for_user_or_404(self.request.user, self.kwargs["upload_id"], spec=self.spec)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        batch = self.get_batch()
        back = wizard_url(batch, "preview")
        try:
            params = self.params(request.GET)
        except BatchNotReady as exc:
            messages.error(request, str(exc))
            return redirect(back)
        count = fixing.count_replacements(batch, column=params["column"], find=params["find"], scope=params["scope"])
        label = next(c.label for c in self.spec.columns if c.key == params["column"])
        context = self.get_context_data(spec=self.spec, batch=batch, params=params, count=count, column_label=label, back=back)
        return self.render_to_response(context)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        batch = self.get_batch()
        back = wizard_url(batch, "preview")
        try:
            params = self.params(request.POST)
            count = fixing.replace_values(
                batch, column=params["column"], find=params["find"], replace=params["with"], scope=params["scope"]
            )
        except BatchNotReady as exc:
            messages.error(request, _("Nothing was replaced: %(reason)s") % {"reason": exc})
            return redirect(back)
        batch.refresh_from_db()
        messages.success(
            request,
            ngettext(
                "Replaced in %(count)d row. %(invalid)d invalid row(s) left.",
                "Replaced in %(count)d rows. %(invalid)d invalid row(s) left.",
                count,
            )
            % {"count": count, "invalid": batch.invalid_count},
        )
        return redirect(back)
