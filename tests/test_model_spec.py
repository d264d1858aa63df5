"""ModelUploadSpec as a new adopter declares it: the issue's three specs walked through the wizard over real requests."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from bulkupload import mapping, spec, workbook
from bulkupload.models import UploadBatch, UploadRow

from .adoption_app.models import Airport, Company, Penguin, StockPrice
from .conftest import on_postgres
from .helpers import Wizard, csv_file, xlsx_file

AIRPORTS = "adoption_app-airport"
PRICES = "adoption_app-stockprice"
PENGUINS = "adoption_app-penguin"

AIRPORT_HEADER = ["IATA code", "Name", "City", "State", "Country", "Latitude", "Longitude"]
AIRPORT_ROWS = [
    ["SFO", "San Francisco International", "San Francisco", "CA", "USA", "37.619", "-122.375"],
    ["JFK", "John F Kennedy Intl", "New York", "NY", "USA", "40.64", "-73.779"],
    ["ORD", "Chicago O'Hare Intl", "Chicago", "IL", "USA", "41.979", "-87.904"],
    ["LAX", "Los Angeles International", "Los Angeles", "CA", "USA", "33.943", "-118.408"],
]


def adopter(username: str, *models_: str) -> Client:
    """A user with the add and change permissions of ``models_`` (model names of the test app)."""
    user = get_user_model().objects.create_user(username, password="x")
    codenames = [f"{action}_{name}" for name in models_ for action in ("add", "change")]
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="adoption_app", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ada(db) -> Client:
    return adopter("ada", "airport", "stockprice", "penguin")


def walk(client: Client, slug: str, content: bytes, name: str) -> Wizard:
    """Upload, preview and confirm, each a separate request; the receipt must be reached."""
    wizard = Wizard(client, spec=slug).start()
    response = wizard.run(content, name)
    assert response.status_code == 302, response
    assert wizard.batch().status == UploadBatch.Status.APPLIED
    return wizard


def airports_in_db() -> list[list[str]]:
    return [[a.iata, a.name, a.city, a.state, a.country, repr(a.latitude), repr(a.longitude)] for a in Airport.objects.order_by("pk")]


# --- derived from the model ---------------------------------------------------------------------


def test_columns_come_from_the_model_fields():
    airports = spec.get_spec(AIRPORTS)
    columns = {c.key: c for c in airports.columns}

    assert [str(c.label) for c in airports.columns] == AIRPORT_HEADER
    assert columns["iata"].required and columns["country"].required and not columns["city"].required
    assert str(columns["iata"].help_text) == "Three letters, like SFO."
    assert airports.slug == AIRPORTS and airports.get_title() == "Airports"
    assert airports.get_permissions() == ("adoption_app.add_airport", "adoption_app.change_airport")
    species = spec.get_spec(PENGUINS).column("species")
    assert species.choices == ("Adelie", "Chinstrap", "Gentoo")


@pytest.mark.parametrize("name", ["airports.csv", "airports.xlsx"])
def test_airports_upload_as_written_and_headers_match_by_field_name_too(ada, name):
    header = ["iata", "NAME", "city", "State", "country", "LATITUDE", "longitude"]  # field names, any case
    content = csv_file(AIRPORT_ROWS, header) if name.endswith(".csv") else xlsx_file(AIRPORT_ROWS, header)

    wizard = walk(ada, AIRPORTS, content, name)

    assert wizard.batch().created_count == 4
    assert airports_in_db() == [[*row[:5], repr(float(row[5])), repr(float(row[6]))] for row in AIRPORT_ROWS]


def test_the_same_file_again_is_all_unchanged_and_three_changed_cells_are_three_updates(ada):
    walk(ada, AIRPORTS, csv_file(AIRPORT_ROWS, AIRPORT_HEADER), "airports.csv")

    again = Wizard(ada, spec=AIRPORTS).start()
    again.upload(csv_file(AIRPORT_ROWS, AIRPORT_HEADER), "airports.csv")
    assert (again.batch().unchanged_count, again.batch().new_count, again.batch().update_count) == (4, 0, 0)

    edited = [list(row) for row in AIRPORT_ROWS]
    edited[0][1] = "SFO International"
    edited[2][2] = "Chicago, Illinois"
    edited[3][5] = "33.9425"
    third = Wizard(ada, spec=AIRPORTS).start()
    third.run(csv_file(edited, AIRPORT_HEADER), "airports.csv")

    batch = third.batch()
    assert (batch.updated_count, batch.created_count, batch.unchanged_count) == (3, 0, 1)
    changes = dict(batch.rows.exclude(changes={}).values_list("row_number", "changes"))
    assert changes == {2: {"name": "San Francisco International"}, 4: {"city": "Chicago"}, 5: {"latitude": "33.943"}}
    assert Airport.objects.get(iata="LAX").latitude == 33.9425


def test_model_rules_are_cell_errors(ada):
    rows = [
        ["SFOX", "Too long a code", "", "", "USA", "1", "2"],
        ["BOS", "", "", "", "USA", "1", "2"],
        ["SEA", "Seattle", "", "", "USA", "north", "2"],
    ]
    wizard = Wizard(ada, spec=AIRPORTS).start()
    wizard.upload(csv_file(rows, AIRPORT_HEADER), "bad.csv")

    errors = {row.row_number: row.all_errors() for row in wizard.batch().rows.all()}
    assert errors[2] == {"iata": ["Ensure this value has at most 3 characters (it has 4)."]}
    assert errors[3] == {"name": ["This field is required."]}
    assert errors[4] == {"latitude": ["“north” is not a number."]}


# --- lookups, date formats ----------------------------------------------------------------------


@pytest.fixture
def companies(db):
    return {t: Company.objects.create(ticker=t, name=f"{t} Inc.") for t in ("AAPL", "MSFT", "GOOG")}


def test_a_lookup_finds_the_related_record_by_its_unique_field_and_unknown_values_are_cell_errors(ada, companies):
    rows = [["AAPL", "Jan 02 2024", "185.64"], ["msft", "2024-01-02", "370.87"], ["TSLA", "2024-01-02", "248.42"]]
    wizard = Wizard(ada, spec=PRICES).start()
    wizard.upload(xlsx_file(rows, ["Symbol", "Date", "Price"]), "prices.xlsx")

    by_row = {row.row_number: row for row in wizard.batch().rows.all()}
    assert by_row[4].all_errors() == {"symbol": ["Unknown company “TSLA”."]}
    assert by_row[2].status == by_row[3].status == UploadRow.Status.NEW
    preview = wizard.preview()
    assert [row["cells"][0]["value"] for row in preview.context["rows"]] == ["AAPL", "msft", "TSLA"]
    assert "Unknown company “TSLA”." in preview.content.decode()

    wizard.to_confirm()
    wizard.confirm(skip_invalid=True)
    assert sorted(StockPrice.objects.values_list("symbol__ticker", "date", "price")) == [
        ("AAPL", datetime.date(2024, 1, 2), Decimal("185.6400")),
        ("MSFT", datetime.date(2024, 1, 2), Decimal("370.8700")),
    ]


def test_lookups_are_loaded_once_per_upload_not_per_row(ada, companies, django_assert_max_num_queries):
    from bulkupload.validation import RowValidator

    prices = spec.get_spec(PRICES)
    validator = RowValidator(prices, None)
    raws = [{"symbol": ("AAPL", "MSFT", "GOOG")[n % 3], "date": f"2024-01-{n % 28 + 1:02d}", "price": "1"} for n in range(300)]
    with django_assert_max_num_queries(1):  # the existing prices of the chunk; the companies were loaded before
        results = validator.validate_chunk(raws)
    assert all(r.values is not None for r in results)


def test_preview_error_report_and_export_show_the_lookup_value_never_a_primary_key(ada, companies):
    day = datetime.date(2024, 1, 2)
    StockPrice.objects.create(symbol=companies["GOOG"], date=day, price=Decimal("140"))
    rows = [["GOOG", "2024-01-02", "141.5"], ["NOPE", "2024-01-02", "1"]]
    wizard = Wizard(ada, spec=PRICES).start()
    wizard.upload(csv_file(rows, ["Symbol", "Date", "Price"]), "prices.csv")

    update = wizard.batch().rows.get(row_number=2)
    assert update.status == UploadRow.Status.UPDATE and update.changes == {"price": "140"}
    report = ada.get(reverse("bulkupload:error_report", kwargs={"spec": PRICES, "upload_id": wizard.upload_id}))
    sheet = load_workbook(io.BytesIO(report.content)).worksheets[0]
    # The lookup as the user typed it; the date and the price keep their types (issue 14).
    assert [c.value for c in sheet[2]][:3] == ["NOPE", datetime.datetime(2024, 1, 2), 1]

    exported = load_workbook(io.BytesIO(workbook.export_workbook(spec.get_spec(PRICES), StockPrice.objects.all()))).worksheets[0]
    assert [[c.value for c in row] for row in exported.iter_rows(min_row=1, max_row=2)] == [
        ["Symbol", "Date", "Price"],
        ["GOOG", datetime.datetime(2024, 1, 2), 140],
    ]


def test_the_template_offers_the_lookup_values_in_a_dropdown(ada, companies):
    response = ada.get(reverse("bulkupload:template", kwargs={"spec": PRICES}))
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    [symbols] = [dv for dv in sheet.data_validations.dataValidation if str(dv.sqref).startswith("A")]
    assert symbols.formula1 == '"AAPL,GOOG,MSFT"'


def test_date_formats_are_tried_after_the_engines_own(ada, companies):
    rows = [["AAPL", "Mar 15 2024", "1"], ["AAPL", "15.03.2023", "2"], ["AAPL", "15 March 2022", "3"]]
    wizard = Wizard(ada, spec=PRICES).start()
    wizard.upload(csv_file(rows, ["Symbol", "Date", "Price"]), "prices.csv")

    rows_ = {row.row_number: row for row in wizard.batch().rows.all()}
    assert rows_[2].data["date"] == "2024-03-15" and rows_[3].data["date"] == "2023-03-15"
    assert rows_[4].all_errors() == {"date": ["“15 March 2022” is not a date; use YYYY-MM-DD."]}


# --- create mode, empty values -----------------------------------------------------------------


PENGUIN_HEADER = ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year"]


def test_penguins_are_created_every_time_with_na_as_no_value_and_no_duplicate_errors(ada):
    rows = [
        ["Adelie", "Torgersen", "39.1", "18.7", "181", "3750", "male", "2007"],
        ["Adelie", "Torgersen", "NA", "NA", "NA", "NA", "NA", "2007"],
        ["Adelie", "Torgersen", "NA", "NA", "NA", "NA", "NA", "2007"],  # the same row again: another penguin
        ["gentoo", "Biscoe", "46.1", "13.2", "211", "4500", "Female", "2008"],
    ]
    walk(ada, PENGUINS, csv_file(rows, PENGUIN_HEADER), "penguins.csv")
    second = walk(ada, PENGUINS, csv_file(rows, PENGUIN_HEADER), "penguins.csv")

    assert second.batch().created_count == 4 and Penguin.objects.count() == 8
    assert not UploadRow.objects.filter(status=UploadRow.Status.INVALID).exists()
    unknown = Penguin.objects.filter(bill_length_mm__isnull=True).first()
    assert (unknown.bill_depth_mm, unknown.flipper_length_mm, unknown.body_mass_g, unknown.sex) == (None, None, None, "")
    assert set(Penguin.objects.values_list("species", "sex")) == {("adelie", "male"), ("adelie", ""), ("gentoo", "female")}


def test_na_in_a_required_column_is_a_missing_value(ada):
    wizard = Wizard(ada, spec=PENGUINS).start()
    wizard.upload(csv_file([["Adelie", "Dream", "NA", "NA", "NA", "NA", "NA", "NA"]], PENGUIN_HEADER), "penguins.csv")
    assert wizard.batch().rows.get().all_errors() == {"year": ["This field is required."]}


# --- update mode ---------------------------------------------------------------------------------


class AirportRenames(spec.ModelUploadSpec):
    slug = "airport-renames"
    model = Airport
    fields = ("iata", "name")
    natural_key = ("iata",)
    import_mode = "update"


@pytest.fixture
def renames():
    spec.register(AirportRenames)
    yield AirportRenames
    spec.unregister(AirportRenames)


def test_update_mode_changes_existing_records_and_rows_without_one_are_invalid(ada, renames):
    Airport.objects.create(iata="SFO", name="San Francisco", country="USA", latitude=1, longitude=2)
    wizard = Wizard(ada, spec="airport-renames").start()
    wizard.upload(csv_file([["SFO", "SFO Intl"], ["XXX", "Nowhere"]], ["IATA code", "Name"]), "renames.csv")

    assert wizard.batch().rows.get(row_number=3).all_errors() == {"__all__": ["No existing record with this key."]}
    wizard.to_confirm()
    wizard.confirm(skip_invalid=True)
    assert list(Airport.objects.values_list("iata", "name")) == [("SFO", "SFO Intl")]
    assert wizard.batch().updated_count == 1 and wizard.batch().created_count == 0


def test_a_repeated_key_names_a_few_rows_not_every_row(ada):
    rows = [["SFO", f"Copy {n}", "", "", "USA", "1", "2"] for n in range(40)]
    wizard = Wizard(ada, spec=AIRPORTS).start()
    wizard.upload(csv_file(rows, AIRPORT_HEADER), "copies.csv")

    errors = wizard.batch().rows.get(row_number=2).all_errors()
    assert errors == {"__all__": ["Duplicate of rows 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 and 29 more (same key)."]}
    assert wizard.batch().rows.get(row_number=41).all_errors()["__all__"][0].startswith("Duplicate of rows 2, 3, 4,")


# --- permissions ---------------------------------------------------------------------------------


def test_without_the_models_add_and_change_permissions_the_upload_is_refused_saying_why(db):
    viewer = adopter("vic")  # logged in, no permission on airports
    for url in (reverse("bulkupload:start", kwargs={"spec": AIRPORTS}), reverse("bulkupload:template", kwargs={"spec": AIRPORTS})):
        response = viewer.get(url)
        assert response.status_code == 403
        assert "You need permission to add and change airports to upload them" in response.content.decode()
    assert viewer.post(reverse("bulkupload:start", kwargs={"spec": AIRPORTS})).status_code == 403
    assert not UploadBatch.objects.exists()
    assert AIRPORTS not in viewer.get(reverse("bulkupload:index")).content.decode()
    only_add = adopter("ann")
    get_user_model().objects.get(username="ann").user_permissions.set(Permission.objects.filter(codename="add_airport"))
    assert only_add.get(reverse("bulkupload:start", kwargs={"spec": AIRPORTS})).status_code == 403
    assert adopter("bea", "airport").get(reverse("bulkupload:start", kwargs={"spec": AIRPORTS})).status_code == 200


# --- scope: the timesheet demo filters its lookups by tenant ------------------------------------


def test_the_demo_finds_employees_and_projects_only_in_the_uploaders_tenant(bob, globex, demo, workday):
    from project.timesheets.models import Employee, Entry

    acme_email = Employee.objects.filter(tenant=demo["acme"]).values_list("email", flat=True).first()
    globex_email = Employee.objects.filter(tenant=globex).values_list("email", flat=True).first()
    rows = [[globex_email, workday, "P-001", 8, "yes", "Development", ""], [acme_email, workday, "P-002", 8, "yes", "Development", ""]]
    wizard = Wizard(bob).start()
    wizard.upload(xlsx_file(rows))

    assert wizard.batch().rows.get(row_number=3).all_errors() == {"employee_email": [f"Unknown employee “{acme_email}”."]}
    wizard.to_confirm()
    wizard.confirm(skip_invalid=True)
    entry = Entry.objects.get(upload_batch_id=wizard.upload_id)  # P-001 exists in both tenants: Globex's is meant
    assert entry.project.tenant == globex and entry.employee.tenant == globex and entry.tenant == globex


class NamedAirports(spec.ModelUploadSpec):
    """Overrides: a column's key, label and aliases, and a cell's parsing (a form field of the spec's own)."""

    slug = "named-airports"
    model = Airport
    fields = ("iata", "name", "country", "latitude", "longitude")
    natural_key = ("iata",)
    columns = (
        spec.Column("code", "Airport code", field="iata", aliases=("faa",)),
        spec.Column("latitude", form_field=forms.FloatField(min_value=-90, max_value=90), width=9),
    )


def test_a_column_overrides_what_the_model_says():
    named = NamedAirports()
    code, latitude = named.column("code"), named.column("latitude")
    assert (str(code.label), code.aliases, code.field, code.required) == ("Airport code", ("faa", "iata"), "iata", True)
    assert latitude.width == 9 and str(latitude.label) == "Latitude"
    assert mapping.map_header(named, ["FAA", "name", "country", "latitude", "longitude"]).positions["code"] == 0

    cells = {"code": "SFO", "name": "x", "country": "USA", "latitude": "91", "longitude": "1"}
    form = named.get_form(named.get_row_context(None), data=cells)
    assert not form.is_valid() and form.errors == {"latitude": ["Ensure this value is less than or equal to 90."]}


def test_a_record_deleted_after_the_preview_is_skipped_in_update_mode_never_created(ada, renames):
    Airport.objects.create(iata="SFO", name="San Francisco", country="USA", latitude=1, longitude=2)
    wizard = Wizard(ada, spec="airport-renames").start()
    wizard.upload(csv_file([["SFO", "SFO Intl"]], ["IATA code", "Name"]), "renames.csv")
    wizard.to_confirm()
    Airport.objects.all().delete()

    wizard.confirm()

    batch = wizard.batch()
    assert not Airport.objects.exists()
    assert (batch.created_count, batch.updated_count, batch.skipped_count) == (0, 0, 1)
    assert batch.rows.get().outcome == UploadRow.Outcome.SKIPPED


def test_lookup_values_past_the_limit_get_no_dropdown(ada, companies, settings):
    settings.BULKUPLOAD = {**settings.BULKUPLOAD, "LOOKUP_DROPDOWN_MAX_VALUES": 2}
    response = ada.get(reverse("bulkupload:template", kwargs={"spec": PRICES}))
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert not [dv for dv in sheet.data_validations.dataValidation if str(dv.sqref).startswith("A")]


def test_a_long_list_of_lookup_values_is_kept_in_a_hidden_sheet(alice, acme):
    from project.timesheets.models import Employee

    response = alice.get(reverse("bulkupload:template", kwargs={"spec": "timesheet-entries"}))
    book = load_workbook(io.BytesIO(response.content))
    [employees] = [dv for dv in book.worksheets[0].data_validations.dataValidation if str(dv.sqref).startswith("A")]
    lists = book[workbook.LISTS_SHEET]
    emails = sorted(Employee.objects.filter(tenant=acme).values_list("email", flat=True))
    assert employees.formula1 == f"{workbook.LISTS_SHEET}!$A$1:$A${len(emails)}"
    assert lists.sheet_state == "hidden" and [row[0].value for row in lists.iter_rows()] == emails


def test_decimal_digits_and_the_database_integer_range_are_cell_errors(ada):
    rows = [
        ["Adelie", "Dream", "12345", "NA", "NA", "NA", "NA", "2007"],
        ["Adelie", "Dream", "NA", "NA", "NA", "99999999999", "NA", "2007"],
        ["Adelie", "Dream", "NA", "NA", "NA", "4 250", "NA", "2007.0"],
    ]
    wizard = Wizard(ada, spec=PENGUINS).start()
    wizard.upload(csv_file(rows, PENGUIN_HEADER), "penguins.csv")

    errors = {row.row_number: row.all_errors() for row in wizard.batch().rows.all()}
    assert errors[2] == {"bill_length_mm": ["Ensure that there are no more than 4 digits before the decimal point."]}
    if on_postgres():  # its integer column holds 32 bits: a bigger number is refused at the cell, not by the INSERT at confirm
        assert list(errors[3]) == ["body_mass_g"] and "less than or equal to 2147483647" in errors[3]["body_mass_g"][0]
    else:  # SQLite's integers hold 64 bits
        assert errors[3] == {}
    assert errors[4] == {}
    assert wizard.batch().rows.get(row_number=4).data["body_mass_g"] == 4250


class IslandCensus(spec.ModelUploadSpec):
    """A key partly given by the scope: each user counts the penguins of their island."""

    slug = "island-census"
    model = Penguin
    fields = ("species", "year", "body_mass_g")
    natural_key = ("island", "species", "year")
    scope_fields = ("island",)

    def get_scope(self, user):
        return "Biscoe" if user.is_authenticated else None

    def get_queryset(self, scope):
        return Penguin.objects.filter(island=scope)

    def scope_values(self, scope):
        return {"island": scope}


@pytest.fixture
def census():
    spec.register(IslandCensus)
    yield IslandCensus
    spec.unregister(IslandCensus)


def test_a_natural_key_may_take_a_part_from_the_scope(ada, census):
    Penguin.objects.create(species="adelie", island="Dream", year=2007, body_mass_g=1)  # another island: never matched
    header = ["species", "year", "body_mass_g"]
    walk(ada, "island-census", csv_file([["Adelie", "2007", "3750"], ["Gentoo", "2007", "5000"]], header), "census.csv")
    second = walk(ada, "island-census", csv_file([["Adelie", "2007", "3800"], ["Gentoo", "2007", "5000"]], header), "census.csv")

    assert (second.batch().updated_count, second.batch().unchanged_count, second.batch().created_count) == (1, 1, 0)
    assert sorted(Penguin.objects.values_list("island", "species", "body_mass_g")) == [
        ("Biscoe", "adelie", 3800),
        ("Biscoe", "gentoo", 5000),
        ("Dream", "adelie", 1),
    ]
