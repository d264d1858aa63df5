"""Webhooks: signed JSON events about uploads, POSTed to URLs the host registers, after the transaction commits.

A host registers receivers in its settings, for every spec or some::

    BULKUPLOAD = {
        "WEBHOOKS": [
            {"url": "https://hr.example/hooks/uploads", "secret": os.environ["UPLOAD_HOOK_SECRET"]},
            {"url": "https://ops.example/hook", "secret": "…", "specs": ["timesheet-entries"], "events": ["batch.applied"]},
        ],
    }

Events: ``batch.applied``, ``batch.rolled_back``, ``upload.ready``, ``upload.failed``
(:data:`bulkupload.signals.WEBHOOK_EVENTS`). Each is a JSON body with headers
``X-Bulkupload-Event``, ``X-Bulkupload-Delivery`` (the event's id, the same on every
retry), ``X-Bulkupload-Timestamp`` (Unix seconds) and ``X-Bulkupload-Signature``:
``sha256=`` and the hex HMAC-SHA256, keyed with the secret, of ``"<timestamp>." + body``.

Delivery is a :mod:`django.tasks` task (:func:`bulkupload.tasks.deliver_webhook`) on
the backend ``BULKUPLOAD["WEBHOOK_TASK_BACKEND"]``; every attempt is recorded as a
:class:`~bulkupload.models.WebhookDelivery` on the batch; a failed attempt is tried
again after ``WEBHOOK_RETRY_DELAY_SECONDS``, doubled each time, up to
``WEBHOOK_MAX_ATTEMPTS``. A backend that runs tasks in the process that enqueues them
(Django's ``ImmediateBackend``, the default) would make the request wait for the
receiver, so with such a backend the task is enqueued from a short-lived thread: the
request never waits, and a receiver that never answers costs a thread, not a user.
Events queued on such a thread are lost if the process stops first; a host that needs
them to survive a restart configures a queue backend (``django_tasks_db``) for webhooks.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.checks import CheckMessage, Error, Warning
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connections
from django.utils import timezone

from . import afterresponse, conf
from .compat import ImmediateBackend, task_backends
from .models import UploadBatch, WebhookDelivery

logger = logging.getLogger(__name__)

EVENT_HEADER = "X-Bulkupload-Event"
DELIVERY_HEADER = "X-Bulkupload-Delivery"
TIMESTAMP_HEADER = "X-Bulkupload-Timestamp"
SIGNATURE_HEADER = "X-Bulkupload-Signature"


@dataclass(frozen=True)
class Hook:
    """One registered receiver: where, the shared secret, and which specs and events (empty: all)."""

    url: str
    secret: str
    specs: tuple[str, ...] = ()
    events: tuple[str, ...] = ()

    def wants(self, event: str, spec: str) -> bool:
        return (not self.specs or spec in self.specs) and (not self.events or event in self.events)


def registered_hooks() -> list[Hook]:
    """The receivers in ``BULKUPLOAD["WEBHOOKS"]``; an entry without a URL or secret is skipped with an error in the log."""
    hooks = []
    for entry in conf.get("WEBHOOKS") or []:
        url, secret = str(entry.get("url") or ""), str(entry.get("secret") or "")
        if not url.startswith(("http://", "https://")) or not secret:
            logger.error("BULKUPLOAD['WEBHOOKS']: an entry needs an http(s) 'url' and a 'secret'; skipped: %r", url)
            continue
        hooks.append(Hook(url=url, secret=secret, specs=tuple(entry.get("specs") or ()), events=tuple(entry.get("events") or ())))
    return hooks


#: The keys an entry of ``BULKUPLOAD["WEBHOOKS"]`` may have.
ENTRY_KEYS = ("url", "secret", "specs", "events")


def check_settings() -> list[CheckMessage]:
    """System check messages for a ``BULKUPLOAD["WEBHOOKS"]`` that cannot work as written (ids in :mod:`bulkupload.checks`)."""
    hooks = conf.get("WEBHOOKS")
    if hooks is None:
        return []
    if not isinstance(hooks, list | tuple):
        return [_error("E017", f"is {type(hooks).__name__}, not a list of receivers.", 'Write "WEBHOOKS": [{"url": …, "secret": …}].')]
    return [message for index, entry in enumerate(hooks) for message in _check_entry(index, entry)]


def _check_entry(index: int, entry: Any) -> list[CheckMessage]:
    where = f"[{index}]"
    if not isinstance(entry, dict):
        return [_error("E017", f"{where} is {type(entry).__name__}, not a dict.", 'Each receiver is {"url": …, "secret": …}.')]
    found = [
        _error("E017", f"{where} has the key {key!r}, which is not one of {', '.join(ENTRY_KEYS)}.", "Remove it or correct its spelling.")
        for key in entry
        if key not in ENTRY_KEYS
    ]
    if not str(entry.get("url") or "").startswith(("http://", "https://")):
        found.append(_error("E018", f"{where} has no http(s) 'url' (it is {entry.get('url')!r}).", "Give the receiver's full http(s) URL."))
    if not entry.get("secret") or not isinstance(entry.get("secret"), str):
        found.append(_error("E018", f"{where} has no 'secret': its events could not be signed.", "Give a long random string, kept secret."))
    for key in ("specs", "events"):
        if not isinstance(entry.get(key) or [], list | tuple):
            found.append(_error("E017", f"{where}['{key}'] is {entry[key]!r}, not a list.", f"Write '{key}': [{entry[key]!r}]."))
    if not found:
        found += _check_names(where, entry)
    return found


def _check_names(where: str, entry: dict[str, Any]) -> list[CheckMessage]:
    from .signals import WEBHOOK_EVENTS
    from .spec import registry

    found: list[CheckMessage] = []
    for event in entry.get("events") or ():
        if event not in WEBHOOK_EVENTS:
            found.append(_error("E019", f"{where} names the event {event!r}, which is not sent.", f"Events: {', '.join(WEBHOOK_EVENTS)}."))
    slugs = [spec.slug for spec in registry.all()]
    for slug in entry.get("specs") or ():
        if slug not in slugs:
            message = f"{where} names the spec {slug!r}, which is not registered: the receiver gets nothing for it."
            found.append(Warning(f"BULKUPLOAD['WEBHOOKS']{message}", hint=f"Registered specs: {', '.join(slugs)}.", id="bulkupload.W003"))
    return found


def _error(code: str, message: str, hint: str) -> Error:
    return Error(f"BULKUPLOAD['WEBHOOKS']{'' if message.startswith('[') else ' '}{message}", hint=hint, id=f"bulkupload.{code}")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, body: bytes, *, timestamp: str, signature: str, tolerance: int = 300) -> bool:
    """For receivers written in Python: whether ``signature`` is ours and ``timestamp`` within ``tolerance`` seconds of now."""
    try:
        fresh = abs(time.time() - int(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


def event_payload(event: str, batch: UploadBatch, event_id: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The event's JSON body: the upload as the API shows it, and the receipt once the batch was applied."""
    from .api.representation import receipt_data, upload_data

    applied = batch.status in (UploadBatch.Status.APPLIED, UploadBatch.Status.ROLLED_BACK)
    return {
        "id": event_id,
        "event": event,
        "created_at": timezone.now(),
        "upload": upload_data(batch),
        "batch": receipt_data(batch) if applied else None,
        **{key: value for key, value in (details or {}).items() if key in ("message", "phase")},
    }


