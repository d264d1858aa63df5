"""A broken spec is a system check error with an id at startup; the registry is an object like the admin's site."""

from __future__ import annotations

import io

import pytest
from django import forms
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from bulkupload import spec
from project.timesheets.models import Entry

from .adoption_app.models import Airport, Penguin, StockPrice


def ids(spec_class: type[spec.UploadSpec]) -> list[str]:
    return [message.id for message in spec_class().check()]


def declare(**attrs) -> type[spec.ModelUploadSpec]:
    """An airport spec that works, with ``attrs`` changed."""
    base = {"model": Airport, "fields": ("iata", "name", "country", "latitude", "longitude"), "natural_key": ("iata",), "slug": "x"}
    return type("BrokenUpload", (spec.ModelUploadSpec,), {"__module__": __name__, **base, **attrs})


def test_the_issues_specs_and_the_demo_pass_every_check():
    for slug in ("adoption_app-airport", "adoption_app-stockprice", "adoption_app-penguin", "timesheet-entries"):
        assert spec.get_spec(slug).check() == [], slug


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"model": None}, "bulkupload.E003"),
        ({"fields": ("iata", "nmae")}, "bulkupload.E004"),
        ({"fields": ("id", "iata")}, "bulkupload.E004"),
        ({"natural_key": ("code",)}, "bulkupload.E005"),
        ({"natural_key": ("city",)}, "bulkupload.E006"),
        ({"import_mode": "merge"}, "bulkupload.E007"),
        ({"natural_key": ()}, "bulkupload.E008"),
        ({"import_mode": "update", "natural_key": ()}, "bulkupload.E008"),
        ({"lookups": {"name": "ticker"}}, "bulkupload.E009"),
        ({"columns": (spec.Column("town", "Town", field="city"),)}, "bulkupload.E012"),
        ({"empty_values": "NA"}, "bulkupload.E014"),
        ({"batch_field": "name"}, "bulkupload.E015"),
        ({"slug": "airports/all"}, "bulkupload.E016"),
        ({"form_class": type("Rules", (forms.Form,), {"altitude": forms.IntegerField()})}, "bulkupload.E013"),
        ({"permissions": ()}, "bulkupload.W001"),
        ({"import_mode": "create"}, "bulkupload.W002"),
    ],
    ids=lambda value: value if isinstance(value, str) else "-".join(value),
)
def test_each_broken_declaration_fires_its_check(attrs, expected):
    assert expected in ids(declare(**attrs))


def test_lookup_checks_name_the_related_field():
    base = {"model": StockPrice, "fields": ("symbol", "date", "price"), "natural_key": ("symbol", "date")}
    assert ids(declare(**base, lookups={"symbol": "tickr"})) == ["bulkupload.E010"]
    [not_unique] = declare(**base, lookups={"symbol": "name"})().check()
    assert not_unique.id == "bulkupload.E011"
    assert "adoption_app.Company.name is not unique" in not_unique.msg


def test_a_custom_row_form_must_have_the_fields_its_columns_name():
    class RowForm(forms.Form):
        hours = forms.DecimalField()

    class HandWritten(spec.UploadSpec):
        slug = "hand-written"
        model = Entry
        form_class = RowForm
        natural_key = ("employee_id", "date", "project_id")
        columns = (spec.Column("hours", "Hours", field="hours"), spec.Column("note", "Note", field="note"))

    [message] = HandWritten().check()
    assert message.id == "bulkupload.E013"
    assert "RowForm has no field for the columns 'note'" in message.msg


def test_the_key_may_come_from_the_scope_when_the_spec_says_so():
    assert "bulkupload.E006" in ids(declare(model=Penguin, fields=("species", "year"), natural_key=("island", "year")))
    assert ids(declare(model=Penguin, fields=("species", "year"), natural_key=("island", "year"), scope_fields=("island",))) == []


def test_startup_fails_on_a_registered_broken_spec_with_its_id(db):
    broken = declare(slug="broken-airports", natural_key=())
    spec.register(broken)
    try:
        with pytest.raises(SystemCheckError, match=r"bulkupload.E008.*needs a natural_key"):
            call_command("check", stdout=io.StringIO(), stderr=io.StringIO())
    finally:
        spec.unregister(broken)
    call_command("check", stdout=io.StringIO())


# --- the registry ---------------------------------------------------------------------------------


class Airports(spec.ModelUploadSpec):
    model = Airport
    fields = ("iata", "name", "country", "latitude", "longitude")
    natural_key = ("iata",)


class OtherAirports(Airports):
    slug = Airports.slug


def test_register_unregister_and_is_registered():
    registry = spec.UploadRegistry()
    assert registry.register(Airports) is Airports
    assert registry.is_registered(Airports) and registry.is_registered("adoption_app-airport")
    assert not registry.is_registered(OtherAirports)
    assert isinstance(registry.get("adoption_app-airport"), Airports)
    assert registry.all() == [registry.get("adoption_app-airport")]

    with pytest.raises(spec.AlreadyRegistered, match=r"test_spec_checks\.OtherAirports cannot be registered .*Airports already is"):
        registry.register(OtherAirports)
    with pytest.raises(spec.NotRegistered, match=r"OtherAirports is not registered"):
        registry.unregister(OtherAirports)

    registry.unregister(Airports)
    assert not registry.is_registered(Airports)
    with pytest.raises(spec.NotRegistered, match="No upload spec is registered as 'adoption_app-airport'"):
        registry.get("adoption_app-airport")


def test_autodiscovery_leaves_the_registry_unchanged_when_an_uploads_module_fails():
    before = dict(spec.registry._registry)
    with pytest.raises(ImportError, match="broken on purpose"):
        spec.registry.autodiscover("broken_uploads")
    assert spec.registry._registry == before
    assert not spec.is_registered("half-declared-airports")
