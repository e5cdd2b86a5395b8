"""Admin for people and their API tokens.

The user page carries the person's daily search limit inline, so staff can
change it where they look a person up (the dashboard links here too).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User

from webapp.accounts.models import ApiToken
from webapp.search.models import UserSearchLimit


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ["prefix", "user", "created_at", "last_used_at"]
    list_filter = ["created_at", "last_used_at"]
    search_fields = ["user__username", "prefix"]
    readonly_fields = ["token_hash", "prefix", "created_at", "last_used_at"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]


class UserSearchLimitInline(admin.StackedInline[UserSearchLimit, User]):
    model = UserSearchLimit
    can_delete = True
    max_num = 1
    extra = 0
    verbose_name = "daily search limit"
    verbose_name_plural = (
        "daily search limit (leave empty for no limit; remove it to use the default)"
    )


admin.site.unregister(User)


@admin.register(User)
class LoupeUserAdmin(UserAdmin):
    inlines = [UserSearchLimitInline]
    list_display = [
        "username",
        "email",
        "is_staff",
        "is_active",
        "daily_limit",
        "date_joined",
        "last_login",
    ]
    list_filter = ["is_staff", "is_superuser", "is_active", "date_joined", "last_login"]
    list_select_related = ["search_limit"]
    date_hierarchy = "date_joined"

    @admin.display(description="Own daily limit")
    def daily_limit(self, user: User) -> str:
        own = getattr(user, "search_limit", None)
        if own is None:
            return "default"
        return "no limit" if own.searches_per_day is None else str(own.searches_per_day)
