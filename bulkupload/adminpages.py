"""The upload pages inside the Django admin: the engine's own views with the admin's look, permission and URLs.

:class:`~bulkupload.admin.SpreadsheetUploadAdminMixin` routes them under the host model's admin.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _

from . import fixviews, limits, services, views
from .exceptions import LimitReached
from .mixins import retry_step
from .models import UploadBatch


class AdminPageMixin:
    """A wizard page inside the admin: permission checked, with the admin's look and breadcrumbs."""

    model_admin: Any = None  # the host's ModelAdmin with SpreadsheetUploadAdminMixin

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.model_admin.has_upload_permission(request):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def admin_url(self, what: str, **kwargs: Any) -> str:
        return reverse(self.model_admin.upload_url_name(what), kwargs=kwargs)

    def changelist_url(self) -> str:
        """The host model's changelist, where an applied upload lands."""
        opts = self.model_admin.opts
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        opts = self.model_admin.opts
        context.update(
            {
                **self.model_admin.admin_site.each_context(self.request),
                "opts": opts,
                "bulkupload_base_template": "bulkupload/admin/base.html",
                "changelist_url": self.changelist_url(),
            }
        )
        return context


class AdminStartView(AdminPageMixin, views.StartView):
    template_name = "bulkupload/admin/start.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # A superuser sees every tenant's records: say which one this upload goes into.
        return {**super().get_context_data(**kwargs), "scope_name": views.scope_name(self.spec, self.request.user)}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            limits.check_open_uploads(request.user)
        except LimitReached as exc:
            messages.error(request, str(exc))
            return redirect(request.path)
        batch = services.create_batch(spec=self.spec, user=request.user)
        return redirect(self.admin_url("wizard", upload_id=batch.pk, step="upload"))


class AdminUploadWizard(AdminPageMixin, views.UploadWizard):
    def get_step_url(self, step: str) -> str:
        return self.admin_url("wizard", upload_id=self.batch.pk, step=step)

    def get_progress_url(self, batch: UploadBatch) -> str:
        return self.admin_url("progress", upload_id=batch.pk)

    def get_done_url(self, batch: UploadBatch) -> str:
        return self.changelist_url()

    def get_context_data(self, form, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(form=form, **kwargs)
        if "fix_url" in context:
            context["fix_url"] = self.admin_url("fix", upload_id=self.batch.pk)
        return context

    def done(self, form_list, form_dict=None, **kwargs: Any) -> HttpResponse:
        response = super().done(form_list, form_dict=form_dict, **kwargs)
        batch = UploadBatch.objects.get(pk=self.batch.pk)
        if batch.status == UploadBatch.Status.APPLIED:
            receipt = reverse("bulkupload:batch", kwargs={"batch_id": batch.pk})
            summary = _("%(created)d created, %(updated)d updated, %(skipped)d skipped.") % {
                "created": batch.created_count,
                "updated": batch.updated_count,
                "skipped": batch.skipped_count,
            }
            messages.info(self.request, format_html('{} <a href="{}">{}</a>', summary, receipt, _("See the receipt")))
        return response


class AdminFixRowsView(AdminPageMixin, fixviews.FixRowsView):
    def get_back_url(self, batch: UploadBatch, **query: Any) -> str:
        url = self.admin_url("wizard", upload_id=batch.pk, step="preview")
        query = {k: v for k, v in query.items() if v}
        return f"{url}?{'&'.join(f'{k}={v}' for k, v in query.items())}" if query else url


class AdminProgressView(AdminPageMixin, views.ProgressView):
    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **_as_batch_id(kwargs))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The admin's URL names the batch upload_id; every method of the page reads batch_id.
        return super().dispatch(request, *args, **_as_batch_id(kwargs))

    def get_next_url(self, batch: UploadBatch) -> str:
        if batch.is_final:
            return self.changelist_url()
        return self.admin_url("wizard", upload_id=batch.pk, step="preview")

    def get_retry_url(self, batch: UploadBatch) -> str:
        return self.admin_url("wizard", upload_id=batch.pk, step=retry_step(batch))


def _as_batch_id(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The admin URL's ``upload_id`` as the ``batch_id`` the engine's pages read."""
    kwargs = dict(kwargs)
    if "upload_id" in kwargs:
        kwargs["batch_id"] = kwargs.pop("upload_id")
    return kwargs
