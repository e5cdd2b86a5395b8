"""The Django admin for searches, results, thumbnails and per-user limits.

Two bulk actions recover or clean up: "Retry failed searches" (the same service
as the dashboard's Retry button) and "Delete searches older than…", which asks
for the age on a page of its own before deleting anything.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from webapp.dashboard.services import (
    MAX_AGE_DAYS,
    searches_delete_older_than,
    searches_retry_failed,
)
from webapp.search.models import IdempotencyKey, Result, Search, Thumbnail, UserSearchLimit


class ResultInline(admin.TabularInline[Result, Search]):
    model = Result
    extra = 0
    fields = ("rank", "title", "image_url", "host_page_url", "width", "height", "published_time")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


def _count(number: int, noun: str) -> str:
    """'1 search', '2 searches'."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}es"


class DeleteOlderThanForm(forms.Form):
    days = forms.IntegerField(
        label="Delete the selected searches created more than this many days ago",
        min_value=1,
        max_value=MAX_AGE_DAYS,
        initial=90,
        error_messages={
            "required": "Enter an age in days, such as 90.",
            "invalid": "Enter the age as a whole number of days, such as 90.",
            "min_value": "Enter an age of at least 1 day.",
            "max_value": f"Enter an age of at most {MAX_AGE_DAYS:,} days.",
        },
    )


@admin.register(Search)
class SearchAdmin(admin.ModelAdmin[Search]):
    list_display = [
        "id",
        "query_image_preview",
        "query",
        "provider",
        "emulated",
        "status",
        "result_count",
        "error_code",
        "attempts",
        "duration_ms",
        "user",
        "created_at",
    ]
    list_filter = ["status", "provider", "emulated", "error_code", "created_at"]
    search_fields = ["query", "query_sent", "request_id", "user__username", "error_code"]

    @admin.display(description="Image")
    def query_image_preview(self, search: Search) -> str:
        """A small thumbnail of an image search's query image (staff see every search)."""
        if not search.query_image:
            return ""
        url = reverse("search:query_image_admin", args=[search.pk])
        return format_html(
            '<img src="{}" alt="" width="40" height="40" style="object-fit:cover">', url
        )

    date_hierarchy = "created_at"
    list_select_related = ["user"]
    readonly_fields = ["raw_response", "created_at", "started_at", "results_at", "finished_at"]
    inlines = [ResultInline]
    actions = ["retry_failed_searches", "delete_searches_older_than"]

    @admin.action(description="Retry failed searches", permissions=["change"])
    def retry_failed_searches(self, request: HttpRequest, queryset: QuerySet[Search]) -> None:
        outcome = searches_retry_failed(searches=queryset, staff=request.user)  # type: ignore[arg-type]
        if outcome.retried:
            self.message_user(
                request,
                f"Queued {_count(outcome.retried, 'failed search')} again.",
                messages.SUCCESS,
            )
        if outcome.skipped:
            self.message_user(
                request,
                f"Left {_count(outcome.skipped, 'search')} alone: "
                "only failed searches can be retried.",
                messages.WARNING,
            )

    @admin.action(description="Delete searches older than…", permissions=["delete"])
    def delete_searches_older_than(
        self, request: HttpRequest, queryset: QuerySet[Search]
    ) -> TemplateResponse | None:
        if "apply" in request.POST:
            form = DeleteOlderThanForm(request.POST)
            if form.is_valid():
                days = form.cleaned_data["days"]
                outcome = searches_delete_older_than(searches=queryset, days=days)
                self.message_user(
                    request,
                    f"Deleted {_count(outcome.searches, 'search')} "
                    f"created before {outcome.cutoff:%d %b %Y %H:%M} UTC (older than {days} "
                    f"days), with their {outcome.results} results.",
                    messages.SUCCESS,
                )
                return None  # back to the list
        else:
            form = DeleteOlderThanForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Delete searches older than…",
            "opts": self.model._meta,
            "form": form,
            "selected_count": queryset.count(),
            "selected_ids": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_name": "delete_searches_older_than",
            "media": self.media,
        }
        return TemplateResponse(request, "admin/search/search/delete_older_than.html", context)


@admin.register(Result)
class ResultAdmin(admin.ModelAdmin[Result]):
    list_display = ["id", "search", "rank", "title", "width", "height", "published_time"]
    list_filter = ["search__provider", "published_time"]
    search_fields = ["title", "image_url", "host_page_url"]
    date_hierarchy = "search__created_at"
    list_select_related = ["search"]
    raw_id_fields = ["search", "thumbnail"]


@admin.register(Thumbnail)
class ThumbnailAdmin(admin.ModelAdmin[Thumbnail]):
    list_display = [
        "id",
        "image_url",
        "state",
        "width",
        "height",
        "source_format",
        "error_code",
        "created_at",
    ]
    list_filter = ["state", "source_format", "error_code", "created_at"]
    search_fields = ["image_url", "url_hash"]
    date_hierarchy = "created_at"


@admin.register(UserSearchLimit)
class UserSearchLimitAdmin(admin.ModelAdmin[UserSearchLimit]):
    """Per-user daily limits; an empty limit means "no limit" for that person."""

    list_display = ["user", "searches_per_day", "user_joined"]
    list_filter = [("searches_per_day", admin.EmptyFieldListFilter), "user__is_staff"]
    search_fields = ["user__username", "user__email"]
    date_hierarchy = "user__date_joined"
    list_select_related = ["user"]
    raw_id_fields = ["user"]

    @admin.display(description="Joined", ordering="user__date_joined")
    def user_joined(self, limit: UserSearchLimit) -> object:
        return limit.user.date_joined


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin[IdempotencyKey]):
    """API clients' Idempotency-Key headers: a retried POST returns the first search."""

    list_display = ["key", "user", "search", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["key", "user__username"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "search"]
    raw_id_fields = ["user", "search"]
    readonly_fields = ["user", "key", "search", "created_at"]
