from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from webapp.api import api

admin.site.site_header = "Loupe administration"

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("dashboard/", include("webapp.dashboard.urls")),
    path("library/", include("webapp.library.urls")),
    path("", include("webapp.search.urls")),
    # Collections, saved searches, exports and the public /shared/<token>/ pages.
    path("", include("webapp.collections.urls")),
]
