from __future__ import annotations

from django.contrib import admin

from webapp.accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ["prefix", "user", "created_at", "last_used_at"]
    list_filter = ["created_at"]
    search_fields = ["user__username", "prefix"]
    readonly_fields = ["token_hash", "prefix", "created_at", "last_used_at"]
    date_hierarchy = "created_at"
