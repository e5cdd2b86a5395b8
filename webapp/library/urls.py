from __future__ import annotations

from django.urls import path

from webapp.library import views

app_name = "library"

urlpatterns = [
    path("", views.library_home, name="index"),
    path("items/<int:pk>/", views.library_item, name="item"),
    path("items/<int:pk>/thumb.jpg", views.library_thumbnail, name="thumbnail"),
    path("items/<int:pk>/full.jpg", views.library_full, name="full"),
    path("upload/", views.library_upload, name="upload"),
    path("imports/<int:pk>/", views.library_import_detail, name="import"),
]
