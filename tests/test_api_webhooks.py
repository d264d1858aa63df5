"""Webhooks: signed events reach receivers on loopback once each, failed deliveries are retried, a silent receiver
never holds up the request. Receivers are small http.server threads; the API is called over a live server."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.dispatch import receiver as on_signal
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bulkupload import afterresponse, compat, services  # noqa: F401  (afterresponse: its receivers first)
from bulkupload.models import UploadBatch, WebhookDelivery

from .api_support import Api, entries_csv, token_for
from .helpers import worker_died

SECRET = "test-webhook-secret"
IMMEDIATE = {"BACKEND": compat.backend_path("immediate.ImmediateBackend")}


@dataclass
class Receiver:
    """An HTTP receiver on loopback that records every request; ``answers`` are the status codes it gives, in turn."""

    answers: list[int] = field(default_factory=list)
    hold: threading.Event | None = None
    received: list[dict] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(120)  # a receiver that does not answer until the test lets it
                code = receiver.answers.pop(0) if receiver.answers else 204
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [json.loads(r["body"])["event"] for r in self.received]

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers(settings) -> Iterator[callable]:
    made: list[Receiver] = []

    def make(**kwargs) -> Receiver:
        receiver = Receiver(**kwargs)
        made.append(receiver)
        hooks = [*settings.BULKUPLOAD.get("WEBHOOKS", []), {"url": receiver.url, "secret": SECRET}]
        settings.BULKUPLOAD = {**settings.BULKUPLOAD, "WEBHOOKS": hooks, "WEBHOOK_RETRY_DELAY_SECONDS": 0.05}
        return receiver

    yield make
    for receiver in made:
        receiver.close()
    wait_for(deliveries_settled, "the delivery threads ending")  # none may write into the next test's database


def wait_for(condition, what: str, timeout: float = 60) -> None:
    """Wait until ``condition()`` holds (deliveries run on other threads); fail saying ``what`` never happened."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def deliveries_settled() -> bool:
    """No delivery thread is left (each attempt, retries included, runs on a thread named ``webhook-…``).

    The tests read the deliveries table only then: on SQLite's shared in-memory test database a read from this thread
    while a delivery thread records its attempt makes that insert fail ("database table is locked"), not wait.
    """
    return not any(thread.name.startswith("webhook-") and thread.is_alive() for thread in threading.enumerate())


def signature_is_valid(request: dict) -> bool:
    headers, body = request["headers"], request["body"]
    timestamp = headers["X-Bulkupload-Timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return headers["X-Bulkupload-Signature"] == f"sha256={expected}" and abs(time.time() - int(timestamp)) < 300


_requests = {"open": 0}
_requests_lock = threading.Lock()


# Connected after bulkupload.afterresponse's own receivers (imported above): when a request counts as finished here,
# the delivery threads it held back have been started.
@on_signal(request_started)
def _request_opened(**kwargs) -> None:
    with _requests_lock:
        _requests["open"] += 1


@on_signal(request_finished)
def _request_closed(**kwargs) -> None:
    with _requests_lock:
        _requests["open"] -= 1


def quiet() -> bool:
    """No request is being answered and no delivery is under way."""
    return _requests["open"] <= 0 and deliveries_settled()


class ApiAfterDeliveries(Api):
    """Each call waits for the server's last request to finish and the deliveries under way to end first. SQLite's
    in-memory test database has one shared cache that takes a single write transaction at a time and refuses, rather
    than queues, a second (a file database waits its timeout): a delivery thread recording its attempt while the live
    server confirms would fail one of them. (The client has its answer a moment before the server's request has
    finished and started the deliveries it held back.)"""

    def request(self, *args, **kwargs):
        wait_for(quiet, "the deliveries under way ending")
        return super().request(*args, **kwargs)


@pytest.fixture
def api(live_server, demo) -> Api:
    return ApiAfterDeliveries(live_server.url, token_for("alice"))


def test_each_event_arrives_once_signed(api, receivers, acme_people, workday):
    receiver = receivers()
    upload = api.upload(entries_csv(acme_people, workday, bad_project=False)).json()
    batch = api.post(f"uploads/{upload['id']}/confirm/", json={}).json()["batch"]
    api.post(f"batches/{batch['id']}/rollback/", json={})

    wait_for(lambda: len(receiver.received) == 3 and deliveries_settled(), "three delivered events")
    assert WebhookDelivery.objects.filter(status_code=204).count() == 3
    assert receiver.events() == ["upload.ready", "batch.applied", "batch.rolled_back"]
    assert all(signature_is_valid(request) for request in receiver.received)
    bodies = [json.loads(request["body"]) for request in receiver.received]
    assert {body["upload"]["id"] for body in bodies} == {upload["id"]}
    assert bodies[1]["batch"]["counts"]["created"] == 3
    assert bodies[2]["upload"]["status"] == "rolled_back"
    assert len({request["headers"]["X-Bulkupload-Delivery"] for request in receiver.received}) == 3
    assert [r["headers"]["X-Bulkupload-Event"] for r in receiver.received] == receiver.events()


def test_a_tampered_body_fails_the_signature(api, receivers, acme_people, workday):
    receiver = receivers()
    api.upload(entries_csv(acme_people, workday))
    wait_for(lambda: receiver.received, "an event")
    tampered = {**receiver.received[0], "body": receiver.received[0]["body"].replace(b'"ready"', b'"applied"')}
    assert signature_is_valid(receiver.received[0])
    assert not signature_is_valid(tampered)


def test_a_receiver_that_fails_twice_is_retried_until_it_succeeds(api, receivers, acme_people, workday):
    receiver = receivers(answers=[500, 503, 200])
    upload = api.upload(entries_csv(acme_people, workday)).json()

    wait_for(lambda: len(receiver.received) == 3 and deliveries_settled(), "a successful attempt")
    attempts = list(WebhookDelivery.objects.filter(batch_id=upload["id"]).order_by("attempt").values_list("attempt", "status_code"))
    assert attempts == [(1, 500), (2, 503), (3, 200)]
    assert receiver.events() == ["upload.ready"] * 3
    assert len({request["headers"]["X-Bulkupload-Delivery"] for request in receiver.received}) == 1  # one event, tried thrice
    assert all(signature_is_valid(request) for request in receiver.received)


def test_retries_stop_after_the_last_attempt(api, receivers, settings, caplog, acme_people, workday):
    receiver = receivers(answers=[500] * 10)
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "WEBHOOK_MAX_ATTEMPTS": 3}
    upload = api.upload(entries_csv(acme_people, workday)).json()
    wait_for(lambda: "giving up" in caplog.text and deliveries_settled(), "the delivery giving up")
    assert list(WebhookDelivery.objects.filter(batch_id=upload["id"]).values_list("attempt", flat=True)) == [1, 2, 3]
    assert len(receiver.received) == 3


