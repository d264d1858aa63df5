from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class BulkUploadConfig(AppConfig):
    name = "bulkupload"
    verbose_name = _("Bulk upload")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Like admin.py: every installed app may declare specs in uploads.py.
        autodiscover_modules("uploads")
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            compat,  # noqa: F401  (chooses the tasks framework now, so a missing one is said at startup)
        )
