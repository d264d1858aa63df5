"""Which tasks framework runs the engine's background work: the engine chooses, not the host.

Django 6.0 ships :mod:`django.tasks`; on Django 5.2 the same API comes from the ``django-tasks`` backport
(a dependency of this package, inert on 6.x). Both read the host's ``TASKS`` setting and default to running
tasks at once, in the request (``ImmediateBackend``), so a host needs no tasks configuration at all. Only this
module knows which one is in use.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

try:  # Django 6.0 and later
    from django.tasks import default_task_backend, task, task_backends
    from django.tasks.backends.immediate import ImmediateBackend

    #: Where the framework's own backends live, for hosts and tests naming one in ``TASKS``.
    BACKENDS_MODULE = "django.tasks.backends"
except ImportError:  # Django 5.2: the backport, same API under another name
    try:
        from django_tasks import default_task_backend, task, task_backends
        from django_tasks.backends.immediate import ImmediateBackend
    except ImportError as exc:
        raise ImproperlyConfigured(
            "bulkupload runs its background work with django.tasks (Django 6.0 and later); on Django 5.2 it needs "
            "the django-tasks package, a dependency of bulkupload: pip install 'django-tasks>=0.12'."
        ) from exc

    # The backport resets its backends when a test changes TASKS only once its receivers are connected; its app
    # would do it in ready(), but hosts need not install it: connect them here.
    from django_tasks import signals as _signals  # noqa: F401

    BACKENDS_MODULE = "django_tasks.backends"

__all__ = ["BACKENDS_MODULE", "ImmediateBackend", "backend_path", "default_task_backend", "task", "task_backends"]


def backend_path(name: str) -> str:
    """The dotted path of one of the framework's backends, e.g. ``backend_path("immediate.ImmediateBackend")``."""
    return f"{BACKENDS_MODULE}.{name}"
