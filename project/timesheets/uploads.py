"""The timesheet upload: what a row of the template means and which rules it must pass."""

from __future__ import annotations

import array
import datetime
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import formats, timezone
from django.utils.functional import lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bulkupload import fields, spec
from bulkupload.spec import format_cell
from project.tenancy import tenant_for

from .models import ACTIVITIES, Employee, Entry, Project, Tenant

MAX_DAILY_HOURS = Decimal(24)


def shown_date(day: datetime.date) -> str:
    """A date in a message as every page shows dates: the active language's short format (25/11/2026, 25.11.2026)."""
    return formats.date_format(day, "SHORT_DATE_FORMAT")


class EntryRules(forms.Form):
    """What the model cannot say about a row: quarter hours, no future or locked days, no closed project.

    The generated row form adds a field for every other column (from the model) and runs these
    ``clean_<column>()`` methods after them; ``self.context`` is what ``get_row_context`` loaded once per upload.
    """

    hours = fields.SpreadsheetHoursField(
        max_digits=4,
        decimal_places=2,
        min_value=Decimal("0.25"),
        max_value=MAX_DAILY_HOURS,
        step_size=Decimal("0.25"),
        error_messages={
            "min_value": gettext_lazy("Hours must be more than 0."),
            "max_value": gettext_lazy("Hours must be at most 24."),
            "step_size": gettext_lazy("Hours must be in quarter hours (steps of 0.25)."),
        },
    )

    def clean_project_code(self) -> int:
        project_id = self.cleaned_data["project_code"]
        if project_id in self.context["closed_projects"]:
            code = str(self.data.get("project_code", "")).strip()
            raise forms.ValidationError(_("Project “%(code)s” is closed."), code="inactive", params={"code": code})
        return project_id

    def clean_date(self) -> datetime.date:
        day = self.cleaned_data["date"]
        if day > self.context["today"]:
            raise forms.ValidationError(_("%(date)s is in the future."), code="future", params={"date": shown_date(day)})
        lock = self.context["lock_date"]
        if lock and day <= lock:
            raise forms.ValidationError(
                _("Entries up to %(lock)s are locked."),
                code="locked",
                params={"lock": shown_date(lock)},
            )
        return day


@dataclass
class DayInFile:
    """An employee's day as the file has it: the hours of its rows, their projects and the rows' ids."""

    hours: Decimal = Decimal(0)
    # Arrays, not sets: a set of a few ids takes two kilobytes, and a million rows have tens of thousands of days.
    projects: array.array = field(default_factory=lambda: array.array("q"))
    rows: array.array = field(default_factory=lambda: array.array("q"))


class DailyHoursRule(spec.FileRule):
    """An employee's hours on one day, the file's rows plus entries the file leaves alone, are at most 24."""

    def start(self, *, spec: spec.UploadSpec, scope: Tenant) -> DailyHours:
        return DailyHours(scope)


class DailyHours:
    """One run of :class:`DailyHoursRule`: handed the file's valid rows as they are read, then totals each day."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        # Per employee and day: the file's hours on it, its projects and its rows' ids (8 bytes a row, in an array), so
        # that a million rows stay a few megabytes.
        self.by_day: dict[tuple[int, datetime.date], DayInFile] = {}

    def add(self, row: spec.StagedRow) -> None:
        values = row.values
        key = (values["employee_id"], values["date"])
        day = self.by_day.get(key)
        if day is None:
            day = self.by_day[key] = DayInFile()
        day.hours += values["hours"]
        if values["project_id"] not in day.projects:  # a day has a few projects at most
            day.projects.append(values["project_id"])
        day.rows.append(row.id)

    def findings(self) -> Iterator[tuple[int, str, str]]:
        if not self.by_day:
            return
        existing = self.existing()
        for key, day in self.by_day.items():
            total = day.hours + sum((h for project_id, h in existing.get(key, ()) if project_id not in day.projects), Decimal(0))
            if total > MAX_DAILY_HOURS:
                message = _("%(total)s hours on %(date)s for this employee; at most 24 are allowed.") % {
                    "total": format_cell(total),
                    "date": shown_date(key[1]),
                }
                for row_id in day.rows:
                    yield row_id, "hours", message

    def existing(self) -> dict[tuple[int, datetime.date], list[tuple[int, Decimal]]]:
        """The tenant's entries on the file's employees' days: (project, hours), one query per 500 employees."""
        existing: dict[tuple[int, datetime.date], list[tuple[int, Decimal]]] = defaultdict(list)
        employees = sorted({e for e, _d in self.by_day})
        dates = {d for _e, d in self.by_day}
        for start in range(0, len(employees), 500):
            found = Entry.objects.filter(
                tenant=self.tenant,
                employee_id__in=employees[start : start + 500],
                date__in=dates,
            ).values_list("employee_id", "date", "project_id", "hours")
            for employee_id, day, project_id, hours in found:
                if (employee_id, day) in self.by_day:
                    existing[(employee_id, day)].append((project_id, hours))
        return existing


