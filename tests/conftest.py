import datetime
import io

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from django.test import Client, override_settings
from django.utils import translation

from project.timesheets.models import Employee, Project, Tenant


@receiver(connection_created)
def reads_do_not_lock_tables(sender, connection, **kwargs) -> None:
    """On SQLite's in-memory test database (one shared cache for every thread's connection), a read takes a table
    lock that makes another thread's write fail at once ("database table is locked") instead of waiting, as a file
    database would. The live server, delivery and background threads write while others read, so reads here take
    no table locks; production SQLite (a file, WAL) and PostgreSQL let readers and writers pass each other anyway."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = 1")


@pytest.fixture(autouse=True)
def site_language():
    """Each test starts in the site's language: a request through the test client activates the language it asks for
    in this thread, and nothing deactivates it afterwards (a German page test would make the next test's messages German)."""
    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def private_file_root(settings, tmp_path):
    """Uploaded files go to a fresh private folder per test."""
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "FILE_ROOT": str(tmp_path / "uploads")}
    return tmp_path / "uploads"


FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Seed the demo data once; each test's transaction rolls its own changes back."""
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        call_command("seed_demo", stdout=io.StringIO())


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture
def demo(db):
    """The demo data, made by the real seed command (again, if a transactional test flushed it)."""
    if not Tenant.objects.filter(name="Acme").exists():
        call_command("seed_demo", stdout=io.StringIO())
    return {
        "acme": Tenant.objects.get(name="Acme"),
        "globex": Tenant.objects.get(name="Globex"),
    }


@pytest.fixture
def acme(demo):
    return demo["acme"]


@pytest.fixture
def globex(demo):
    return demo["globex"]


def login(username: str) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client


@pytest.fixture
def alice(demo) -> Client:
    return login("alice")


@pytest.fixture
def bob(demo) -> Client:
    return login("bob")


@pytest.fixture
def acme_people(acme):
    """Three Acme employees' emails and two active project codes."""
    emails = list(Employee.objects.filter(tenant=acme).order_by("pk").values_list("email", flat=True)[:3])
    codes = list(Project.objects.filter(tenant=acme, active=True).order_by("code").values_list("code", flat=True)[:2])
    return {"emails": emails, "codes": codes}


@pytest.fixture
def workday() -> datetime.date:
    """A recent past weekday, never in the future."""
    return datetime.date.today() - datetime.timedelta(days=7)


def on_postgres() -> bool:
    return connection.vendor == "postgresql"
