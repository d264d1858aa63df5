"""The shared strings table kept compactly past its first texts answers every index as the list it replaces."""

from __future__ import annotations

import pytest

from bulkupload.reading import strings
from bulkupload.reading.strings import SharedStrings


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(strings, "KEPT_AS_IS", 5)
    monkeypatch.setattr(strings, "BLOCK", 4)


def test_every_index_answers_as_a_list_does(small_blocks):
    texts = [f"text {i}" for i in range(7)] + ["", "ünïcode 🙂", "", "a,b", "tab\there", "x" * 300] + [str(i) for i in range(9)]
    table = SharedStrings()
    for text in texts:
        table.append(text)

    assert len(table) == len(texts)
    assert [table[i] for i in range(len(texts))] == texts  # kept as they are, joined in blocks, and the last, unsealed block
    assert [table[-i] for i in range(1, len(texts) + 1)] == [texts[-i] for i in range(1, len(texts) + 1)]
    assert table[3:12] == texts[3:12] and list(table) == texts and table == texts
    for index in (len(texts), -len(texts) - 1, 10**9):
        with pytest.raises(IndexError):
            table[index]