def dispatch(event: str, batch: UploadBatch, *, details: dict[str, Any] | None = None) -> list[str]:
    """Send ``event`` about ``batch`` to every receiver registered for it; called once the transaction committed.

    Returns the URLs it was queued for. Never raises: a webhook must not break the user's request.
    """
    hooks = [hook for hook in registered_hooks() if hook.wants(event, batch.spec)]
    if not hooks:
        return []
    try:
        batch.refresh_from_db()
        event_id = str(uuid.uuid4())
        body = json.dumps(event_payload(event, batch, event_id, details), cls=DjangoJSONEncoder)
        for hook in hooks:
            schedule(url=hook.url, batch_id=str(batch.pk), event=event, event_id=event_id, body=body, attempt=1)
    except Exception:
        logger.exception("Could not queue the webhook event %s for upload %s", event, batch.pk)
        return []
    return [hook.url for hook in hooks]


def schedule(*, url: str, batch_id: str, event: str, event_id: str, body: str, attempt: int, delay: float = 0) -> None:
    """Queue one delivery attempt after ``delay`` seconds, on a thread when the task backend runs tasks in this process."""
    from . import tasks

    backend = task_backends[conf.get("WEBHOOK_TASK_BACKEND")]
    kwargs = {"url": url, "batch_id": batch_id, "event": event, "event_id": event_id, "body": body, "attempt": attempt}
    if isinstance(backend, ImmediateBackend) or not backend.supports_defer:
        # Started once the response is complete (see bulkupload.afterresponse): the request never waits for it.
        afterresponse.start(
            threading.Thread(target=_enqueue_later, args=(backend.alias, delay, kwargs), name=f"webhook-{event_id[:8]}", daemon=True)
        )
        return
    run_after = timezone.now() + datetime.timedelta(seconds=delay) if delay else None
    tasks.deliver_webhook.using(backend=backend.alias, run_after=run_after).enqueue(**kwargs)


