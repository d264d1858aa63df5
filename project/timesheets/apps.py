from django.apps import AppConfig


class TimesheetsConfig(AppConfig):
    name = "project.timesheets"
    label = "timesheets"
    verbose_name = "Timesheets"
