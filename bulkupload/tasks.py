"""Long work as tasks of Django's tasks framework (:mod:`django.tasks`).

Which backend runs them is the host's ``TASKS`` setting: the default
``ImmediateBackend`` runs them at once, in the request; a real one (for example
``django_tasks_db.DatabaseBackend`` with ``manage.py db_worker``) runs them on a
worker. Arguments are plain JSON so any backend can store them.
"""

from __future__ import annotations

from . import background
from .compat import task


@task
def stage_batch(batch_id: str, sheet: str | None = None, positions: dict[str, int] | None = None) -> str:
    """Read and check the file held by the batch."""
    return background.run_staging(batch_id, sheet=sheet, positions=positions)


@task
def apply_batch(batch_id: str) -> str:
    """Write a confirmed batch to the target model."""
    return background.run_apply(batch_id)


@task
def deliver_webhook(url: str, batch_id: str, event: str, event_id: str, body: str, attempt: int = 1) -> str:
    """POST one signed webhook event to ``url``; a failed attempt schedules the next with a longer wait."""
    from . import webhooks

    return webhooks.deliver(url=url, batch_id=batch_id, event=event, event_id=event_id, body=body, attempt=attempt)


@task
def purge_abandoned() -> int:
    """Remove abandoned uploads and their files, and release stalled ones: for a host that schedules tasks periodically."""
    from . import services

    background.release_stalled()
    return len(services.purge_abandoned())
