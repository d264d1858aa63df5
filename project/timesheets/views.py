"""The host's own pages: a home page and the tenant's entries."""

from typing import Any

from django.http import Http404
from django.views.generic import ListView, TemplateView

from project.tenancy import tenant_for

from .models import Entry


class HomeView(TemplateView):
    template_name = "home.html"


class EntryListView(ListView):
    template_name = "timesheets/entry_list.html"
    paginate_by = 50

    def get_queryset(self):
        tenant = tenant_for(self.request.user)
        if tenant is None:
            raise Http404("You belong to no organisation.")
        return Entry.objects.filter(tenant=tenant).select_related("employee", "project").order_by("-date", "employee__name")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["entry_count"] = self.get_queryset().count()
        return context
