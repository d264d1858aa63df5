"""Work done in the background speaks the language of the person who asked for it.

A worker process, or a thread of the server (TASKS_ON_THREAD), starts in no request's language; the messages it stores
on rows (what the preview and the error report show) must still be the uploader's, as when the work ran in the request.
"""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from .api_support import entry_rows
from .helpers import Wizard, xlsx_file


def speaking(language: str) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(get_user_model().objects.get(username="alice"))
    return client


def messages_of_an_upload(client: Client, content: bytes) -> dict[int, dict]:
    wizard = Wizard(client).start()
    wizard.upload(content)
    for thread in threading.enumerate():  # background work runs on the server's threads here
        if thread.name.startswith("bulkupload-"):
            thread.join(timeout=120)
    batch = wizard.batch()
    assert batch.status == "ready", (batch.status, batch.task_error)
    return {row.row_number: row.errors for row in batch.rows.exclude(errors={})}


@pytest.mark.django_db(transaction=True)
def test_rows_checked_on_a_thread_carry_the_uploaders_language(demo, acme_people, workday, settings):
    content = xlsx_file(entry_rows(acme_people, workday))
    in_the_request = messages_of_an_upload(speaking("de"), content)
    in_english = messages_of_an_upload(speaking("en"), content)
    assert in_the_request and in_the_request != in_english  # the file has a rule-breaking row, worded per language

    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": 1, "TASKS_ON_THREAD": True}
    assert messages_of_an_upload(speaking("de"), content) == in_the_request
