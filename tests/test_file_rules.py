"""File rules, in both shapes a spec may write them: a run handed each row as the file is staged (``start``), or a
``check`` over all the rows, read back from the database. Either way the flagged rows are the same, at staging and
after a fix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bulkupload import services, spec
from bulkupload.models import UploadRow

from .adoption_app.models import Airport
from .helpers import Wizard, csv_file
from .test_model_spec import AIRPORT_HEADER, ada  # noqa: F401 (a fixture)

CITY_TWICE = "Another airport of this file is in {city}."


class OneAirportPerCity(spec.FileRule):
    """Written the way rules were before runs: all rows at once, in ``check``."""

    def check(self, rows, *, spec, scope) -> Iterator[tuple[int, str, str]]:
        rows = list(rows)
        cities = Counter(row.values["city"] for row in rows if row.values["city"])
        for row in rows:
            if cities[row.values["city"]] > 1:
                yield row.id, "city", CITY_TWICE.format(city=row.values["city"])


class CityRun:
    def __init__(self) -> None:
        self.rows: list[tuple[int, str]] = []

    def add(self, row: spec.StagedRow) -> None:
        if row.values["city"]:
            self.rows.append((row.id, row.values["city"]))

    def findings(self) -> Iterator[tuple[int, str, str]]:
        cities = Counter(city for _id, city in self.rows)
        for row_id, city in self.rows:
            if cities[city] > 1:
                yield row_id, "city", CITY_TWICE.format(city=city)


class OneAirportPerCityAsRun(spec.FileRule):
    """The same rule as a run: staging hands it each valid row as it is read."""

    def start(self, *, spec, scope) -> CityRun:
        return CityRun()


class AirportsChecked(spec.ModelUploadSpec):
    slug = "airports-checked"
    model = Airport
    fields = ("iata", "name", "city", "state", "country", "latitude", "longitude")
    natural_key = ("iata",)
    file_rules = (OneAirportPerCity(),)


class AirportsRun(AirportsChecked):
    slug = "airports-run"
    file_rules = (OneAirportPerCityAsRun(),)


@pytest.fixture
def airport_specs():
    spec.register(AirportsChecked)
    spec.register(AirportsRun)
    yield
    spec.unregister(AirportsChecked)
    spec.unregister(AirportsRun)


ROWS = [
    ["SFO", "San Francisco International", "San Francisco", "CA", "USA", "37.619", "-122.375"],
    ["OAK", "Oakland International", "Oakland", "CA", "USA", "37.72", "-122.22"],
    ["JFK", "John F Kennedy Intl", "New York", "NY", "USA", "40.64", "-73.779"],
    ["BAD", "Not a place", "Oakland", "CA", "USA", "north", "1"],  # invalid: a file rule never sees it
    ["LGA", "LaGuardia", "New York", "NY", "USA", "40.77", "-73.87"],
    ["EWR", "Newark Liberty", "New York", "NJ", "USA", "40.69", "-74.17"],
]


def city_errors(batch) -> dict[int, list[str]]:
    found = UploadRow.objects.filter(batch=batch).order_by("row_number").values_list("row_number", "file_errors")
    return {number: errors.get("city", []) for number, errors in found if errors.get("city")}


@pytest.mark.parametrize("slug", ["airports-checked", "airports-run"])
def test_a_file_rule_flags_the_same_rows_at_staging_and_after_a_fix_whichever_way_it_is_written(ada, airport_specs, slug):  # noqa: F811
    wizard = Wizard(ada, spec=slug).start()
    response = wizard.upload(csv_file(ROWS, AIRPORT_HEADER), "airports.csv")
    assert response.status_code == 302
    batch = wizard.batch()
    new_york = [CITY_TWICE.format(city="New York")]
    # Row 5 ("BAD", Oakland) is invalid, so Oakland has one valid airport: row 3 is not flagged.
    assert city_errors(batch) == {4: new_york, 6: new_york, 7: new_york}
    assert batch.invalid_count == 4

    # A fix makes row 5 valid: the rule now sees two airports in Oakland (read back from the database).
    bad = batch.rows.get(row_number=5)
    services.save_fixes(batch=batch, edits={bad.pk: {**bad.values, "latitude": "37.7"}})
    assert city_errors(wizard.batch()) == {3: [CITY_TWICE.format(city="Oakland")], 5: [CITY_TWICE.format(city="Oakland")]} | {
        4: new_york,
        6: new_york,
        7: new_york,
    }


def test_a_rule_run_is_handed_the_rows_as_they_are_staged_and_never_reads_them_back(ada, airport_specs):  # noqa: F811
    stored = {}
    for slug in ("airports-checked", "airports-run"):
        wizard = Wizard(ada, spec=slug).start()
        with CaptureQueriesContext(connection) as queries:
            wizard.upload(csv_file(ROWS, AIRPORT_HEADER), "airports.csv")
        stored[slug] = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and '"data"' in q["sql"] and "uploadrow" in q["sql"]]
    assert stored["airports-checked"]  # the rule written as check() reads the valid rows back
    assert stored["airports-run"] == []
