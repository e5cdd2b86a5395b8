"""Searches, their results, and the thumbnails results share.

A Thumbnail is keyed by image URL and shared: the worker fetches an image once,
however many searches (and, later, collections) show it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from webapp.db_functions import UtcDate


class Provider(models.TextChoices):
    IQS = "iqs", "IQS MultimodalSearch"
    IMAGE_SEARCH = "image_search", "Qwen image_search"
    LIBRARY = "library", "Local library"


class Search(models.Model):
    """One search a person asked for.

    Status transitions (each one a conditional UPDATE in services):
        queued → running → done | failed | partial
        running → queued        (the sweeper, when a lease ran out: the worker died)
        queued | running → failed  (the sweeper, after MAX attempts or too long queued)
    A failed or partial search keeps the person's input so it can be re-run.

    A running search is leased (webapp/search/leases.py): ``lease_token`` names
    the claim and ``lease_expires_at`` is pushed forward by the worker's heartbeat.
    Every write the worker makes is fenced by its token, so a claim taken back by
    the sweeper can never add results beside the new one.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        PARTIAL = "partial", "Partial"

    FINISHED = (Status.DONE, Status.FAILED, Status.PARTIAL)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="searches"
    )
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.IQS)
    emulated = models.BooleanField(
        default=False, help_text="Answered by Loupe's offline emulator, not the real provider."
    )
    query = models.CharField(max_length=200, blank=True, help_text="What the person typed.")
    query_sent = models.CharField(
        max_length=200, blank=True, help_text="What was sent after rewriting."
    )
    exclude_sites = models.CharField(max_length=1000, blank=True)
    query_image = models.CharField(
        max_length=200, blank=True, help_text="An uploaded query image, path under MEDIA_ROOT."
    )
    query_image_url = models.TextField(
        blank=True, help_text="Where the query image came from, when it was a URL or a result."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(
        max_length=60, blank=True, help_text="The live stage shown while running."
    )
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    request_id = models.CharField(max_length=100, blank=True)
    search_time_ms = models.IntegerField(null=True, blank=True, help_text="Provider-reported.")
    provider_ms = models.IntegerField(
        null=True, blank=True, help_text="Wall time spent waiting on the provider."
    )
    result_count = models.IntegerField(default=0)
    dropped_items = models.IntegerField(default=0)
    attempts = models.IntegerField(default=0)
    lease_token = models.CharField(
        max_length=32, blank=True, help_text="The claim of the worker running it, if any."
    )
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="The running claim lapses then unless renewed."
    )
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="When its task message last reached the broker."
    )
    raw_response = models.JSONField(null=True, blank=True)
    answer_text = models.TextField(blank=True, help_text="A model's written answer, if any.")
    input_tokens = models.IntegerField(null=True, blank=True)
    output_tokens = models.IntegerField(null=True, blank=True)
    total_tokens = models.IntegerField(null=True, blank=True)
    tool_calls = models.IntegerField(default=0, help_text="Billable provider tool calls.")
    cost_cny = models.DecimalField(
        max_digits=12, decimal_places=5, null=True, blank=True, help_text="Estimated cost, CNY."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    results_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.IntegerField(
        null=True, blank=True, help_text="Server side, from submit to done."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # History page: one user's searches, newest first.
            models.Index(fields=["user", "-created_at"], name="search_user_recent"),
            # Dashboard/stuck detection: searches by status and age.
            models.Index(fields=["status", "created_at"], name="search_status_age"),
            # The sweeper: unfinished searches only (a partial index stays tiny).
            models.Index(
                fields=["status", "lease_expires_at"],
                name="search_unfinished",
                condition=Q(status__in=["queued", "running"]),
            ),
            # Dashboard traffic and quota: searches per provider over time.
            models.Index(fields=["provider", "created_at"], name="search_provider_age"),
            # Dashboard traffic, cost, quota and per-user usage by UTC day
            # (webapp/dashboard/selectors.py: daily_usage, traffic_by_hour,
            # user_activity). Led by the day, it lets the database stream the
            # GROUP BY day, provider, status without sorting, and it holds every
            # column those queries read, so the table itself is never touched.
            models.Index(
                UtcDate("created_at"),
                "provider",
                "status",
                "emulated",
                "user",
                "attempts",
                "tool_calls",
                "input_tokens",
                "output_tokens",
                "created_at",
                name="search_usage_by_day",
            ),
            # Dashboard top queries of the last 7 days (selectors.top_queries).
            models.Index(fields=["created_at", "query"], name="search_recent_queries"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed", "partial"]),
                name="search_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()}: {self.query or '(image)'}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def was_rewritten(self) -> bool:
        return bool(self.query_sent) and self.query_sent != self.query


class IdempotencyKey(models.Model):
    """An API client's ``Idempotency-Key`` header, so a retried POST returns the first search.

    Kept 24 hours (IDEMPOTENCY_KEY_HOURS); the unique constraint settles two
    concurrent retries of the same key.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    search = models.ForeignKey(Search, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.key}"


class UserSearchLimit(models.Model):
    """A per-user daily search limit set by staff; overrides SEARCHES_PER_USER_PER_DAY.

    ``searches_per_day`` null means "no limit" for this user.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="search_limit"
    )
    searches_per_day = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        limit = "no limit" if self.searches_per_day is None else f"{self.searches_per_day}/day"
        return f"{self.user}: {limit}"


class Thumbnail(models.Model):
    """A fetched image, shrunk to about 320 px, shared by every result with that URL.

    States: pending → ready | unavailable. ``width``/``height`` are the
    original's real pixel size, read while decoding.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        UNAVAILABLE = "unavailable", "Unavailable"

    url_hash = models.CharField(max_length=64, unique=True, help_text="sha256 of image_url")
    # Thumbnails are shared (results, collection items); a row is kept while
    # anything refers to it, so deleting a search never empties a collection.
    image_url = models.TextField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    file = models.CharField(max_length=200, blank=True, help_text="Path under MEDIA_ROOT.")
    width = models.IntegerField(null=True, blank=True)
    height = models.IntegerField(null=True, blank=True)
    thumb_width = models.IntegerField(null=True, blank=True)
    thumb_height = models.IntegerField(null=True, blank=True)
    source_format = models.CharField(max_length=10, blank=True)
    phash = models.CharField(
        max_length=16, blank=True, help_text="Perceptual hash (hex), to spot re-hosted copies."
    )
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    fetched_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.image_url[:80]


class Result(models.Model):
    """One image a search found, as the provider described it, in provider order."""

    search = models.ForeignKey(Search, on_delete=models.CASCADE, related_name="results")
    rank = models.PositiveIntegerField()
    title = models.CharField(max_length=500, blank=True)
    image_url = models.TextField()
    host_page_url = models.TextField(blank=True)
    published_time = models.DateTimeField(null=True, blank=True)
    width = models.IntegerField(null=True, blank=True, help_text="As the provider reported.")
    height = models.IntegerField(null=True, blank=True, help_text="As the provider reported.")
    thumbnail = models.ForeignKey(
        Thumbnail, null=True, blank=True, on_delete=models.SET_NULL, related_name="results"
    )
    # Set by providers that rank by similarity (the local library): a 0–1 score,
    # and whether the image is a copy or near-copy of the query image.
    score = models.FloatField(null=True, blank=True)
    near_duplicate = models.BooleanField(default=False)

    class Meta:
        ordering = ["search", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["search", "rank"], name="result_rank_unique"),
        ]

    def __str__(self) -> str:
        return f"#{self.rank} {self.title[:60]}"

    @property
    def real_width(self) -> int | None:
        """The decoded width when known, else what the provider said."""
        if self.thumbnail and self.thumbnail.width:
            return self.thumbnail.width
        return self.width

    @property
    def real_height(self) -> int | None:
        if self.thumbnail and self.thumbnail.height:
            return self.thumbnail.height
        return self.height

    @property
    def available(self) -> bool | None:
        """True/False once the image was fetched; None while pending."""
        if self.thumbnail is None or self.thumbnail.state == Thumbnail.State.PENDING:
            return None
        return self.thumbnail.state == Thumbnail.State.READY
