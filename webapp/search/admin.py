from __future__ import annotations

from django.contrib import admin

from webapp.search.models import Result, Search, Thumbnail, UserSearchLimit


class ResultInline(admin.TabularInline[Result, Search]):
    model = Result
    extra = 0
    fields = ("rank", "title", "image_url", "host_page_url", "width", "height", "published_time")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Search)
class SearchAdmin(admin.ModelAdmin[Search]):
    list_display = [
        "id",
        "query",
        "provider",
        "emulated",
        "status",
        "result_count",
        "error_code",
        "duration_ms",
        "user",
        "created_at",
    ]
    list_filter = ["status", "provider", "emulated", "error_code", "created_at"]
    search_fields = ["query", "query_sent", "request_id", "user__username", "error_code"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    readonly_fields = ["raw_response", "created_at", "started_at", "results_at", "finished_at"]
    inlines = [ResultInline]


@admin.register(Result)
class ResultAdmin(admin.ModelAdmin[Result]):
    list_display = ["id", "search", "rank", "title", "width", "height", "published_time"]
    list_filter = ["search__provider", "published_time"]
    search_fields = ["title", "image_url", "host_page_url"]
    list_select_related = ["search"]
    raw_id_fields = ["search", "thumbnail"]


@admin.register(Thumbnail)
class ThumbnailAdmin(admin.ModelAdmin[Thumbnail]):
    list_display = ["id", "image_url", "state", "width", "height", "source_format", "error_code"]
    list_filter = ["state", "source_format", "error_code"]
    search_fields = ["image_url", "url_hash"]
    date_hierarchy = "created_at"


@admin.register(UserSearchLimit)
class UserSearchLimitAdmin(admin.ModelAdmin[UserSearchLimit]):
    list_display = ["user", "searches_per_day"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]
