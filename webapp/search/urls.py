from __future__ import annotations

from django.urls import path

from webapp.live.views import search_live
from webapp.search import views

app_name = "search"

urlpatterns = [
    path("", views.home, name="home"),
    path("searches/", views.search_submit, name="submit"),
    path("searches/<int:pk>/", views.search_detail, name="detail"),
    path("searches/<int:pk>/live/", search_live, name="live"),
    path("searches/<int:pk>/rerun/", views.search_rerun, name="rerun"),
    path("searches/<int:pk>/delete/", views.search_delete, name="delete"),
    path("results/<int:result_pk>/similar/", views.search_similar, name="similar"),
    path(
        "searches/<int:pk>/image/<str:size>/",
        views.query_image,
        name="query_image",
    ),
    path("q/<str:token>/", views.query_image_public, name="query_image_public"),
    path("staff/searches/<int:pk>/image/", views.query_image_admin, name="query_image_admin"),
    path("history/", views.history, name="history"),
    path("thumbs/<str:digest>.jpg", views.thumbnail, name="thumbnail"),
]