def _enqueue_later(alias: str, delay: float, kwargs: dict[str, Any]) -> None:
    from . import tasks

    try:
        if delay:
            time.sleep(delay)
        tasks.deliver_webhook.using(backend=alias).enqueue(**kwargs)
    except Exception:
        logger.exception("Delivering webhook event %s failed", kwargs.get("event_id"))
    finally:
        connections.close_all()  # this thread's own database connections


def deliver(*, url: str, batch_id: str, event: str, event_id: str, body: str, attempt: int) -> str:
    """One attempt: POST the signed ``body`` to ``url``, record the answer, schedule a retry when it failed."""
    hook = next((hook for hook in registered_hooks() if hook.url == url), None)
    if hook is None:
        return "unregistered"  # removed from the settings since: its secret is gone, so nothing can be signed
    status_code, error = post(hook, body=body.encode(), event=event, event_id=event_id)
    record_attempt(batch_id=batch_id, event_id=event_id, event=event, url=url, attempt=attempt, status_code=status_code, error=error)
    if status_code is not None and 200 <= status_code < 300:
        return "delivered"
    if attempt >= conf.get("WEBHOOK_MAX_ATTEMPTS"):
        logger.warning("Webhook %s to %s failed %d times; giving up: %s", event, url, attempt, error or status_code)
        return "failed"
    delay = conf.get("WEBHOOK_RETRY_DELAY_SECONDS") * 2 ** (attempt - 1)
    schedule(url=url, batch_id=batch_id, event=event, event_id=event_id, body=body, attempt=attempt + 1, delay=delay)
    return "retrying"


def record_attempt(*, batch_id: str, **fields: Any) -> None:
    """Record one attempt on its batch (gone batches keep no record); a database that refuses the record is logged,
    and the attempt's outcome still decides whether the event is tried again."""
    try:
        if UploadBatch.objects.filter(pk=batch_id).exists():
            WebhookDelivery.objects.create(batch_id=batch_id, **fields)
    except DatabaseError:
        logger.exception("Could not record webhook attempt %s of event %s", fields.get("attempt"), fields.get("event_id"))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A receiver answers; it does not send the event elsewhere (a redirect is a failed attempt)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(hook: Hook, *, body: bytes, event: str, event_id: str) -> tuple[int | None, str]:
    """POST ``body`` signed for ``hook``: the receiver's status code (None when it did not answer) and an error text."""
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310  (the host's own configured http(s) URLs)
        hook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "bulkupload-webhooks",
            EVENT_HEADER: event,
            DELIVERY_HEADER: event_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(hook.secret, timestamp, body),
        },
    )
    try:
        with _opener.open(request, timeout=conf.get("WEBHOOK_TIMEOUT_SECONDS")) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code} {exc.reason}"[:500]
    except (OSError, ValueError) as exc:  # refused, timed out, reset, a bad URL
        return None, f"{type(exc).__name__}: {exc}"[:500]
