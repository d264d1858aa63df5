"""The choices a user made, kept so the next upload suggests them first."""

from __future__ import annotations

from typing import Any

from ..mapping import remembered_mapping
from ..models import RememberedMapping
from ..spec import UploadSpec, normalize_header


def remember_column_choices(*, user: Any, spec: UploadSpec, header: list[str], positions: dict[str, int]) -> None:
    """Keep the user's confirmed choices for ``spec`` so the next upload suggests them first."""
    by_index = {index: key for key, index in positions.items()}
    choices = remembered_mapping(user, spec)
    for index, text in enumerate(header):
        if text:
            choices[normalize_header(text)] = by_index.get(index, "")
    RememberedMapping.objects.update_or_create(owner=user, spec=spec.slug, defaults={"choices": choices})
