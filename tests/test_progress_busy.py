"""The progress page while the work holds SQLite's table: "still working, look again" (503), never a 500 or a wait."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from bulkupload.models import UploadBatch

from .conftest import login
from .helpers import Wizard


@pytest.mark.django_db(transaction=True)
def test_the_progress_page_answers_busy_while_the_work_holds_the_uploads_table(demo):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only: PostgreSQL readers never wait for a writer.")
    client = login("alice")
    batch_id = Wizard(client).start().upload_id
    url = reverse("bulkupload:progress", kwargs={"batch_id": batch_id})
    holding, finished = threading.Event(), threading.Event()

    def work() -> None:
        # As a task reading or applying the upload does: its transaction has written the batch's row.
        try:
            with transaction.atomic():
                UploadBatch.objects.filter(pk=batch_id).update(updated_at=timezone.now())
                holding.set()
                finished.wait(60)
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert holding.wait(60)
        # This connection's reads wait for writers again (the suite's conftest lets them pass): as a reader of a file
        # database does while a writer commits, which is when the page must answer "busy" rather than hang or fail.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = 0")
        page = client.get(url)
        polled = client.get(url, {"format": "json"})
    finally:
        finished.set()
        worker.join(60)
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = 1")

    assert page.status_code == 503 and page["Retry-After"] == "3" and page["Cache-Control"] == "no-store"
    assert "Still working" in page.content.decode()
    assert polled.status_code == 503 and polled.json()["state"] == "working"
    # Once the work let go, the same page answers normally.
    assert client.get(url, {"format": "json"}).status_code == 200
