"""The upload wizard: formtools' named-URL session wizard, its state per upload, its work done by the steps' calls."""

from __future__ import annotations

import functools
import logging
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from formtools.wizard.views import NamedUrlSessionWizardView

from . import background, conf, fixing, limits, preview, selectors, steps, values
from .exceptions import BatchNotReady, ChangedSincePreview, FileRejected
from .fixforms import RowFixFormSet
from .forms import ColumnsForm, ConfirmForm, PreviewForm, UploadForm, ValuesForm
from .mixins import STEPS, SpecMixin, wizard_url
from .models import UploadBatch, UploadRow
from .paging import CountedPaginator, status_count
from .spec import UploadSpec

logger = logging.getLogger(__name__)


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
        """An applied upload shows its receipt, one a task works on its progress; a step the batch does not open
        (asked for too early, or one this upload skips) redirects to the one it does."""
        self.batch = selectors.batch_for_user_or_404(self.request.user, kwargs["upload_id"], spec=self.spec)
        if self.batch.is_final:
            return redirect(self.get_done_url(self.batch))
        if self.batch.is_working:
            return redirect(self.get_progress_url(self.batch))
        step = kwargs.get("step")
        if self.request.method == "POST" and step not in self.get_form_list():
            # Not a step of this upload (the columns step of a file that needs none, a made-up name).
            messages.error(self.request, _("That step is not part of this upload; continue here."))
            return redirect(self.get_step_url("preview" if self.batch.is_staged else "upload"))
        if self.request.method == "GET" and (url := self.step_elsewhere(step)):
            return redirect(url)
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
        # The URL says where the user is; the session may have lost it (expired, overwritten by another tab).
        # Not a formtools hook: WizardView.post takes the step from the session and the posted management form before
        # any hook (get_form, process_step) runs, and NamedUrlWizardView reads the URL's step only on a GET.
        step = kwargs["step"]
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
            steps.receive_file(batch=self.batch, upload=upload, name=upload.name, plan=form.plan, book=form.book)
        elif step == "columns" and form.plan is not None:
            steps.stage_chosen_columns(batch=self.batch, spec=self.spec, user=self.request.user, plan=form.plan, positions=form.positions)
        elif step == "values":
            mappings, orders = form.choices()
            steps.apply_value_choices(batch=self.batch, spec=self.spec, user=self.request.user, mappings=mappings, date_orders=orders)

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
        form.mark_errors()
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
            batch, applied = background.apply_or_queue(
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
    suggestions = fixing.suggestions(batch) if invalid else {}
    display = [preview.display_row(spec, row, forms_by_row.get(row.pk), suggested=suggestions.keys()) for row in page_rows]
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
        "suggestions": suggestions,
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