def test_a_receiver_that_never_answers_does_not_delay_the_request(api, receivers, settings, acme_people, workday):
    receiver = receivers(hold=threading.Event())
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "WEBHOOK_TIMEOUT_SECONDS": 300}  # the attempt ends only when released
    created = api.upload(entries_csv(acme_people, workday))

    # The request has been answered while the receiver still holds the event unanswered (or has not even got it yet):
    # had the request waited for the delivery, the receiver would have been released or the attempt recorded first.
    assert created.status_code == 201
    assert not receiver.hold.is_set()
    assert not WebhookDelivery.objects.exists()
    wait_for(receiver.arrived.is_set, "the event reaching the receiver")
    assert not WebhookDelivery.objects.exists()  # still waiting for its answer
    receiver.hold.set()
    wait_for(deliveries_settled, "the delivery recorded once answered")
    assert WebhookDelivery.objects.filter(status_code=204).exists()


def test_background_reading_that_fails_sends_upload_failed(api, receivers, settings, acme_people, workday):
    receiver = receivers()
    # Above the task threshold the file is read by a task; more rows than allowed make that task refuse it.
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": 1, "MAX_ROWS": 2}
    refused = api.upload(entries_csv(acme_people, workday))
    assert refused.status_code == 400
    wait_for(lambda: receiver.received, "an event")
    body = json.loads(receiver.received[0]["body"])
    assert body["event"] == "upload.failed"
    assert body["phase"] == "reading"
    assert "rows" in body["message"]


