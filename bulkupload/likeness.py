"""How much a file's header looks like a column's name: the fuzzy part of the columns step's suggestions."""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Any

from .spec import normalize_header


def loose(text: Any) -> str:
    """Only letters and digits: "E-mail" and "email" compare equal."""
    return re.sub(r"[\W_]+", "", normalize_header(text))


def likeness(header: str, target: str, *, threshold: float) -> float:
    """How much ``header`` looks like ``target`` (0…1): similar spelling, an abbreviation, or a word of it."""
    a, b = loose(header), loose(target)
    if not a or not b:
        return 0.0
    # The ratio is at most 2·shorter/(both lengths): a long header cannot resemble a short name, so it is not compared.
    score = SequenceMatcher(None, a, b).ratio() if 2 * min(len(a), len(b)) >= threshold * (len(a) + len(b)) else 0.0
    words = normalize_header(target).split()
    if len(a) >= 3 and any(w.startswith(a) for w in [*words, b]):
        score = max(score, 0.85)  # "Proj" → "Project code"
    elif len(a) >= 3 and a[0] == b[0] and _is_subsequence(a, b):
        score = max(score, 0.75)  # "Hrs" → "Hours"
    if a in words or normalize_header(header) in words:
        score = max(score, 0.8)  # "Employee" → "Employee email"
    return score


def _is_subsequence(short: str, long: str) -> bool:
    letters = iter(long)
    return all(char in letters for char in short)
