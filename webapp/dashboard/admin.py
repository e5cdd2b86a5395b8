from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from webapp.dashboard.models import SearchRecovery


@admin.register(SearchRecovery)
class SearchRecoveryAdmin(admin.ModelAdmin[SearchRecovery]):
    """A read-only log: who put which search back in the queue, and when."""

    list_display = ["created_at", "action", "search", "previous_status", "staff"]
    list_filter = ["action", "previous_status", "created_at"]
    search_fields = ["search__query", "staff__username", "search__user__username"]
    date_hierarchy = "created_at"
    list_select_related = ["search", "staff"]
    raw_id_fields = ["search", "staff"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
