from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from webapp.library import services
from webapp.library.models import ImportRun, LibraryImage


@admin.register(LibraryImage)
class LibraryImageAdmin(admin.ModelAdmin[LibraryImage]):
    """Titles and descriptions can be edited; everything else comes from the file.

    Saves and deletes go through the services, so every process's search index
    follows (a plain save would leave the image's search terms stale).
    """

    list_display = ["id", "title", "width", "height", "format", "taken_at", "created_at"]
    list_filter = ["format", "created_at"]
    search_fields = ["title", "description", "file_name", "sha256"]
    date_hierarchy = "created_at"
    fields = [
        "title",
        "description",
        "translations",
        "tags",
        "file_name",
        "source",
        "sha256",
        "width",
        "height",
        "format",
        "bytes",
        "taken_at",
        "import_run",
    ]
    readonly_fields = [
        "translations",
        "tags",
        "file_name",
        "source",
        "sha256",
        "width",
        "height",
        "format",
        "bytes",
        "taken_at",
        "import_run",
    ]
    actions = ["delete_with_files"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # images come in through an import, which decodes and indexes them

    def save_model(self, request: HttpRequest, obj: LibraryImage, form: Any, change: bool) -> None:
        services.library_image_update(image=obj, title=obj.title, description=obj.description)

    def delete_model(self, request: HttpRequest, obj: LibraryImage) -> None:
        services.library_images_delete(images=[obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[LibraryImage]) -> None:
        services.library_images_delete(images=queryset)

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would bypass the service
        return actions

    @admin.action(description="Delete selected images and their files")
    def delete_with_files(self, request: HttpRequest, queryset: QuerySet[LibraryImage]) -> None:
        count = services.library_images_delete(images=queryset)
        self.message_user(request, f"Deleted {count} image(s).")


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin[ImportRun]):
    list_display = ["id", "kind", "status", "total", "added", "duplicates", "failed", "created_at"]
    list_filter = ["kind", "status"]
    readonly_fields = [f.name for f in ImportRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
