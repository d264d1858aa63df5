from django.urls import path

from . import fixviews, views

app_name = "bulkupload"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
    path("batches/<uuid:batch_id>/", views.BatchView.as_view(), name="batch"),
    path("batches/<uuid:batch_id>/rollback/", views.RollbackView.as_view(), name="rollback"),
    path("batches/<uuid:batch_id>/discard/", views.DiscardView.as_view(), name="discard"),
    path("batches/<uuid:batch_id>/progress/", views.ProgressView.as_view(), name="progress"),
    path("<slug:spec>/template.xlsx", views.TemplateDownloadView.as_view(), name="template"),
    path("<slug:spec>/new/", views.StartView.as_view(), name="start"),
    path("<slug:spec>/<uuid:upload_id>/fix/", fixviews.FixRowsView.as_view(), name="fix"),
    path("<slug:spec>/<uuid:upload_id>/fix/cell/", fixviews.CellSaveView.as_view(), name="fix_cell"),
    path("<slug:spec>/<uuid:upload_id>/fix/replace/", fixviews.ReplaceView.as_view(), name="replace"),
    path("<slug:spec>/<uuid:upload_id>/errors.xlsx", views.ErrorReportView.as_view(), name="error_report"),
    path("<slug:spec>/<uuid:upload_id>/<str:step>/", views.UploadWizard.as_view(url_name="bulkupload:wizard"), name="wizard"),
]
