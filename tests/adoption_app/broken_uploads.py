"""An uploads module that registers a spec and then fails to import: autodiscovery must roll the registration back."""

from bulkupload import spec

from .models import Airport


@spec.register
class HalfDeclaredAirportUpload(spec.ModelUploadSpec):
    slug = "half-declared-airports"
    model = Airport
    fields = ("iata", "name")
    natural_key = ("iata",)


raise ImportError("this uploads module is broken on purpose")
