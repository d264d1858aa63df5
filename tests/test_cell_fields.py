"""The spreadsheet-tolerant fields a ModelUploadSpec derives for times, date-times, whole numbers, floats and nullable flags."""

import datetime
import re

import pytest
from django.core.exceptions import ValidationError

from bulkupload import fields


def test_times_as_the_reader_writes_them_or_as_typed():
    field = fields.SpreadsheetTimeField()
    assert field.clean("07:30:00") == datetime.time(7, 30)
    assert field.clean(" 7:30 ") == datetime.time(7, 30)
    assert field.clean("7:30 PM") == datetime.time(19, 30)
    with pytest.raises(ValidationError, match=re.escape("“7.5h” is not a time of day; use HH:MM.")):
        field.clean("7.5h")


def test_date_times_with_the_specs_own_date_formats():
    field = fields.SpreadsheetDateTimeField(date_formats=("%b %d %Y",))
    assert field.clean("2026-01-05 07:30:00").replace(tzinfo=None) == datetime.datetime(2026, 1, 5, 7, 30)
    assert field.clean("2026-01-05").replace(tzinfo=None) == datetime.datetime(2026, 1, 5)
    assert field.clean("Jan 05 2026 07:30").replace(tzinfo=None) == datetime.datetime(2026, 1, 5, 7, 30)
    with pytest.raises(ValidationError, match="is not a date and time"):
        field.clean("soon")


def test_whole_numbers_and_floats_as_typed_in_a_sheet():
    assert fields.SpreadsheetIntegerField().clean("1 250") == 1250
    assert fields.SpreadsheetIntegerField().clean("2007.0") == 2007
    assert fields.SpreadsheetFloatField().clean("37,5") == 37.5
    with pytest.raises(ValidationError, match=re.escape("“2.5” is not a whole number.")):
        fields.SpreadsheetIntegerField().clean("2.5")


def test_a_nullable_flag_leaves_a_blank_cell_unknown():
    assert fields.SpreadsheetBooleanField(nullable=True).clean("") is None
    assert fields.SpreadsheetBooleanField().clean("") is False
    assert fields.SpreadsheetBooleanField(nullable=True).clean("x") is True


def test_choices_accept_labels_and_values_and_return_the_value():
    field = fields.LenientChoiceField(choices=[("m", "Male"), ("f", "Female")])
    assert (field.clean("male"), field.clean("F"), field.clean("Female")) == ("m", "f", "f")
    with pytest.raises(ValidationError, match=re.escape("“x” is not one of: Male, Female.")):
        field.clean("x")


def test_a_lookup_table_matches_exactly_then_regardless_of_case_and_names_ambiguity():
    table = fields.LookupTable([("AAPL", 1), ("aapl", 2), ("MSFT", 3)])
    assert (table.find("AAPL"), table.find("aapl"), table.find("msft")) == (1, 2, 3)
    assert table.find("Aapl") is fields.AMBIGUOUS and table.find("GOOG") is None
    field = fields.LookupField(model_name="company")
    field.table = table
    with pytest.raises(ValidationError, match=re.escape("“Aapl” matches more than one company.")):
        field.clean("Aapl")
