from django.contrib import admin

from bulkupload.admin import SpreadsheetUploadAdminMixin

from .models import Employee, Entry, Membership, Project, Tenant


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "lock_date"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant"]
    list_select_related = ["user", "tenant"]


@admin.register(Employee)
class EmployeeAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "tenant"]
    list_filter = ["tenant"]
    search_fields = ["name", "email"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "tenant", "active"]
    list_filter = ["tenant", "active"]


@admin.register(Entry)
class EntryAdmin(SpreadsheetUploadAdminMixin, admin.ModelAdmin):
    upload_spec = "timesheet-entries"
    list_display = ["date", "employee", "project", "hours", "billable", "activity", "tenant"]
    list_filter = ["tenant", "activity", "billable"]
    list_select_related = ["employee", "project", "tenant"]
    date_hierarchy = "date"
    raw_id_fields = ["employee", "project", "upload_batch"]
