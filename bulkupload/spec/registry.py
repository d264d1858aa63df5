"""The registry of specs: an object like the admin's ``AdminSite``, filled from each app's ``uploads.py``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from django.utils.module_loading import autodiscover_modules

from .base import UploadSpec


class AlreadyRegistered(ImproperlyConfigured):
    """Another spec is registered under the same slug."""


class NotRegistered(KeyError):
    """No such spec is registered (a ``KeyError``, as a missing slug always was)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UploadRegistry:
    """Specs by slug. ``register`` is a class decorator; one instance of each spec serves every request."""

    def __init__(self) -> None:
        # The name autodiscover_modules() copies and restores when an uploads module fails to import.
        self._registry: dict[str, UploadSpec] = {}

    def register(self, spec_class: type[UploadSpec]) -> type[UploadSpec]:
        """Make ``spec_class`` available under its slug; :class:`AlreadyRegistered` names both specs if the slug is taken."""
        slug = getattr(spec_class, "slug", "")
        if not slug:
            raise ImproperlyConfigured(f"The upload spec {_name(spec_class)} has no slug, and no model to derive one from.")
        existing = self._registry.get(slug)
        if existing is not None:
            raise AlreadyRegistered(
                f"The upload spec {_name(spec_class)} cannot be registered as {slug!r}: {_name(type(existing))} already is. "
                f"Give one of them another slug, or unregister the other first."
            )
        self._registry[slug] = spec_class()
        return spec_class

    def unregister(self, spec: type[UploadSpec] | str) -> None:
        """Remove a spec (its class or its slug); :class:`NotRegistered` if it is not registered."""
        slug = self._slug_of(spec)
        if slug is None:
            raise NotRegistered(f"The upload spec {_describe(spec)} is not registered.")
        del self._registry[slug]

    def is_registered(self, spec: type[UploadSpec] | str) -> bool:
        """Whether this spec class (or a spec with this slug) is registered."""
        return self._slug_of(spec) is not None

    def _slug_of(self, spec: type[UploadSpec] | str) -> str | None:
        if isinstance(spec, str):
            return spec if spec in self._registry else None
        found = self._registry.get(getattr(spec, "slug", None))
        return spec.slug if found is not None and type(found) is spec else None

    def get(self, slug: str) -> UploadSpec:
        """The registered spec for ``slug``; :class:`NotRegistered` (a ``KeyError``) if none."""
        try:
            return self._registry[slug]
        except KeyError:
            raise NotRegistered(f"No upload spec is registered as {slug!r}.") from None

    def get_or_404(self, slug: str) -> UploadSpec:
        """The registered spec for ``slug``, or ``Http404``."""
        try:
            return self.get(slug)
        except NotRegistered:
            raise Http404("No such upload type.") from None

    def all(self) -> list[UploadSpec]:
        """Every registered spec, by slug."""
        return sorted(self._registry.values(), key=lambda s: s.slug)

    def autodiscover(self, module_name: str = "uploads") -> None:
        """Import ``<app>.<module_name>`` of every installed app; an import that fails leaves the registry as it was."""
        autodiscover_modules(module_name, register_to=self)


def _name(spec_class: type) -> str:
    return f"{spec_class.__module__}.{spec_class.__qualname__}"


def _describe(spec: Any) -> str:
    return repr(spec) if isinstance(spec, str) else _name(spec)


#: The registry the engine serves; ``spec.register`` registers here.
registry = UploadRegistry()
