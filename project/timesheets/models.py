"""The demo domain: tenants, their people and projects, and timesheet entries."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

ACTIVITIES = ("Development", "Design", "Meeting", "Support", "Admin")


class Tenant(models.Model):
    name = models.CharField(max_length=100, unique=True)
    #: Entries dated on or before this day are closed.
    lock_date = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant}"


class Employee(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="employees")
    email = models.EmailField()
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "email"], name="employee_unique_email")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="projects")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=100)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="project_unique_code")]
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Entry(models.Model):
    class Activity(models.TextChoices):
        DEVELOPMENT = "Development", _("Development")
        DESIGN = "Design", _("Design")
        MEETING = "Meeting", _("Meeting")
        SUPPORT = "Support", _("Support")
        ADMIN = "Admin", _("Admin")

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="entries")
    employee = models.ForeignKey(Employee, on_delete=models.PROTECT, related_name="entries")
    date = models.DateField()
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="entries")
    hours = models.DecimalField(max_digits=4, decimal_places=2)
    billable = models.BooleanField(default=False)
    activity = models.CharField(max_length=20, choices=Activity.choices)
    note = models.CharField(max_length=200, blank=True)
    upload_batch = models.ForeignKey(
        "bulkupload.UploadBatch",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The upload that last wrote this entry."),
    )

    class Meta:
        verbose_name_plural = "entries"
        ordering = ["-date", "employee__name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "employee", "date", "project"], name="entry_unique_key"),
        ]
        # A tenant's entries by day: the entries page, daily totals, and finding an upload's rows among existing ones.
        indexes = [models.Index(fields=["tenant", "date"], name="entry_tenant_date")]

    def __str__(self) -> str:
        return f"{self.employee} {self.date} {self.project.code} {self.hours}h"
