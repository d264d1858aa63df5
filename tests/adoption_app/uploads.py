"""The issue's three declarations, exactly as written there (autodiscovered like any app's uploads.py)."""

from bulkupload import spec

from .models import Airport, Penguin, StockPrice


@spec.register
class AirportUpload(spec.ModelUploadSpec):
    model = Airport
    fields = ("iata", "name", "city", "state", "country", "latitude", "longitude")
    natural_key = ("iata",)


@spec.register
class StockPriceUpload(spec.ModelUploadSpec):
    model = StockPrice
    fields = ("symbol", "date", "price")
    lookups = {"symbol": "ticker"}  # a ForeignKey named by a unique field of the related model
    natural_key = ("symbol", "date")
    date_formats = ("%b %d %Y",)  # tried after the engine's own formats


@spec.register
class PenguinUpload(spec.ModelUploadSpec):
    model = Penguin
    fields = ("species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year")
    empty_values = ("NA",)  # cells that mean "no value"
    import_mode = "create"  # no natural key: every valid row is a new record