def test_a_stalled_task_that_is_released_sends_upload_failed_naming_its_phase(api, receivers, settings, acme_people, workday):
    receiver = receivers()
    # Tasks go to a backend without a worker (they wait forever); webhooks are still delivered.
    settings.TASKS = {"default": {"BACKEND": compat.backend_path("dummy.DummyBackend")}, "webhooks": IMMEDIATE}
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "TASK_THRESHOLD_ROWS": 1, "WEBHOOK_TASK_BACKEND": "webhooks"}
    reading = api.upload(entries_csv(acme_people, workday)).json()
    assert reading["status"] == "working"
    worker_died(reading["id"], phase="reading", silent_for=3600)
    before = UploadBatch.objects.filter(pk=reading["id"]).values().get()
    shown = api.get(f"uploads/{reading['id']}/").json()  # shown as released; looking writes nothing
    assert shown["status"] == "needs_columns"  # the file is kept: POST columns/ reads it again
    assert "stopped without finishing" in shown["message"]
    assert UploadBatch.objects.filter(pk=reading["id"]).values().get() == before
    assert not receiver.received
    # The next call that changes the upload releases it first: here the columns, answered again, read it anew.
    settings.TASKS = {**settings.TASKS, "default": IMMEDIATE}
    answered = api.post(f"uploads/{reading['id']}/columns/", json={"mapping": {}})
    assert answered.status_code == 200, answered.content
    assert answered.json()["status"] == "ready"

    applying = api.upload(entries_csv(acme_people, workday, bad_project=False)).json()
    assert applying["status"] == "ready"
    settings.TASKS = {**settings.TASKS, "default": {"BACKEND": compat.backend_path("dummy.DummyBackend")}}
    assert api.post(f"uploads/{applying['id']}/confirm/", json={}).status_code == 202
    UploadBatch.objects.filter(pk=applying["id"]).update(updated_at=timezone.now() - datetime.timedelta(days=30))
    assert [str(batch.pk) for batch in services.release_stalled()] == [applying["id"]]  # the purge's way

    wait_for(lambda: receiver.events().count("upload.failed") == 2 and deliveries_settled(), "two failures sent")
    failed = [json.loads(r["body"]) for r in receiver.received if json.loads(r["body"])["event"] == "upload.failed"]
    assert [(body["upload"]["id"], body["phase"]) for body in failed] == [(reading["id"], "reading"), (applying["id"], "applying")]
    assert all("stopped without finishing" in body["message"] for body in failed)
    assert [body["upload"]["status"] for body in failed] == ["needs_columns", "ready"]


def test_webhooks_for_other_specs_or_events_are_not_sent(api, receivers, settings, acme_people, workday):
    elsewhere, applied_only = receivers(), receivers()
    settings.BULKUPLOAD = {
        **settings.BULKUPLOAD,
        "WEBHOOKS": [
            {"url": elsewhere.url, "secret": SECRET, "specs": ["another-spec"]},
            {"url": applied_only.url, "secret": SECRET, "events": ["batch.applied"]},
        ],
    }
    upload = api.upload(entries_csv(acme_people, workday, bad_project=False)).json()
    api.post(f"uploads/{upload['id']}/confirm/", json={})
    wait_for(lambda: applied_only.received and deliveries_settled(), "the applied event delivered")
    assert WebhookDelivery.objects.exists()
    assert applied_only.events() == ["batch.applied"]
    assert elsewhere.received == []


def test_with_a_queue_backend_deliveries_wait_for_a_worker_and_retries_are_queued(api, receivers, settings, acme_people, workday):
    """WEBHOOK_TASK_BACKEND naming a queue (django_tasks_db): the request only enqueues; the worker delivers and
    queues each retry as a task of its own."""
    receiver = receivers(answers=[500])
    settings.TASKS = {
        "default": {"BACKEND": compat.backend_path("immediate.ImmediateBackend")},
        "webhooks": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]},
    }
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "WEBHOOK_TASK_BACKEND": "webhooks", "WEBHOOK_RETRY_DELAY_SECONDS": 0}
    from django_tasks_db.models import DBTaskResult

    upload = api.upload(entries_csv(acme_people, workday)).json()
    assert DBTaskResult.objects.count() == 1  # queued, not delivered
    assert receiver.received == []

    call_command("db_worker", "--batch", "--backend", "webhooks", "--interval", "0.1", "--no-startup-delay", stdout=io.StringIO())
    attempts = list(WebhookDelivery.objects.filter(batch_id=upload["id"]).order_by("attempt").values_list("attempt", "status_code"))
    assert attempts == [(1, 500), (2, 204)]
    assert DBTaskResult.objects.count() == 2  # the retry was a task of its own
    assert all(signature_is_valid(request) for request in receiver.received)


def test_each_attempt_is_shown_on_the_batch_in_the_admin(api, receivers, acme_people, workday):
    receiver = receivers(answers=[502])
    upload = api.upload(entries_csv(acme_people, workday)).json()
    wait_for(lambda: len(receiver.received) == 2 and deliveries_settled(), "the retried delivery")
    admin = Client()
    admin.force_login(get_user_model().objects.get(username="admin"))
    page = admin.get(reverse("admin:bulkupload_uploadbatch_change", args=[upload["id"]]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Webhook deliveries" in text
    assert receiver.url in text
    assert 'id="webhook_deliveries-1"' in text  # both attempts, and no more
    assert 'id="webhook_deliveries-2"' not in text
    assert "HTTP 502" in text
