from __future__ import annotations

from django.urls import path

from webapp.search import views

app_name = "search"

urlpatterns = [
    path("", views.home, name="home"),
    path("searches/", views.search_submit, name="submit"),
    path("searches/<int:pk>/", views.search_detail, name="detail"),
    path("searches/<int:pk>/rerun/", views.search_rerun, name="rerun"),
    path("searches/<int:pk>/delete/", views.search_delete, name="delete"),
    path("history/", views.history, name="history"),
    path("thumbs/<str:digest>.jpg", views.thumbnail, name="thumbnail"),
]
