"""What one user may hold at once, the automatic purge, and a request body refused before it is read."""

from __future__ import annotations

import datetime
import io
import os
import socket
import time
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bulkupload import compat, tasks
from bulkupload.models import UploadBatch

from .api_support import PREFIX, entries_csv, token_for
from .conftest import login
from .helpers import SPEC, Wizard, xlsx_file

DUMMY = {"default": {"BACKEND": compat.backend_path("dummy.DummyBackend")}}


def limit(settings, **values) -> None:
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, **values}


def rows(people, day: datetime.date, count: int = 3) -> list[list]:
    e, p = people["emails"], people["codes"]
    return [[e[i % 3], day - datetime.timedelta(days=i // 6), p[(i // 3) % 2], 1, "no", "Admin", ""] for i in range(count)]


def start(client: Client):
    return client.post(reverse("bulkupload:start", kwargs={"spec": SPEC}))


@pytest.mark.django_db
def test_the_admin_and_the_api_hold_to_the_same_open_uploads_limit(demo, acme_people, workday, settings):
    limit(settings, MAX_OPEN_UPLOADS_PER_USER=1)
    admin = login("admin")
    admin_start = reverse("admin:timesheets_entry_bulkupload_start")
    assert "/upload/" in admin.post(admin_start)["Location"]
    refused = admin.post(admin_start)
    assert refused["Location"] == admin_start
    assert "You have 1 unfinished upload, the most allowed at once." in admin.get(admin_start).content.decode()
    assert UploadBatch.objects.filter(owner__username="admin").count() == 1

    api = Client(HTTP_AUTHORIZATION=f"Token {token_for('alice')}")
    url = f"{PREFIX}specs/{SPEC}/uploads/"
    assert api.post(url, {"file": named(entries_csv(acme_people, workday))}).status_code == 201
    answer = api.post(url, {"file": named(entries_csv(acme_people, workday))})
    assert answer.status_code == 429
    assert answer.json()["code"] == "too_many_open_uploads"
    assert "You have 1 unfinished upload" in answer.json()["detail"]
    assert UploadBatch.objects.filter(owner__username="alice").count() == 1


def named(content: bytes, name: str = "entries.csv") -> io.BytesIO:
    upload = io.BytesIO(content)
    upload.name = name
    return upload


@pytest.mark.django_db
def test_starting_more_open_uploads_than_allowed_is_refused_with_a_message(alice, bob, settings):
    limit(settings, MAX_OPEN_UPLOADS_PER_USER=2)
    assert "/upload/" in start(alice)["Location"]
    assert "/upload/" in start(alice)["Location"]

    refused = start(alice)

    assert refused["Location"] == reverse("bulkupload:index")
    page = alice.get(refused["Location"]).content.decode()
    assert "You have 2 unfinished uploads, the most allowed at once." in page
    assert UploadBatch.objects.filter(owner__username="alice").count() == 2
    assert "/upload/" in start(bob)["Location"]  # another user is not affected


@pytest.mark.django_db
def test_storing_more_bytes_than_allowed_is_refused_and_the_file_is_not_kept(alice, acme_people, workday, settings):
    content = xlsx_file(rows(acme_people, workday))
    limit(settings, MAX_STORED_BYTES_PER_USER=len(content) * 3 // 2)
    first = Wizard(alice).start()
    assert first.upload(content)["Location"].endswith("/preview/")

    second = Wizard(alice).start()
    response = second.upload(content)

    assert response.status_code == 200
    assert "would exceed the" in response.content.decode()
    batch = second.batch()
    assert (batch.status, batch.source_file.name, batch.total_rows) == (UploadBatch.Status.DRAFT, "", 0)
    # Replacing the first upload's own file does not count twice.
    assert first.upload(content)["Location"].endswith("/preview/")


@pytest.mark.django_db
def test_one_user_cannot_queue_more_background_work_than_allowed_but_others_still_can(alice, bob, acme_people, workday, settings):
    limit(settings, TASK_THRESHOLD_ROWS=1, MAX_QUEUED_TASKS_PER_USER=1)
    settings.TASKS = DUMMY  # nothing runs: queued work stays queued
    content = xlsx_file(rows(acme_people, workday))
    first = Wizard(alice).start()
    first.upload(content)
    assert first.batch().status == UploadBatch.Status.STAGING

    second = Wizard(alice).start()
    response = second.upload(content)

    assert response.status_code == 200
    assert "You already have 1 upload being read or saved in the background" in response.content.decode()
    assert (second.batch().status, second.batch().source_file.name) == (UploadBatch.Status.DRAFT, "")
    globex_rows = [["max.mustermann@globex.example", workday, "G-001", 1, "no", "Admin", ""]]
    other = Wizard(bob).start()
    other.upload(xlsx_file(globex_rows))
    assert other.batch().status == UploadBatch.Status.STAGING


def purged_long_ago(settings) -> None:
    """The last automatic purge was more than an hour ago."""
    marker = Path(settings.BULKUPLOAD["FILE_ROOT"]) / ".last-purge"
    long_ago = time.time() - 3601
    os.utime(marker, (long_ago, long_ago))


@pytest.mark.django_db
def test_an_abandoned_upload_and_its_file_are_purged_when_someone_starts_an_upload(
    alice, bob, acme_people, workday, settings, django_capture_on_commit_callbacks
):
    limit(settings, PURGE_AFTER_HOURS=72, PURGE_EVERY_MINUTES=60)
    abandoned = Wizard(alice).start()
    abandoned.upload(xlsx_file(rows(acme_people, workday)))
    stored = Path(abandoned.batch().source_file.path)
    assert stored.exists()
    UploadBatch.objects.filter(pk=abandoned.upload_id).update(updated_at=timezone.now() - datetime.timedelta(hours=73))
    purged_long_ago(settings)  # starting alice's upload purged a moment ago

    with django_capture_on_commit_callbacks(execute=True):  # files are deleted once the purge committed
        start(bob)

    assert not UploadBatch.objects.filter(pk=abandoned.upload_id).exists()
    assert not stored.exists()

    # Throttled: within the interval, the next start does not purge again …
    again = Wizard(alice).start()
    UploadBatch.objects.filter(pk=again.upload_id).update(updated_at=timezone.now() - datetime.timedelta(hours=73))
    start(bob)
    assert UploadBatch.objects.filter(pk=again.upload_id).exists()
    # … once the interval has passed, it does.
    purged_long_ago(settings)
    start(bob)
    assert not UploadBatch.objects.filter(pk=again.upload_id).exists()


@pytest.mark.django_db
def test_the_purge_task_removes_abandoned_uploads_for_hosts_that_schedule_it(alice):
    batch = Wizard(alice).start().batch()
    UploadBatch.objects.filter(pk=batch.pk).update(updated_at=timezone.now() - datetime.timedelta(days=30))
    assert tasks.purge_abandoned.enqueue().return_value == 1
    assert not UploadBatch.objects.filter(pk=batch.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["site", "admin"])
def test_csrf_is_still_checked_on_the_upload_step(where):
    client = login("admin")
    starts = {"site": reverse("bulkupload:start", kwargs={"spec": SPEC}), "admin": reverse("admin:timesheets_entry_bulkupload_start")}
    url = client.post(starts[where])["Location"]
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    response = strict.post(url, {"upload-file": ""})
    assert response.status_code == 403
    assert UploadBatch.objects.get(owner__username="admin").status == UploadBatch.Status.DRAFT


@pytest.mark.django_db(transaction=True)
def test_an_oversized_body_is_refused_before_the_server_reads_it(demo, live_server, settings):
    """A real server: the request declares 300 MB and sends 64 KB; the refusal arrives without the rest being sent."""
    limit(settings, MAX_FILE_SIZE=1024 * 1024)
    alice = login("alice")
    wizard = Wizard(alice).start()
    part = b'--b\r\nContent-Disposition: form-data; name="upload-file"; filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n'
    declared, sent = 300 * 1024 * 1024, part + b"x" * 65536
    token = "a" * 32  # a well-formed CSRF secret, as cookie and header: the body would pass the CSRF check
    head = (
        f"POST {wizard.url('upload')} HTTP/1.1\r\nHost: localhost\r\nX-CSRFToken: {token}\r\n"
        f"Cookie: sessionid={alice.cookies['sessionid'].value}; csrftoken={token}\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {declared}\r\n\r\n"
    )
    host, port = live_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(head.encode() + sent)
        answer = ""
        while "</html>" not in answer and (chunk := connection.recv(65536)):
            answer += chunk.decode("latin-1")

    assert answer.startswith("HTTP/1.1 413")
    assert "files of at most 1.0" in answer and "Nothing was read." in answer
    batch = wizard.batch()
    assert (batch.status, batch.source_file.name) == (UploadBatch.Status.DRAFT, "")
    assert not any(Path(settings.BULKUPLOAD["FILE_ROOT"]).rglob("source*"))


@pytest.mark.django_db
@pytest.mark.parametrize("where", ["site", "admin"])
def test_a_declared_oversized_body_gets_413_from_the_wizard_in_the_site_and_in_the_admin(where, settings):
    limit(settings, MAX_FILE_SIZE=1024 * 1024)
    client = login("admin")
    starts = {"site": reverse("bulkupload:start", kwargs={"spec": SPEC}), "admin": reverse("admin:timesheets_entry_bulkupload_start")}
    url = client.post(starts[where])["Location"]
    # The declared length is what Django would read; nothing of the (absent) body is touched.
    response = client.post(url, {}, CONTENT_LENGTH=str(2 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert "files of at most 1.0" in response.content.decode()
