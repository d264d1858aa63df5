"""Create the demo tenants, users, employees and projects. Safe to run again."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from project.timesheets.models import Employee, Membership, Project, Tenant

PASSWORD = "bulkupload-demo"  # noqa: S105 - the documented demo password
TENANTS = {"Acme": ("alice", "acme.example"), "Globex": ("bob", "globex.example")}
FIRST = ["Ada", "Ben", "Cleo", "Dan", "Eve", "Finn", "Gia", "Hal", "Ida", "Jon"]
LAST = ["Lovelace", "Hopper", "Turing", "Knuth", "Liskov"]
EMPLOYEES_PER_TENANT = 50
PROJECTS_PER_TENANT = 20


class Command(BaseCommand):
    help = "Create the demo data: tenants Acme and Globex, users alice, bob and admin, employees and projects."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        for tenant_name, (username, domain) in TENANTS.items():
            tenant, _ = Tenant.objects.get_or_create(name=tenant_name)
            user = self._user(User, username, f"{username}@{domain}", staff=False)
            Membership.objects.update_or_create(user=user, defaults={"tenant": tenant})
            # bulk_create with ignore_conflicts: fast, and a second run adds nothing.
            Employee.objects.bulk_create(
                [
                    Employee(
                        tenant=tenant,
                        email=f"{FIRST[n % len(FIRST)].lower()}.{LAST[n // len(FIRST) % len(LAST)].lower()}@{domain}",
                        name=f"{FIRST[n % len(FIRST)]} {LAST[n // len(FIRST) % len(LAST)]}",
                    )
                    for n in range(EMPLOYEES_PER_TENANT)
                ],
                ignore_conflicts=True,
            )
            Project.objects.bulk_create(
                [
                    Project(tenant=tenant, code=f"P-{n:03d}", name=f"{tenant_name} project {n}", active=n != PROJECTS_PER_TENANT)
                    for n in range(1, PROJECTS_PER_TENANT + 1)
                ],
                ignore_conflicts=True,
            )
        admin = self._user(User, "admin", "admin@example.com", staff=True)
        Membership.objects.get_or_create(user=admin, defaults={"tenant": Tenant.objects.get(name="Acme")})
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Log in as alice (Acme), bob (Globex) or admin; password: {PASSWORD}"))

    def _user(self, User, username, email, *, staff):
        user, created = User.objects.get_or_create(username=username, defaults={"email": email})
        if created or not user.check_password(PASSWORD):
            user.set_password(PASSWORD)
        user.is_staff = user.is_superuser = staff
        user.save()
        return user
