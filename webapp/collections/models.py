"""Collections of saved images, their share links, and saved searches with their runs.

A CollectionItem is a snapshot: it copies what the result said (title, URLs,
size, date, provider, where it came from) so deleting the search, clearing the
history or any retention job never empties a collection. It points at the
shared Thumbnail row with PROTECT, so a thumbnail stays while any collection
uses it: a clean-up that deletes thumbnails fails loudly rather than emptying
someone's mood board.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from webapp.search.models import Provider, Search, Thumbnail

NAME_MAX_CHARS = 100
DESCRIPTION_MAX_CHARS = 1000
NOTE_MAX_CHARS = 280


class Collection(models.Model):
    """A person's named set of images, in the order they chose."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections"
    )
    name = models.CharField(max_length=NAME_MAX_CHARS)
    description = models.CharField(max_length=DESCRIPTION_MAX_CHARS, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The collections page and the "Save to…" menu: one user's collections, newest first.
            models.Index(fields=["user", "-created_at"], name="collection_user_recent"),
        ]

    def __str__(self) -> str:
        return self.name


class CollectionItem(models.Model):
    """One image in a collection: a copy of the result it came from, plus a note.

    ``position`` orders the collection; it may have gaps (after a removal) and
    is renumbered when an item moves. ``width``/``height`` are what the source
    reported; the decoded size lives on the thumbnail, as for a Result.
    """

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    position = models.IntegerField()
    image_url_hash = models.CharField(max_length=64, help_text="sha256 of image_url")
    image_url = models.TextField()
    title = models.CharField(max_length=500, blank=True)
    host_page_url = models.TextField(blank=True)
    site = models.CharField(
        max_length=253, blank=True, help_text="The source page's host, for the site filter."
    )
    published_time = models.DateTimeField(null=True, blank=True)
    width = models.IntegerField(null=True, blank=True)
    height = models.IntegerField(null=True, blank=True)
    note = models.CharField(max_length=NOTE_MAX_CHARS, blank=True)
    # Provenance: kept as copies, so it survives the search being deleted.
    provider = models.CharField(max_length=20, blank=True)
    source_search = models.ForeignKey(
        Search, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_query = models.CharField(max_length=200, blank=True)
    source_rank = models.PositiveIntegerField(null=True, blank=True)
    saved_at = models.DateTimeField(default=timezone.now)
    thumbnail = models.ForeignKey(
        Thumbnail,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="collection_items",
    )

    class Meta:
        ordering = ["collection", "position", "pk"]
        constraints = [
            # Saving an image twice to one collection changes nothing.
            models.UniqueConstraint(
                fields=["collection", "image_url_hash"], name="collection_item_unique_image"
            ),
        ]
        indexes = [
            # The collection page: a collection's items in the person's order.
            models.Index(fields=["collection", "position"], name="collection_item_order"),
            # "Is this image saved?" on search cards and in the "Save to…" menu.
            models.Index(fields=["image_url_hash"], name="collection_item_image"),
        ]

    def __str__(self) -> str:
        return self.title[:60] or self.image_url[:60]

    @property
    def real_width(self) -> int | None:
        if self.thumbnail and self.thumbnail.width:
            return self.thumbnail.width
        return self.width

    @property
    def real_height(self) -> int | None:
        if self.thumbnail and self.thumbnail.height:
            return self.thumbnail.height
        return self.height

    @property
    def provider_label(self) -> str:
        if not self.provider:
            return "added by hand"
        return Provider(self.provider).label if self.provider in Provider.values else self.provider


class ShareLink(models.Model):
    """A read-only public link to a collection.

    States: live → revoked (revoked_at set), or live → expired (expires_at
    passed). Only a live link answers; anything else is a 404. At most one
    unrevoked link per collection, enforced by the database.
    """

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="share_links")
    # secrets.token_urlsafe(32): 256 bits, 43 characters.
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["collection"],
                condition=Q(revoked_at__isnull=True),
                name="share_link_one_unrevoked_per_collection",
            ),
        ]

    def __str__(self) -> str:
        return f"share of {self.collection_id}"

    def is_live(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class SavedSearch(models.Model):
    """A search kept under a name, re-run on demand or on a schedule.

    ``next_run_at`` is set exactly when the schedule is daily or weekly (a
    check constraint); the beat task claims a due one by moving it forward
    with a conditional UPDATE, so two beats never run it twice.
    """

    class Schedule(models.TextChoices):
        MANUAL = "manual", "Only when I ask"
        DAILY = "daily", "Every day"
        WEEKLY = "weekly", "Every week"

    INTERVALS = {Schedule.DAILY: timedelta(days=1), Schedule.WEEKLY: timedelta(days=7)}

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_searches"
    )
    name = models.CharField(max_length=NAME_MAX_CHARS)
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.IQS)
    query = models.CharField(max_length=200, blank=True)
    exclude_sites = models.CharField(max_length=1000, blank=True)
    query_image = models.CharField(
        max_length=200, blank=True, help_text="The query image, path under MEDIA_ROOT."
    )
    query_image_url = models.TextField(blank=True)
    filters = models.JSONField(
        default=dict, blank=True, help_text="min_side, orientation, hide_site, sort"
    )
    schedule = models.CharField(max_length=10, choices=Schedule.choices, default=Schedule.MANUAL)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The saved searches page: one user's, newest first.
            models.Index(fields=["user", "-created_at"], name="saved_search_user_recent"),
            # The beat task: scheduled searches whose next run is due.
            models.Index(fields=["next_run_at"], name="saved_search_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(schedule__in=["manual", "daily", "weekly"]),
                name="saved_search_schedule_valid",
            ),
            models.CheckConstraint(
                condition=(Q(schedule="manual") & Q(next_run_at__isnull=True))
                | (~Q(schedule="manual") & Q(next_run_at__isnull=False)),
                name="saved_search_next_run_iff_scheduled",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SavedSearchRun(models.Model):
    """One run of a saved search: a normal Search, linked here, with its own results."""

    class Trigger(models.TextChoices):
        SAVED = "saved", "The search that was saved"
        MANUAL = "manual", "Run by hand"
        SCHEDULE = "schedule", "Scheduled"

    saved_search = models.ForeignKey(SavedSearch, on_delete=models.CASCADE, related_name="runs")
    # A run *is* its search: deleting the search from history removes the run.
    search = models.OneToOneField(Search, on_delete=models.CASCADE, related_name="saved_run")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The saved search page: its runs, newest first.
            models.Index(fields=["saved_search", "-created_at"], name="saved_run_recent"),
        ]

    def __str__(self) -> str:
        return f"run of {self.saved_search_id}: search {self.search_id}"
