"""The pages: index, template download, the upload wizard, fixes, the receipt.

Every view needs a login, resolves the spec and the user's scope, and finds
uploads only among the user's own: an id that is not theirs answers 404.
"""

from __future__ import annotations

import functools
import logging
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import DatabaseError, OperationalError, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.decorators.csrf import csrf_protect
from django.views.generic import TemplateView
from formtools.wizard.views import NamedUrlSessionWizardView

from . import background, conf, fixing, limits, preview, progress, selectors, services, steps, values, workbook
from .exceptions import BatchNotReady, ChangedSincePreview, FileRejected, LimitReached, RollbackConflict
from .forms import ColumnsForm, ConfirmForm, PreviewForm, RowFixFormSet, UploadForm, ValuesForm
from .models import UploadBatch, UploadRow
from .paging import CountedPaginator, status_count
from .spec import UploadSpec, get_spec_or_404

STEPS = ("upload", "columns", "values", "preview", "confirm")
logger = logging.getLogger(__name__)


class PageMixin(LoginRequiredMixin):
    """A page of the engine: needs a login; its templates extend ``BULKUPLOAD["BASE_TEMPLATE"]`` (the admin sets its own)."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.setdefault("bulkupload_base_template", conf.get("BASE_TEMPLATE"))
        return context

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        """The view, answering the engine's refusals with its own 403 page that says why (a bare project has none)."""
        view = super().as_view(**initkwargs)

        @functools.wraps(view)
        def explained(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except PermissionDenied as refusal:
                context = {"reason": str(refusal), "bulkupload_base_template": conf.get("BASE_TEMPLATE")}
                return render(request, "bulkupload/403.html", context, status=403)

        return explained


class _SpecResolved:
    """Resolves ``spec`` from the URL and the user's scope in it (404 when the user has none), then ``redirect_elsewhere``."""

    spec: UploadSpec
    scope: Any

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.spec = get_spec_or_404(kwargs["spec"])
        self.scope = selectors.scope_or_404(self.spec, request.user)
        return self.redirect_elsewhere(**kwargs) or super().dispatch(request, *args, **kwargs)

    def redirect_elsewhere(self, **kwargs: Any) -> HttpResponse | None:
        """Where the request goes instead of this page (None: here). Runs after the login check."""
        return None


class SpecMixin(PageMixin, _SpecResolved):
    """A page of one spec: the login is checked first (``LoginRequiredMixin``), then the spec and scope resolved."""


class IndexView(PageMixin, TemplateView):
    """What the user can upload, and their uploads so far."""

    template_name = "bulkupload/index.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["specs"] = [{"spec": spec, "scope": scope_name(spec, self.request.user)} for spec in selectors.specs_for(self.request.user)]
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


def scope_name(spec: UploadSpec, user: Any) -> str:
    """Where the user's uploads of ``spec`` land (a tenant's name), "" when that is simply the user themselves."""
    scope = spec.get_scope(user)
    return "" if scope is None or scope == user else str(scope)


class DiscardView(PageMixin, View):
    """POST: the owner throws away an upload that was not applied (a refused file, one not wanted), with its file."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        batch = selectors.batch_for_user_or_404(request.user, kwargs["batch_id"])
        with transaction.atomic():
            # Locked, then checked: a confirm in another tab may have started applying it meanwhile.
            if not UploadBatch.objects.select_for_update().filter(pk=batch.pk, status__in=DISCARDABLE).exists():
                messages.error(request, _("This upload is being worked on or was applied; it cannot be discarded."))
                return redirect("bulkupload:index")
            services.discard_batch(batch.pk)
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
        batch = services.create_batch(self.spec, request.user)
        return redirect(wizard_url(batch, "upload"))


def wizard_url(batch: UploadBatch, step: str, **query: Any) -> str:
    url = reverse("bulkupload:wizard", kwargs={"spec": batch.spec, "upload_id": batch.pk, "step": step})
    query = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{url}?{urlencode(query)}" if query else url


class UploadWizard(SpecMixin, NamedUrlSessionWizardView):
    """upload → preview → confirm, with its state kept per upload.

    The session holds only the step, under a prefix of the upload's id, so two
    uploads in two tabs never meet. Whether a step is done is read from the batch
    in the database, so a lost or overwritten session costs the user nothing: the
    URL names the upload and the step. The forms only check; each step's work is
    one call (:mod:`bulkupload.steps`) from ``process_step``, and applying one from
    ``done`` on the confirm POST.
    """

    form_list = [
        ("upload", UploadForm),
        ("columns", ColumnsForm),
        ("values", ValuesForm),
        ("preview", PreviewForm),
        ("confirm", ConfirmForm),
    ]
    # The columns step appears only for files whose headers need mapping (or whose sheet needs choosing); the values
    # step only when a date column reads both ways or a choice/lookup column has values that match nothing.
    condition_dict = {
        "columns": lambda wizard: wizard.batch.needs_columns,
        "values": lambda wizard: values.needs_step(wizard.batch, wizard.request.user),
    }
    # The upload step stages its file into the batch, so formtools keeps no files.
    file_storage = None
    batch: UploadBatch

    @classmethod
    def as_view(cls, **initkwargs: Any):
        """The view behind a gate: the CSRF middleware would read (and spool) the whole body before the view could look at
        its size, so it is told to wait (for subclasses too), and the gate checks CSRF right after the size."""
        view = super().as_view(**initkwargs)
        checked = csrf_protect(view)

        @functools.wraps(view)
        def gate(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return view(request, *args, **kwargs)  # to the login page, the body unread
            if request.method == "POST" and (refusal := limits.body_too_large(request)):
                return render(request, "bulkupload/too_large.html", {"message": refusal, "back": request.path}, status=413)
            return checked(request, *args, **kwargs)

        gate.csrf_exempt = True
        return gate

    def redirect_elsewhere(self, **kwargs: Any) -> HttpResponse | None:
        """An applied upload shows its receipt, one a task works on its progress; anything else is the wizard's."""
        self.batch = selectors.batch_for_user_or_404(self.request.user, kwargs["upload_id"], spec=self.spec)
        if self.batch.is_final:
            return redirect(self.get_done_url(self.batch))
        if self.batch.is_working:
            return redirect(self.get_progress_url(self.batch))
        return None

    def get_done_url(self, batch: UploadBatch) -> str:
        """Where an applied upload goes: its receipt."""
        return reverse("bulkupload:batch", kwargs={"batch_id": batch.pk})

    def get_progress_url(self, batch: UploadBatch) -> str:
        """The page that follows a task working on the upload."""
        return reverse("bulkupload:progress", kwargs={"batch_id": batch.pk})

    def get_prefix(self, request: HttpRequest, *args: Any, **kwargs: Any) -> str:
        return f"bulkupload_{kwargs['upload_id']}"

    def get_step_url(self, step: str) -> str:
        return wizard_url(self.batch, step)

    def get(self, *args: Any, **kwargs: Any) -> HttpResponse:
        # The batch says which steps are open: a step asked for too early (or one this upload skips) redirects.
        if url := self.step_elsewhere(kwargs.get("step")):
            return redirect(url)
        return super().get(*args, **kwargs)

    def step_elsewhere(self, step: str | None) -> str | None:
        """The URL to show instead of ``step`` (None: the step itself)."""
        if step in STEPS and step != "upload" and not self.batch.is_staged:
            # Not staged yet: the file's columns still need choosing, or there is no file at all.
            first = "columns" if self.batch.needs_columns and self.batch.source_file else "upload"
            if step != first:
                return self.get_step_url(first)
        if step == "preview" and values.pending(self.batch, self.request.user):
            # Staged on a task worker (the progress page sends users to the preview): the values step asks first.
            return self.get_step_url("values")
        if step == "values" and not values.needs_step(self.batch, self.request.user):
            return self.get_step_url("preview" if self.batch.is_staged else "upload")
        if step == "columns" and not self.batch.needs_columns:
            return self.get_step_url("preview" if self.batch.is_staged else "upload")
        if step == "preview" and self.request.GET.get("row"):
            return preview_jump_url(self.request, self.batch)
        return None

    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        # The URL says where the user is; the session may have lost it (expired, overwritten).
        step = kwargs.get("step")
        if step not in self.get_form_list():
            # Not a step of this upload (the columns step of a file that needs none, a made-up name).
            messages.error(self.request, _("That step is not part of this upload; continue here."))
            return redirect(self.get_step_url("preview" if self.batch.is_staged else "upload"))
        if self.storage.current_step != step:
            self.storage.current_step = step
        # The posted step must agree with the URL: formtools would otherwise switch to whatever it names.
        data = self.request.POST.copy()
        data[f"{self.prefix}-current_step"] = step
        self.request.POST = data
        return super().post(*args, **kwargs)

    def get_form_kwargs(self, step: str | None = None) -> dict[str, Any]:
        kwargs = {"batch": self.batch, "spec": self.spec}
        if step == "values":
            kwargs.update(user=self.request.user)
        if step == "columns":
            kwargs.update(user=self.request.user, sheet=self.request.POST.get("columns-sheet") or self.request.GET.get("sheet"))
        return kwargs

    def process_step(self, form) -> None:
        """The step's work, once its form is valid; a refusal becomes the form's error (``render_next_step`` shows it).

        Nothing is kept in the session: the batch holds what the step did (a wide file must not grow the session).
        """
        try:
            self.do_step(self.steps.current, form)
        except (FileRejected, BatchNotReady) as exc:
            form.add_error("file" if self.steps.current == "upload" else None, str(exc))
        return None

    def do_step(self, step: str, form) -> None:
        """The one call the step ``step`` makes with its valid ``form`` (preview and confirm make none here)."""
        if step == "upload" and form.plan is not None:
            upload = form.cleaned_data["file"]
            steps.receive_file(self.batch, upload, name=upload.name, plan=form.plan)
        elif step == "columns" and form.plan is not None:
            steps.stage_chosen_columns(self.batch, spec=self.spec, user=self.request.user, plan=form.plan, positions=form.positions)
        elif step == "values":
            mappings, orders = form.choices()
            steps.apply_value_choices(self.batch, spec=self.spec, user=self.request.user, mappings=mappings, date_orders=orders)

    def process_step_files(self, form) -> None:
        # The file was read into the batch by the step; formtools keeps no copy.
        return None

    def render_next_step(self, form, **kwargs: Any) -> HttpResponse:
        if form.errors:  # the step's work refused: the same step again, saying why
            return self.render(form)
        return super().render_next_step(form, **kwargs)

    def get_template_names(self) -> list[str]:
        return [f"bulkupload/wizard/{self.steps.current}.html"]

    def get_context_data(self, form, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(form=form, **kwargs)
        context.update({"spec": self.spec, "batch": self.batch, "steps_list": STEPS})
        if self.steps.current == "preview":
            context.update(preview_context(self.request, self.spec, self.batch))
        return context

    def render_done(self, form, **kwargs: Any) -> HttpResponse:
        """Apply on the confirm POST itself; a GET of the "done" URL (prefetch, reload) only shows the confirm step.

        The earlier steps are not validated again from the session: the batch says they are complete (a confirm
        form is valid only for a staged upload), so a lost session loses nothing.
        """
        if self.request.method != "POST":
            return redirect(self.get_step_url("confirm"))
        response = self.done([form], form_dict={self.steps.current: form}, **kwargs)
        self.storage.reset()
        return response

    def done(self, form_list, form_dict=None, **kwargs: Any) -> HttpResponse:
        options = form_dict["confirm"].cleaned_data
        try:
            batch, applied = background.apply_batch(
                self.batch.pk,
                overwrite=options["overwrite"],
                skip_invalid=options["skip_invalid"],
                on_changed=options.get("on_changed") or UploadBatch.OnChanged.STOP,
            )
        except ChangedSincePreview as exc:
            # Nothing was written: show the entries as the preview had them, as they are now, and as the file has them.
            return self.render(form_dict["confirm"], changed=exc)
        except BatchNotReady as exc:
            messages.error(self.request, str(exc))
            return redirect(self.get_step_url("confirm"))
        except DatabaseError:
            # A database failure part-way rolls everything back; the upload stays confirmable.
            logger.exception("Applying upload %s failed", self.batch.pk)
            messages.error(
                self.request, _("Nothing was saved: the import failed part-way and was rolled back. Your upload is kept; please try again.")
            )
            return redirect(self.get_step_url("confirm"))
        if batch.is_working:
            return redirect(self.get_progress_url(batch))
        if applied:
            messages.success(self.request, _("Upload applied."))
        return redirect(self.get_done_url(batch))


def preview_context(request: HttpRequest, spec: UploadSpec, batch: UploadBatch, formset=None) -> dict[str, Any]:
    """The page of rows the preview shows, with a fix form (and the version and cells it shows) for each invalid row on it."""
    status = preview.status_filter(request.GET)
    rows = preview.filtered_rows(batch, status)
    count = preview.excluded_count(batch) if status == UploadRow.Status.EXCLUDED else status_count(batch, status)
    paginator = CountedPaginator(rows.order_by("row_number"), conf.get("PREVIEW_PAGE_SIZE"), count=count)
    page = paginator.get_page(request.GET.get("page"))
    page_rows = list(page.object_list)
    invalid = [row for row in page_rows if row.status == UploadRow.Status.INVALID]
    if formset is None:
        formset = RowFixFormSet(
            spec=spec,
            prefix="fix",
            date_orders=batch.date_orders,
            initial=[{"row": row.pk, **{c.key: row.values.get(c.key, "") for c in spec.columns}} for row in invalid],
        )
    forms_by_row = {form.initial["row"]: form for form in formset.forms}
    display = [preview.display_row(spec, row, forms_by_row.get(row.pk)) for row in page_rows]
    urls = {"spec": spec.slug, "upload_id": batch.pk}
    return {
        "rows": display,
        "page_obj": page,
        "status_filter": status,
        "formset": formset,
        "status_choices": UploadRow.Status.choices,
        "filter_links": preview.filter_links(batch, status),
        "target_row": request.GET.get("target", ""),
        "error_report_url": reverse("bulkupload:error_report", kwargs=urls),
        "fix_url": reverse("bulkupload:fix", kwargs=urls),
        "cell_url": reverse("bulkupload:fix_cell", kwargs=urls),
        "has_duplicates": fixing.has_duplicates(batch),
        "keep_choices": preview.KEEP_CHOICES,
        "page_query": urlencode({"status": status}) if status else "",
    }


def preview_jump_url(request: HttpRequest, batch: UploadBatch) -> str:
    """The preview page that shows the row number the user asked for, or a message that there is none."""
    query, number = preview.jump_target(batch, request.GET)
    if number is None:
        messages.error(request, _("There is no row %(row)s in this file.") % {"row": request.GET.get("row", "")[:20]})
        return wizard_url(batch, "preview", **query)
    return wizard_url(batch, "preview", **query) + f"#row-{number}"


class ErrorReportView(SpecMixin, View):
    """The invalid rows as .xlsx: the file's columns, an Errors column, each bad cell highlighted with its message."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        batch = selectors.batch_for_user_or_404(request.user, kwargs["upload_id"], spec=self.spec)
        response = HttpResponse(workbook.error_report(self.spec, batch), content_type=XLSX_TYPE)
        stem = slugify(batch.file_name.rsplit(".", 1)[0]) or "upload"
        response["Content-Disposition"] = f'attachment; filename="{stem}-errors.xlsx"'
        return response


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
            _batch, done = services.rollback_batch(batch.pk, force=bool(request.POST.get("force")))
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
            status = progress_status(batch, next_url=self.get_next_url(batch))
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
        return wizard_url(batch, "confirm" if batch.status == UploadBatch.Status.READY else "upload")


def progress_status(batch: UploadBatch, *, next_url: str) -> dict[str, Any]:
    """The progress page's state, as the page and its script read it (a task whose worker died ends here as failed)."""
    background.release_if_stalled(batch)
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
    }
