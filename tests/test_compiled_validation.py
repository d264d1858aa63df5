"""Compiled validation (bulkupload.compiled) makes of every row exactly what the row form's full_clean() makes of it."""

from __future__ import annotations

import datetime
import itertools

import pytest
from django import forms
from django.utils import formats

from bulkupload import spec
from bulkupload.spec import get_spec
from bulkupload.validation import RowValidator

from .adoption_app.models import Airport, Company
from .helpers import SPEC
from .test_performance_shape import timesheet_rows

AIRPORT_ROWS = [
    {"iata": "SFO", "name": "San Francisco", "city": "", "state": "CA", "country": "USA", "latitude": "37.619", "longitude": "-122.375"},
    {"iata": "SFOX", "name": "Too long a code", "city": "", "state": "", "country": "USA", "latitude": "1", "longitude": "2"},
    {"iata": "BOS", "name": "", "city": "", "state": "", "country": "USA", "latitude": "1", "longitude": "2"},
    {"iata": "SEA", "name": "Seattle", "city": "", "state": "", "country": "USA", "latitude": "north", "longitude": "2"},
    {"iata": "", "name": "", "city": "x" * 101, "state": "", "country": "", "latitude": "", "longitude": "1,5"},
    {"iata": "S\x00F", "name": "Nul", "city": "", "state": "", "country": "USA", "latitude": "1e400", "longitude": "nan"},
]
PRICE_ROWS = [
    {"symbol": "AAPL", "date": "Mar 15 2024", "price": "1"},
    {"symbol": "aapl", "date": "15.03.2023", "price": "185.64"},
    {"symbol": "AAPL", "date": "15 March 2022", "price": "3"},
    {"symbol": "TSLA", "date": "2024-01-02", "price": "1"},
    {"symbol": "", "date": "", "price": ""},
    {"symbol": "MSFT", "date": "45292", "price": "1234567890.12345"},
    {"symbol": "MSFT", "date": "2024-02-30", "price": "12 345,5"},
]
PENGUIN_KEYS = ("species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year")
PENGUIN_ROWS = [
    dict(zip(PENGUIN_KEYS, cells, strict=True))
    for cells in (
        ["Adelie", "Torgersen", "39.1", "18.7", "181", "3750", "male", "2007"],
        ["Adelie", "Torgersen", "NA", "NA", "NA", "NA", "NA", "2007"],
        ["Adelie", "Dream", "NA", "NA", "NA", "NA", "NA", "NA"],
        ["emperor", "Dream", "12345", "NA", "1.5", "99999999999", "it", "2007.0"],
        ["gentoo", "Biscoe", "46.1", "13.2", "211", "4 250", "Female", "2008"],
    )
]


def both_paths(settings, slug_or_spec, scope, rows):
    """Every row cleaned twice by each path (a text seen before is remembered), and whether each path was the one asked for."""
    upload_spec = get_spec(slug_or_spec) if isinstance(slug_or_spec, str) else slug_or_spec
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "COMPILED_VALIDATION": False}
    plain = RowValidator(upload_spec, scope)
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "COMPILED_VALIDATION": True}
    compiled = RowValidator(upload_spec, scope)
    twice = [*rows, *rows]
    return [plain.clean(dict(raw)) for raw in twice], [compiled.clean(dict(raw)) for raw in twice], plain.compiled, compiled.compiled


def test_the_timesheet_rules_give_the_same_values_and_messages_on_both_paths(settings, acme, workday):
    acme.lock_date = workday - datetime.timedelta(days=30)
    acme.save()
    rows = timesheet_rows(acme, workday)
    locked = {**rows[0], "date": (workday - datetime.timedelta(days=40)).isoformat()}
    expected, actual, was_plain, was_compiled = both_paths(settings, SPEC, acme, [*rows, locked])
    assert (was_plain, was_compiled) == (False, True)
    assert actual == expected
    invalid = [errors for values, errors in actual if values is None]
    assert len(invalid) >= 30
    messages = set(itertools.chain.from_iterable(m for errors in invalid for m in errors.values()))
    assert f"Entries up to {formats.date_format(acme.lock_date, 'SHORT_DATE_FORMAT')} are locked." in messages
    assert any(m.startswith("Project “") and m.endswith("” is closed.") for m in messages)  # clean_project_code ran


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("slug", "rows"),
    [("adoption_app-airport", AIRPORT_ROWS), ("adoption_app-stockprice", PRICE_ROWS), ("adoption_app-penguin", PENGUIN_ROWS)],
)
def test_the_adopters_specs_give_the_same_values_and_messages_on_both_paths(settings, slug, rows):
    for ticker in ("AAPL", "MSFT", "GOOG"):
        Company.objects.create(ticker=ticker, name=ticker)
    expected, actual, was_plain, was_compiled = both_paths(settings, slug, None, rows)
    assert (was_plain, was_compiled) == (False, True)
    assert actual == expected
    assert any(values is None for values, _errors in actual) and any(values is not None for values, _errors in actual)


class Counter(forms.CharField):
    """A field of the adopter's own that is not a function of the text alone: each cell it cleans gets the next number."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = 0

    def clean(self, value):
        self.seen += 1
        return f"{super().clean(value)}#{self.seen}"


class CountingRules(forms.Form):
    name = Counter(max_length=200)

    def clean(self):
        data = super().clean()
        if data.get("country") == "XX":
            raise forms.ValidationError("No such country.")
        return data


class CountedAirports(spec.ModelUploadSpec):
    model = Airport
    fields = ("iata", "name", "country", "latitude", "longitude")
    natural_key = ("iata",)
    form_class = CountingRules


@pytest.mark.django_db
def test_a_field_of_the_adopters_own_cleans_every_cell_and_the_forms_clean_still_runs(settings):
    row = {"iata": "SFO", "name": "Same", "country": "USA", "latitude": "1", "longitude": "2"}
    expected, actual, _plain, was_compiled = both_paths(settings, CountedAirports(), None, [row, row, {**row, "country": "XX"}])
    assert was_compiled and actual == expected
    assert [values["name"] for values, _errors in actual if values] == ["Same#1", "Same#2", "Same#4", "Same#5"]
    assert actual[2] == (None, {"__all__": ["No such country."]})


class DisabledRules(forms.Form):
    country = forms.CharField(disabled=True, initial="USA", required=False)


class DisabledAirports(CountedAirports):
    form_class = DisabledRules


@pytest.mark.django_db
def test_a_form_the_compiled_loop_cannot_honour_keeps_the_full_form_path(settings):
    row = {"iata": "SFO", "name": "San Francisco", "country": "France", "latitude": "1", "longitude": "2"}
    expected, actual, _plain, was_compiled = both_paths(settings, DisabledAirports(), None, [row])
    assert not was_compiled
    assert actual == expected and actual[0][0]["country"] == "USA"  # a disabled field keeps its initial value
