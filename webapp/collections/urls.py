from __future__ import annotations

from django.urls import path

from webapp.collections import views

app_name = "collections"

urlpatterns = [
    path("collections/", views.collection_index, name="index"),
    path("collections/new/", views.collection_create, name="create"),
    path("collections/import/", views.collection_import, name="import"),
    path("collections/save/", views.save_menu, name="save_menu"),
    path("collections/save/new/", views.save_result_to_new, name="save_new"),
    path("collections/<int:pk>/", views.collection_detail, name="detail"),
    path("collections/<int:pk>/edit/", views.collection_edit, name="edit"),
    path("collections/<int:pk>/delete/", views.collection_delete, name="delete"),
    path("collections/<int:pk>/save/", views.save_result, name="save"),
    path("collections/<int:pk>/share/", views.collection_share, name="share"),
    path("collections/<int:pk>/share/revoke/", views.collection_unshare, name="unshare"),
    path("collections/<int:pk>/export/", views.collection_export, name="export"),
    path("collections/<int:pk>/items/<int:item_pk>/note/", views.item_note, name="item_note"),
    path("collections/<int:pk>/items/<int:item_pk>/move/", views.item_move, name="item_move"),
    path("collections/<int:pk>/items/<int:item_pk>/remove/", views.item_remove, name="item_remove"),
    path("saved-searches/", views.saved_search_index, name="saved_searches"),
    path("saved-searches/new/", views.saved_search_create, name="saved_search_new"),
    path("saved-searches/<int:pk>/", views.saved_search_detail, name="saved_search"),
    path("saved-searches/<int:pk>/edit/", views.saved_search_edit, name="saved_search_edit"),
    path("saved-searches/<int:pk>/run/", views.saved_search_run, name="saved_search_run"),
    path("saved-searches/<int:pk>/delete/", views.saved_search_delete, name="saved_search_delete"),
    path("searches/<int:pk>/export/", views.search_export, name="search_export"),
    # Public, read-only: the token is the only key (login_not_required on the views).
    path("shared/<str:token>/", views.shared_collection, name="shared"),
    path(
        "shared/<str:token>/thumbs/<str:digest>.jpg",
        views.shared_thumbnail,
        name="shared_thumbnail",
    ),
]
