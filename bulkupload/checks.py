"""System checks: refuse to start without what keeps hostile files harmless."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register


@register()
def defusedxml_installed(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """defusedxml must be importable and used by openpyxl, or workbooks could expand entities or read local files."""
    try:
        import defusedxml  # noqa: F401
    except ImportError:
        return [
            Error(
                "defusedxml is not installed; uploaded workbooks cannot be parsed safely.",
                hint="pip install defusedxml (it is pinned in requirements.txt).",
                id="bulkupload.E001",
            )
        ]
    import openpyxl

    if not openpyxl.DEFUSEDXML:
        return [
            Error(
                "openpyxl does not use defusedxml (is OPENPYXL_DEFUSEDXML set to something other than True?).",
                hint="Unset OPENPYXL_DEFUSEDXML so that openpyxl parses workbooks through defusedxml.",
                id="bulkupload.E002",
            )
        ]
    return []
