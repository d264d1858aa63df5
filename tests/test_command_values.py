"""`manage.py bulkupload import` answers the wizard's values step: --date-order, --map-value, remembered mappings."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management.base import CommandError
from django.utils import translation

from bulkupload.models import RememberedValues, UploadBatch
from project.timesheets.models import Entry

from .helpers import SPEC, csv_file
from .test_command import bulkupload, saved

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_english():
    """The command speaks the active language (a page test before it may have left another one active)."""
    with translation.override("en"):
        yield


def entries(people, dates, activities=("Design", "Design")):
    e, p = people["emails"], people["codes"]
    return csv_file(
        [[e[n], text, p[0], "1", "yes", activity, ""] for n, (text, activity) in enumerate(zip(dates, activities, strict=True))]
    )


def refused(*args: str) -> tuple[CommandError, str]:
    err = io.StringIO()
    with pytest.raises(CommandError) as failure:
        bulkupload("import", SPEC, *args, "--user", "alice", stderr=err)
    return failure.value, err.getvalue()


AMBIGUOUS = ("03/11/2026", "10/11/2026")  # 3 and 10 November, or 11 March and 11 October


def test_an_ambiguous_date_column_is_asked_about_and_nothing_is_written(acme, acme_people, tmp_path):
    path = saved(tmp_path, entries(acme_people, AMBIGUOUS), "dates.csv")

    failure, err = refused(path)

    assert failure.returncode == 1
    assert "--date-order" in str(failure)
    [line] = [line for line in err.splitlines() if line.startswith("Column “Date”")]
    # Two examples, each read both ways, and the two answers spelled out.
    assert "“03/11/2026” is Nov. 3, 2026 day-first, March 11, 2026 month-first" in line
    assert "“10/11/2026”" in line
    assert '--date-order "Date=day-first" or --date-order "Date=month-first"' in line
    assert Entry.objects.count() == 0


def test_a_dry_run_of_an_ambiguous_date_column_is_not_clean_either(acme, acme_people, tmp_path):
    failure, err = refused(saved(tmp_path, entries(acme_people, AMBIGUOUS), "dates.csv"), "--dry-run")
    assert failure.returncode == 1 and "Column “Date”" in err


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("Date=month-first", [datetime.date(2026, 3, 11), datetime.date(2026, 10, 11)]),
        ("date=day-first", [datetime.date(2026, 11, 3), datetime.date(2026, 11, 10)]),
        ("day-first", [datetime.date(2026, 11, 3), datetime.date(2026, 11, 10)]),  # every column the file cannot tell
    ],
)
def test_date_order_reads_the_column_one_way(acme, acme_people, tmp_path, option, expected):
    path = saved(tmp_path, entries(acme_people, AMBIGUOUS), "dates.csv")

    out, _err = bulkupload("import", SPEC, path, "--user", "alice", "--date-order", option)

    assert out.strip().endswith(": 2 created, 0 updated, 0 unchanged, 0 skipped.")
    assert sorted(Entry.objects.values_list("date", flat=True)) == expected


def test_a_file_that_tells_its_date_order_needs_no_answer(acme, acme_people, tmp_path):
    path = saved(tmp_path, entries(acme_people, ("03/11/2026", "13/11/2026")), "dates.csv")  # 13/11 can only be day-first

    bulkupload("import", SPEC, path, "--user", "alice")

    assert sorted(Entry.objects.values_list("date", flat=True)) == [datetime.date(2026, 11, 3), datetime.date(2026, 11, 13)]


def german(people):
    return entries(people, ("2026-11-03", "2026-11-04"), ("Entwicklung", "Entwicklung"))


def test_an_unmatched_value_is_reported_with_a_suggestion_and_how_to_map_it(acme, acme_people, tmp_path):
    failure, err = refused(saved(tmp_path, german(acme_people), "german.csv"))

    assert failure.returncode == 1
    assert (
        "Column “Activity”: “Entwicklung” (2 rows, maybe Development) matches no allowed value. "
        'Map it with --map-value "Activity=Entwicklung=Development".'
    ) in err.splitlines()
    assert Entry.objects.count() == 0


def test_map_value_applies_and_is_remembered_for_the_next_import(acme, acme_people, workday, tmp_path):
    path = saved(tmp_path, german(acme_people), "german.csv")

    bulkupload("import", SPEC, path, "--user", "alice", "--map-value", "Activity=Entwicklung=development")

    assert set(Entry.objects.values_list("activity", flat=True)) == {"Development"}
    assert RememberedValues.objects.get(owner__username="alice", spec=SPEC).choices["activity"] == {"entwicklung": "Development"}
    # The next file with the same value needs no option: the user's mapping applies, and the command says so.
    again = saved(tmp_path, entries(acme_people, ("2026-11-05", "2026-11-06"), ("Entwicklung", "Design")), "again.csv")
    out, err = bulkupload("import", SPEC, again, "--user", "alice")
    assert out.strip().endswith(": 2 created, 0 updated, 0 unchanged, 0 skipped.")
    assert "“Entwicklung” in “Activity” was read as Development, as you chose before" in err
    assert Entry.objects.filter(activity="Development").count() == 3


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("Activity=Entwicklung=Gardening", "“Gardening” is not an allowed value of “Activity”"),
        ("Colour=Entwicklung=Development", "There is no column “Colour”"),
        ("Activity", "write it as COLUMN=VALUE IN THE FILE=ALLOWED VALUE"),
    ],
)
def test_a_map_value_naming_nothing_allowed_exits_2_and_leaves_no_upload(acme, acme_people, tmp_path, option, message):
    failure, _err = refused(saved(tmp_path, german(acme_people), "german.csv"), "--map-value", option)

    assert failure.returncode == 2
    assert message in str(failure)
    assert UploadBatch.objects.count() == 0 and Entry.objects.count() == 0


@pytest.mark.parametrize(
    ("option", "message"), [("Date=sideways", "say day-first or month-first"), ("Hours=day-first", "“Hours” is not a date column")]
)
def test_a_date_order_naming_nothing_it_can_answer_exits_2(acme, acme_people, tmp_path, option, message):
    failure, _err = refused(saved(tmp_path, entries(acme_people, AMBIGUOUS), "dates.csv"), "--date-order", option)
    assert failure.returncode == 2 and message in str(failure)
    assert UploadBatch.objects.count() == 0


def test_the_question_is_asked_in_german_with_german_dates(acme, acme_people, tmp_path):
    path = saved(tmp_path, entries(acme_people, AMBIGUOUS), "dates.csv")
    with translation.override("de"):
        failure, err = refused(path)
    assert "Geben Sie mit --date-order an" in str(failure)
    assert "„03/11/2026“ ist mit dem Tag zuerst der 3. November 2026, mit dem Monat zuerst der 11. März 2026" in err
