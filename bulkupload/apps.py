from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BulkUploadConfig(AppConfig):
    name = "bulkupload"
    verbose_name = _("Bulk upload")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            compat,  # noqa: F401  (chooses the tasks framework now, so a missing one is said at startup)
        )
        from .spec import registry

        # Like admin.py: every installed app may declare specs in uploads.py; a failed import leaves the registry as it was.
        registry.autodiscover("uploads")
