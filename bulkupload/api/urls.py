"""The API's URLs: ``path("uploads/api/v1/", include("bulkupload.api.urls"))``.

Besides the endpoints: ``schema/`` (OpenAPI 3, YAML or ``?format=json``) and
``docs/`` (Swagger UI, served from drf-spectacular-sidecar's static files: no CDN).
"""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView, _get_sidecar_url

from . import schema as schema_module
from . import views
from .base import ApiView

app_name = "bulkupload_api"

#: The schema's own settings, so a host needs no SPECTACULAR_SETTINGS for it.
SCHEMA_SETTINGS = {
    "TITLE": "bulkupload API",
    "DESCRIPTION": "Upload spreadsheet rows, preview and fix them, confirm, roll back. Token or session authentication.",
    "VERSION": "1",
    "COMPONENT_SPLIT_REQUEST": True,
    # PATCH rows/<number>/ needs both "values" and "version": no partial variant.
    "COMPONENT_SPLIT_PATCH": False,
    # Several serializers have a "status": name each set of choices once.
    "ENUM_NAME_OVERRIDES": {
        "UploadStatusEnum": "bulkupload.api.representation.UPLOAD_STATUSES",
        "RowStatusEnum": "bulkupload.models.UploadRow.Status",
        "DateOrderEnum": "bulkupload.api.answers.DATE_ORDERS",
    },
}


class SchemaView(SpectacularAPIView):
    authentication_classes = ApiView.authentication_classes
    permission_classes = ApiView.permission_classes
    schema = ApiView.schema
    custom_settings = SCHEMA_SETTINGS

    @schema_module.hidden
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DocsView(SpectacularSwaggerView):
    """Swagger UI from the sidecar package's static files, whatever the host's SPECTACULAR_SETTINGS say."""

    authentication_classes = ApiView.authentication_classes
    permission_classes = ApiView.permission_classes
    schema = ApiView.schema
    url_name = "bulkupload_api:schema"
    title = SCHEMA_SETTINGS["TITLE"]

    @schema_module.hidden
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @staticmethod
    def _swagger_ui_resource(filename: str) -> str:
        return _get_sidecar_url(f"swagger-ui-dist/{filename}")

    @staticmethod
    def _swagger_ui_favicon() -> str:
        return _get_sidecar_url("swagger-ui-dist/favicon-32x32.png")


# Ids are matched as any text and checked by the views, so a malformed one answers the API's JSON 404, not the site's page.


def _open(view):
    view.login_required = False  # the API answers 401/403 itself
    return view


urlpatterns = [
    path("specs/", views.SpecListView.as_view(), name="specs"),
    path("specs/<str:spec>/template.xlsx", views.TemplateView.as_view(), name="template"),
    path("specs/<str:spec>/uploads/", views.UploadCreateView.as_view(), name="uploads"),
    path("uploads/<str:upload_id>/", views.UploadView.as_view(), name="upload"),
    path("uploads/<str:upload_id>/rows/", views.RowListView.as_view(), name="rows"),
    path("uploads/<str:upload_id>/rows/<str:number>/", views.RowView.as_view(), name="row"),
    path("uploads/<str:upload_id>/columns/", views.ColumnsView.as_view(), name="columns"),
    path("uploads/<str:upload_id>/values/", views.ValuesView.as_view(), name="values"),
    path("uploads/<str:upload_id>/confirm/", views.ConfirmView.as_view(), name="confirm"),
    path("batches/<str:batch_id>/", views.BatchView.as_view(), name="batch"),
    path("batches/<str:batch_id>/rollback/", views.RollbackView.as_view(), name="rollback"),
    path("schema/", _open(SchemaView.as_view()), name="schema"),
    path("docs/", _open(DocsView.as_view()), name="docs"),
]
