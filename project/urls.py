from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from project.timesheets import views as timesheet_views

urlpatterns = [
    path("", timesheet_views.HomeView.as_view(), name="home"),
    path("entries/", timesheet_views.EntryListView.as_view(), name="entries"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("uploads/api/v1/", include("bulkupload.api.urls")),
    path("uploads/", include("bulkupload.urls")),
    path("admin/", admin.site.urls),
]
