from __future__ import annotations

from django.urls import path

from webapp.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.index, name="index"),
    path("searches/<int:pk>/dispatch-again/", views.dispatch_again, name="dispatch_again"),
    path("searches/<int:pk>/retry/", views.retry, name="retry"),
]
