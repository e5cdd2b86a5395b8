"""The local image library: images imported from disk, zips, URL lists or staff uploads.

Library images belong to the installation, not to a person: every signed-in
user can search and view them, and only staff can add to them (views.py).
Files live under MEDIA_ROOT/library/ and are named by content hash:

    library/originals/ab/<sha256>.<ext>   the imported bytes, as received (never served)
    library/thumbs/ab/<sha256>.jpg        ~320 px JPEG, made at import
    library/display/ab/<sha256>.jpg       ≤ 2048 px re-encoded copy, made on first view,
                                           with no EXIF (GPS) left in it
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ImportRun(models.Model):
    """One import: a `library_import` command or a staff upload.

    Status transitions (conditional UPDATEs in services):
        queued → running → done | failed
    An upload starts queued (its task runs it); the command starts running.
    An upload whose worker died goes back to queued when its lease runs out and
    runs again (images already stored are skipped by hash), or fails after
    SEARCH_MAX_ATTEMPTS claims. A command run that died half-way stays "running";
    importing the same files again resumes it in effect.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        COMMAND = "command", "Command line"
        UPLOAD = "upload", "Upload"
        DEMO = "demo", "Demo set"

    FINISHED = (Status.DONE, Status.FAILED)

    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="library_imports",
    )
    sources = models.JSONField(default=list, help_text="What was asked for: paths, zips, URLs.")
    staging_dir = models.CharField(
        max_length=200, blank=True, help_text="Uploaded files waiting, under MEDIA_ROOT."
    )
    total = models.IntegerField(default=0, help_text="Files found to import.")
    processed = models.IntegerField(default=0)
    added = models.IntegerField(default=0)
    duplicates = models.IntegerField(default=0, help_text="Already in the library (same bytes).")
    failed = models.IntegerField(default=0)
    bad_files = models.JSONField(
        default=list, help_text='[{"source": ..., "reason": ...}], one per file that failed.'
    )
    error_message = models.TextField(blank=True)
    embedded = models.IntegerField(
        default=0, help_text="Images given a vector by the embedding backend during this run."
    )
    embedding_error = models.TextField(
        blank=True, help_text="Why embedding stopped during this run; library_reindex catches up."
    )
    # An upload run by a worker is leased like a search (webapp/search/leases.py):
    # a killed worker's run goes back to the queue (webapp/library/recovery.py).
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.IntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # A lease is not renewed past this (the task's old hard limit).
    MAX_RUN_SECONDS = 1900

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]),
                name="library_importrun_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.get_kind_display()}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def percent(self) -> int:
        return round(100 * self.processed / self.total) if self.total else 0


class LibraryImage(models.Model):
    """One distinct image (by content hash) in the library, with what search needs of it."""

    sha256 = models.CharField(max_length=64, unique=True, help_text="Of the imported bytes.")
    source = models.TextField(help_text="Where it was first imported from: path, zip member, URL.")
    file_name = models.CharField(max_length=255)
    format = models.CharField(max_length=10, help_text="Pillow's name, e.g. JPEG.")
    width = models.IntegerField(help_text="As displayed, after EXIF orientation.")
    height = models.IntegerField()
    bytes = models.BigIntegerField()
    taken_at = models.DateTimeField(null=True, blank=True, help_text="EXIF DateTimeOriginal.")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    translations = models.JSONField(
        default=dict, blank=True, help_text='Language → text, e.g. {"zh": "一只猫"}.'
    )
    tags = models.JSONField(default=list, blank=True, help_text="From the folders it was in.")
    original_file = models.CharField(max_length=200, help_text="Path under MEDIA_ROOT.")
    thumbnail_file = models.CharField(max_length=200, help_text="Path under MEDIA_ROOT.")
    thumb_width = models.IntegerField()
    thumb_height = models.IntegerField()
    hashes = models.BinaryField(help_text="Window pHashes, little-endian uint64 (features.py).")
    descriptor = models.BinaryField(help_text="Colour/texture descriptor, float16 (features.py).")
    terms = models.JSONField(
        default=dict, help_text="Search terms per field, so the index never re-segments text."
    )
    tokenizer_version = models.PositiveSmallIntegerField(default=1)
    index_seq = models.BigIntegerField(
        default=0, help_text="LibraryIndexState.seq when this row was last written."
    )
    import_run = models.ForeignKey(
        ImportRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Each process's in-memory index catches up with: WHERE index_seq > <last seen>.
            models.Index(fields=["index_seq"], name="library_image_seq"),
            # The library page lists the newest images first.
            models.Index(fields=["-created_at"], name="library_image_recent"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def orientation(self) -> str:
        if abs(self.width - self.height) <= 0.05 * max(self.width, self.height):
            return "square"
        return "landscape" if self.width > self.height else "portrait"


class LibraryIndexState(models.Model):
    """One row (pk=1): how far the library has changed, for the in-memory indexes.

    ``seq`` goes up by one in every transaction that adds or edits images, and
    those rows get the new value as their ``index_seq``. The row is locked
    (select_for_update) until that transaction commits, so transactions commit
    in ``seq`` order and a process that has read every row up to N never misses
    one that later commits with a lower number. ``removals`` goes up when
    images are deleted: a process then rebuilds its index from scratch.
    """

    seq = models.BigIntegerField(default=0)
    removals = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"library index state: seq {self.seq}, removals {self.removals}"


class LibraryEmbedding(models.Model):
    """One image's vector from one embedding model (webapp/library/embedding.py).

    ``model`` is the backend's name, e.g. "opensearch/ops-m2-encoder" or
    "local/ViT-B-32__openai/<weights hash>": vectors of different models live
    side by side, and only the configured model's are searched, so switching
    backends never mixes spaces. ``index_seq`` takes LibraryIndexState.seq like
    an image row, so every process's in-memory index picks vectors up too.
    """

    image = models.ForeignKey(LibraryImage, on_delete=models.CASCADE, related_name="embeddings")
    model = models.CharField(max_length=200)
    dimensions = models.PositiveIntegerField()
    vector = models.BinaryField(help_text="float16, little-endian, L2-normalised.")
    index_seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Also serves "images without a vector of this model" (library_reindex).
            models.UniqueConstraint(fields=["model", "image"], name="library_embedding_unique"),
        ]
        indexes = [
            # Each process's vector index catches up with: WHERE model = ? AND index_seq > ?
            models.Index(fields=["model", "index_seq"], name="library_embedding_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.model} vector of image {self.image_id}"
