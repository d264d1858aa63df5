"""The demo's admin: staff see and edit only their own tenant's data; superusers see every tenant.

Entries get the engine's upload button and export action (``SpreadsheetUploadAdminMixin``), which scope the
records by the upload spec's ``get_scope``/``get_queryset``; the engine's upload history is scoped the same way
by each batch's stored scope. The other models are scoped here by their ``tenant`` field.
"""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from bulkupload.admin import SpreadsheetUploadAdminMixin, visible_batches
from bulkupload.models import UploadBatch
from project.tenancy import tenant_for

from .models import Employee, Entry, Membership, Project, Tenant


class TenantForeignKeys:
    """Foreign keys in the staff user's forms can point only into their tenant (and their visible batches)."""

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if not request.user.is_superuser:
            related = db_field.related_model
            tenant = tenant_for(request.user)
            if related is Tenant:
                kwargs["queryset"] = Tenant.objects.filter(pk=getattr(tenant, "pk", None))
            elif related is UploadBatch:
                kwargs["queryset"] = UploadBatch.objects.filter(visible_batches(request.user))
            elif any(f.name == "tenant" for f in related._meta.get_fields()):
                kwargs["queryset"] = related._default_manager.filter(tenant=tenant)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class TenantScopedAdmin(TenantForeignKeys, admin.ModelAdmin):
    """Rows of the staff user's tenant only."""

    #: The path from the model to its tenant.
    tenant_path = "tenant"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        tenant = tenant_for(request.user)
        return queryset.filter(**{self.tenant_path: tenant}) if tenant else queryset.none()


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    tenant_path = "pk"
    list_display = ["name", "lock_date"]


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "tenant"]
    list_select_related = ["user", "tenant"]


@admin.register(Employee)
class EmployeeAdmin(TenantScopedAdmin):
    list_display = ["name", "email", "tenant"]
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "email"]


@admin.register(Project)
class ProjectAdmin(TenantScopedAdmin):
    list_display = ["code", "name", "tenant", "active"]
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter), "active"]


@admin.register(Entry)
class EntryAdmin(SpreadsheetUploadAdminMixin, TenantForeignKeys, admin.ModelAdmin):
    # The mixin limits staff to the entries the upload spec scopes to their tenant (its get_scoped_queryset hook).
    upload_spec = "timesheet-entries"
    list_display = ["date", "employee", "project", "hours", "billable", "activity", "tenant"]
    # Only the tenants whose entries the user sees are offered as filters.
    list_filter = [("tenant", admin.RelatedOnlyFieldListFilter), "activity", "billable"]
    list_select_related = ["employee", "project", "tenant"]
    date_hierarchy = "date"
    raw_id_fields = ["employee", "project", "upload_batch"]
