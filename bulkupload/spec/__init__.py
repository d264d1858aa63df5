"""Declaring what can be uploaded: :class:`ModelUploadSpec`, :class:`UploadSpec`, :class:`Column` and the registry.

A host app declares specs in ``<app>/uploads.py``; the engine autodiscovers them the way the admin finds ``admin.py``::

    from bulkupload import spec

    @spec.register
    class AirportUpload(spec.ModelUploadSpec):
        model = Airport
        fields = ("iata", "name", "city", "state", "country", "latitude", "longitude")
        natural_key = ("iata",)

:class:`UploadSpec` with a row form of its own stays for uploads a model cannot describe.
"""

from .base import CREATE, IMPORT_MODES, UPDATE, UPSERT, Column, FileRule, RuleRun, StagedRow, UploadSpec, format_cell, normalize_header
from .model import ModelUploadSpec
from .registry import AlreadyRegistered, NotRegistered, UploadRegistry, registry

__all__ = [
    "CREATE",
    "IMPORT_MODES",
    "UPDATE",
    "UPSERT",
    "AlreadyRegistered",
    "Column",
    "FileRule",
    "ModelUploadSpec",
    "NotRegistered",
    "RuleRun",
    "StagedRow",
    "UploadRegistry",
    "UploadSpec",
    "all_specs",
    "format_cell",
    "get_spec",
    "get_spec_or_404",
    "is_registered",
    "normalize_header",
    "register",
    "registry",
    "unregister",
]

register = registry.register
unregister = registry.unregister
is_registered = registry.is_registered


def get_spec(slug: str) -> UploadSpec:
    """The registered spec for ``slug``; :class:`NotRegistered` (a ``KeyError``) if none."""
    return registry.get(slug)


def get_spec_or_404(slug: str) -> UploadSpec:
    """The registered spec for ``slug``, or ``Http404``."""
    return registry.get_or_404(slug)


def all_specs() -> list[UploadSpec]:
    """Every registered spec, by slug."""
    return registry.all()
