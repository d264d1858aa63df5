"""Threads started once the current request's response is complete (at once outside a request).

Background work and webhook deliveries run on threads of their own when the task backend runs tasks in this process.
Started from inside a request, such a thread would write while the request still writes (the wizard's session, a
remembered choice): on SQLite one of the two then waits for the other's whole transaction, or fails. Held until
``request_finished``, the thread writes only once the request has.
"""

from __future__ import annotations

import threading

from django.core.signals import request_finished, request_started
from django.dispatch import receiver

_request = threading.local()


def start(thread: threading.Thread) -> None:
    """Start ``thread`` once this thread's request has been answered, or now when no request is being answered."""
    if getattr(_request, "active", False):
        _request.pending.append(thread)
    else:
        thread.start()


@receiver(request_started)
def _request_started(**kwargs: object) -> None:
    _request.active, _request.pending = True, []


@receiver(request_finished)
def _request_finished(**kwargs: object) -> None:
    pending, _request.active, _request.pending = getattr(_request, "pending", []), False, []
    for thread in pending:
        thread.start()
