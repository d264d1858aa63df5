"""What every page of the engine shares, in its own views and in the admin's: the login, the spec and scope from the
URL, the wizard's URLs, the 403 page that says why, and the names both sides use."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from . import conf, selectors
from .models import UploadBatch, UploadRow
from .spec import UploadSpec, get_spec_or_404

STEPS = ("upload", "columns", "values", "preview", "confirm")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class PageMixin(LoginRequiredMixin):
    """A page of the engine: needs a login; its templates extend ``BULKUPLOAD["BASE_TEMPLATE"]`` (the admin sets its own)."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.setdefault("bulkupload_base_template", conf.get("BASE_TEMPLATE"))
        # The templates compare statuses with these, never with raw strings.
        context.setdefault("BatchStatus", UploadBatch.Status)
        context.setdefault("RowStatus", UploadRow.Status)
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


def wizard_url(batch: UploadBatch, step: str, **query: Any) -> str:
    url = reverse("bulkupload:wizard", kwargs={"spec": batch.spec, "upload_id": batch.pk, "step": step})
    query = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{url}?{urlencode(query)}" if query else url


def retry_step(batch: UploadBatch) -> str:
    """The wizard step where the user tries again after a task failed: confirming again, or the upload step."""
    return "confirm" if batch.status == UploadBatch.Status.READY else "upload"


def scope_name(spec: UploadSpec, user: Any) -> str:
    """Where the user's uploads of ``spec`` land (a tenant's name), "" when that is simply the user themselves."""
    scope = spec.get_scope(user)
    return "" if scope is None or scope == user else str(scope)
