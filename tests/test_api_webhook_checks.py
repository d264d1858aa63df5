"""A malformed ``BULKUPLOAD["WEBHOOKS"]`` is a system check error with an id at startup, not events silently lost."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from bulkupload import checks

GOOD = {"url": "https://hr.example/hooks", "secret": "s3cret", "specs": ["timesheet-entries"], "events": ["batch.applied"]}


def messages(settings, hooks) -> list:
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "WEBHOOKS": hooks}
    return checks.webhook_settings()


def test_well_formed_receivers_and_none_pass(settings):
    assert messages(settings, [GOOD, {"url": "http://127.0.0.1:9000/hook", "secret": "x"}]) == []
    assert messages(settings, []) == []


@pytest.mark.parametrize(
    ("hooks", "expected"),
    [
        ({"url": GOOD["url"], "secret": "x"}, "bulkupload.E017"),
        ([GOOD["url"]], "bulkupload.E017"),
        ([{**GOOD, "event": ["batch.applied"]}], "bulkupload.E017"),
        ([{**GOOD, "events": "batch.applied"}], "bulkupload.E017"),
        ([{**GOOD, "specs": "timesheet-entries"}], "bulkupload.E017"),
        ([{**GOOD, "url": ""}], "bulkupload.E018"),
        ([{**GOOD, "url": "ftp://hr.example/hooks"}], "bulkupload.E018"),
        ([{**GOOD, "secret": ""}], "bulkupload.E018"),
        ([{key: value for key, value in GOOD.items() if key != "secret"}], "bulkupload.E018"),
        ([{**GOOD, "events": ["batch.applied", "upload.done"]}], "bulkupload.E019"),
        ([{**GOOD, "specs": ["timesheet-entrys"]}], "bulkupload.W003"),
    ],
    ids=[
        "not-a-list",
        "not-a-dict",
        "unknown-key",
        "events-string",
        "specs-string",
        "no-url",
        "not-http",
        "empty-secret",
        "no-secret",
        "unknown-event",
        "unregistered-spec",
    ],
)
def test_each_malformed_receiver_fires_its_check(settings, hooks, expected):
    assert [message.id for message in messages(settings, hooks)] == [expected]


def test_messages_name_the_entry_and_what_to_write(settings):
    [message] = messages(settings, [GOOD, {**GOOD, "events": ["upload.done"]}])
    assert message.msg == "BULKUPLOAD['WEBHOOKS'][1] names the event 'upload.done', which is not sent."
    assert "batch.applied, batch.rolled_back, upload.ready, upload.failed" in message.hint
    [message] = messages(settings, [{**GOOD, "specs": ["timesheet-entrys"]}])
    assert "'timesheet-entrys'" in message.msg and "timesheet-entries" in message.hint


def test_startup_fails_on_a_receiver_without_a_secret(settings, db):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "WEBHOOKS": [{"url": GOOD["url"]}]}
    with pytest.raises(SystemCheckError, match=r"bulkupload.E018.*no 'secret'"):
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "WEBHOOKS": [GOOD]}
    call_command("check", stdout=io.StringIO())
