from __future__ import annotations

from django.contrib import admin

from webapp.collections.models import (
    Collection,
    CollectionItem,
    SavedSearch,
    SavedSearchRun,
    ShareLink,
)


class CollectionItemInline(admin.TabularInline[CollectionItem, Collection]):
    model = CollectionItem
    extra = 0
    fields = ("position", "title", "image_url", "note", "provider", "source_query", "saved_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


class ShareLinkInline(admin.TabularInline[ShareLink, Collection]):
    model = ShareLink
    extra = 0
    # The token is a credential: staff see that a link exists, not the link itself.
    fields = ("created_at", "expires_at", "revoked_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin[Collection]):
    list_display = ["id", "name", "user", "created_at"]
    search_fields = ["name", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    date_hierarchy = "created_at"
    inlines = [CollectionItemInline, ShareLinkInline]


@admin.register(CollectionItem)
class CollectionItemAdmin(admin.ModelAdmin[CollectionItem]):
    list_display = ["id", "collection", "position", "title", "provider", "saved_at"]
    search_fields = ["title", "image_url", "host_page_url", "note"]
    list_select_related = ["collection"]
    raw_id_fields = ["collection", "source_search", "thumbnail"]


class SavedSearchRunInline(admin.TabularInline[SavedSearchRun, SavedSearch]):
    model = SavedSearchRun
    extra = 0
    fields = ("search", "trigger", "created_at")
    readonly_fields = fields
    can_delete = False


@admin.register(SavedSearch)
class SavedSearchAdmin(admin.ModelAdmin[SavedSearch]):
    list_display = ["id", "name", "user", "provider", "schedule", "next_run_at", "last_error"]
    list_filter = ["schedule", "provider"]
    search_fields = ["name", "query", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    inlines = [SavedSearchRunInline]