@spec.register
class EntryUploadSpec(spec.ModelUploadSpec):
    """The advanced case: a tenant's entries, employees and projects found by email and code in the tenant, a cross-row rule."""

    slug = "timesheet-entries"
    title = gettext_lazy("Timesheet entries")
    model = Entry
    fields = ("employee", "date", "project", "hours", "billable", "activity", "note")
    lookups = {"employee": "email", "project": "code"}  # unique within a tenant: get_lookup_queryset filters by it
    natural_key = ("employee", "date", "project")  # within the tenant: get_queryset filters by it
    form_class = EntryRules
    sheet_title = gettext_lazy("Entries")
    batch_field = "upload_batch"
    file_rules = (DailyHoursRule(),)
    # Labels, help and examples for the template (the model's verbose names are not translated).
    columns = (
        spec.Column(
            "employee_email",
            gettext_lazy("Employee email"),
            field="employee",
            aliases=("email", "employee"),
            help_text=gettext_lazy("The employee's email address in your organisation."),
            format=gettext_lazy("Email address"),
            example="ada@acme.example",
            width=30,
        ),
        spec.Column(
            "date",
            gettext_lazy("Date"),
            help_text=gettext_lazy("The day worked; not in the future, after the lock date."),
            example="2026-11-02",
            width=14,
        ),
        spec.Column(
            "project_code",
            gettext_lazy("Project code"),
            field="project",
            aliases=("project",),
            help_text=gettext_lazy("The code of an active project."),
            format=gettext_lazy("Text"),
            example="P-001",
            width=14,
        ),
        spec.Column(
            "hours",
            gettext_lazy("Hours"),
            required=True,
            help_text=gettext_lazy("More than 0, at most 24, in quarter hours."),
            format=gettext_lazy("Number in steps of 0.25"),
            example=lazy(lambda: formats.number_format(Decimal("7.5"), use_l10n=True), str)(),  # "7,5" in German
            width=10,
        ),
        spec.Column(
            "billable",
            gettext_lazy("Billable"),
            help_text=gettext_lazy("Whether the time is billed to the client; blank means no."),
            choices=("yes", "no"),
            example="yes",
            width=10,
        ),
        spec.Column(
            "activity",
            gettext_lazy("Activity"),
            help_text=gettext_lazy("What kind of work it was."),
            choices=ACTIVITIES,
            example="Development",
            width=16,
        ),
        spec.Column(
            "note",
            gettext_lazy("Note"),
            help_text=gettext_lazy("Optional, at most 200 characters."),
            format=gettext_lazy("Text"),
            example="Sprint review",
            width=40,
        ),
    )
    # Tenancy is the permission here: every member of a tenant records its time (see has_permission).
    permissions = ()

    def has_permission(self, user: Any) -> bool:
        """Every member of a tenant may upload its entries: membership is the permission (checked with the declared ones)."""
        return tenant_for(user) is not None and super().has_permission(user)

    def get_scope(self, user: Any) -> Tenant | None:
        return tenant_for(user)

    def get_queryset(self, scope: Tenant):
        return Entry.objects.filter(tenant=scope)

    def get_lookup_queryset(self, field: str, scope: Tenant):
        """Employees and projects of the tenant only: another tenant's email or code is unknown here."""
        return {"employee": Employee.objects, "project": Project.objects}[field].filter(tenant=scope)

    def get_suggestion_queryset(self, field: str, scope: Tenant):
        """The preview suggests only projects a row may use: a closed project's code would be refused."""
        found = self.get_lookup_queryset(field, scope)
        return found.filter(active=True) if field == "project" else found

    def get_row_context(self, scope: Tenant) -> dict[str, Any]:
        return {
            **super().get_row_context(scope),
            "closed_projects": set(Project.objects.filter(tenant=scope, active=False).values_list("pk", flat=True)),
            "lock_date": scope.lock_date,
            "today": timezone.localdate(),
        }

    def scope_values(self, scope: Tenant) -> dict[str, Any]:
        return {"tenant_id": scope.pk}
