"""Every write to the library: imports (command, upload, demo), edits, the display copy.

An import walks its sources (sources.py), turns each file into features and
files (processing.py, in a process pool for the command) and stores rows in
batches. Each batch is one transaction that takes the next index sequence
number (LibraryIndexState), so every process's in-memory index sees new
images on its next query.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from webapp.imaging.thumbnails import make_thumbnail
from webapp.library import processing
from webapp.library.models import ImportRun, LibraryImage, LibraryIndexState
from webapp.library.processing import Limits, Outcome, Processed, Skipped
from webapp.library.sources import BadEntry, ImportItem, collect_items, parse_sidecar
from webapp.search.leases import lease_keeper

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
UPLOAD_MAX_FILES = 200
DISPLAY_SIDE = 2048
# Inline below this many files: starting worker processes costs ~1 s.
POOL_THRESHOLD = 16

ProgressCallback = Callable[[Outcome | BadEntry], None]


# --- the index sequence --------------------------------------------------------------


def _next_index_seq() -> int:
    """Take the next sequence number, holding the state row's lock until commit."""
    state = LibraryIndexState.objects.select_for_update().filter(pk=1).first()
    if state is None:  # the migration creates it; a test database flush removes it
        LibraryIndexState.objects.get_or_create(pk=1)
        state = LibraryIndexState.objects.select_for_update().get(pk=1)
    state.seq += 1
    state.save(update_fields=["seq"])
    return state.seq


# --- import ------------------------------------------------------------------------------


def _limits() -> Limits:
    return Limits(
        media_root=str(settings.MEDIA_ROOT),
        max_bytes=settings.LIBRARY_MAX_IMAGE_BYTES,
        fetch_timeout=settings.FETCH_TIMEOUT_SECONDS,
        fetch_allowlist=settings.FETCH_PRIVATE_ALLOWLIST,
    )


def _known_hashes() -> frozenset[str]:
    return frozenset(LibraryImage.objects.values_list("sha256", flat=True))


def _outcomes(items: list[ImportItem], workers: int) -> Iterator[Outcome]:
    limits, known = _limits(), _known_hashes()
    if workers <= 1 or len(items) < POOL_THRESHOLD:
        processing.configure(limits, known)
        yield from (processing.process_item(item) for item in items)
        return
    # spawn, not fork: the parent holds database connections and maybe threads,
    # and the workers need neither (processing.py imports no Django).
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=processing.configure, initargs=(limits, known)) as pool:
        # Unordered: a slow file (a URL, a huge PNG) never holds back the progress bar.
        yield from pool.imap_unordered(processing.process_item, items, chunksize=4)


def library_import(
    *,
    paths: list[str],
    kind: str = ImportRun.Kind.COMMAND,
    user: User | None = None,
    workers: int | None = None,
    on_progress: ProgressCallback | None = None,
    on_total: Callable[[int], None] | None = None,
    source_label: tuple[str, str] | None = None,
) -> ImportRun:
    """Import every image under ``paths``; return the finished run.

    Safe to repeat and to resume: bytes already in the library are skipped
    (by SHA-256) before they are decoded. A bad file is listed on the run and
    never stops it. Ctrl-C stores what is done and marks the run failed.
    ``source_label`` = (prefix, label) rewrites where images say they came from,
    for imports from a temporary folder (the demo set).
    """
    run = ImportRun.objects.create(
        kind=kind,
        status=ImportRun.Status.RUNNING,
        created_by=user,
        sources=paths,
        started_at=timezone.now(),
    )
    collected = collect_items(paths)
    run.total = len(collected.items) + len(collected.bad)
    run.save(update_fields=["total"])
    if on_total:
        on_total(run.total)
    for entry in collected.bad:
        _record_bad(run, entry.source, entry.reason)
        if on_progress:
            on_progress(entry)
    items = collected.items
    if source_label:
        prefix, label = source_label
        items = [replace(i, source=i.source.replace(prefix, label, 1)) for i in items]
    _import_items(run, items, workers or os.cpu_count() or 1, on_progress)
    return run


def _import_items(
    run: ImportRun, items: list[ImportItem], workers: int, on_progress: ProgressCallback | None
) -> None:
    batch: list[Processed] = []
    # None without an embedding backend: the import then does exactly what it did before.
    from webapp.library.embedding_services import ImportEmbedder  # it imports this module

    embedder = ImportEmbedder.for_run(run)
    try:
        for outcome in _outcomes(items, workers):
            if isinstance(outcome, Processed):
                batch.append(outcome)
            elif isinstance(outcome, Skipped):
                run.duplicates += 1
            else:
                _record_bad(run, outcome.source, outcome.reason)
            run.processed += 1
            if on_progress:
                on_progress(outcome)
            if len(batch) >= BATCH_SIZE:
                added = _store(run, batch)
                batch = []
                if embedder:  # after the commit: no lock is held while the backend works
                    embedder.after_store(added)
        added = _store(run, batch)
        if embedder:
            embedder.after_store(added)
    except KeyboardInterrupt:
        _store(run, batch)
        _finish(
            run,
            ImportRun.Status.FAILED,
            "Stopped before the end. Import the same paths again to resume: "
            "images already stored are skipped.",
        )
        raise
    except Exception:
        logger.exception("library import %s failed", run.pk)
        _store(run, batch)
        _finish(
            run,
            ImportRun.Status.FAILED,
            "The import stopped on an internal error; it has been logged. "
            "Import the same files again to resume.",
        )
        raise
    _finish(run, ImportRun.Status.DONE)


def _record_bad(run: ImportRun, source: str, reason: str) -> None:
    run.failed += 1
    run.bad_files.append({"source": source, "reason": reason})


def _store(run: ImportRun, batch: list[Processed]) -> list[str]:
    """Insert a batch of new images and save the run's counters, in one transaction.

    Returns the SHA-256 of the images it added.

    The state row's lock serialises concurrent imports, so the check for
    hashes already stored and the insert cannot race each other.
    """
    rows: dict[str, LibraryImage] = {}
    with transaction.atomic():
        if batch:
            seq = _next_index_seq()
            shas = {p.sha256 for p in batch}
            stored = set(
                LibraryImage.objects.filter(sha256__in=shas).values_list("sha256", flat=True)
            )
            for item in batch:
                if item.sha256 in stored or item.sha256 in rows:
                    run.duplicates += 1  # the same bytes twice in this import, or meanwhile
                    continue
                rows[item.sha256] = LibraryImage(**item.values, index_seq=seq, import_run=run)
            LibraryImage.objects.bulk_create(list(rows.values()))
            run.added += len(rows)
        run.save(update_fields=["processed", "added", "duplicates", "failed", "bad_files"])
    return list(rows)


def _finish(run: ImportRun, status: str, message: str = "") -> None:
    run.status = status
    run.error_message = message
    run.finished_at = timezone.now()
    run.lease_token, run.lease_expires_at = "", None
    run.save(
        update_fields=["status", "error_message", "finished_at", "lease_token", "lease_expires_at"]
    )


# --- staff uploads -------------------------------------------------------------------


def library_upload_create(*, user: User, files: Sequence[UploadedFile]) -> ImportRun:
    """Keep the uploaded files in a staging folder and queue their import after commit.

    Raises ValidationError when nothing or too much was sent; nothing is kept then.
    The files are checked by decoding, in the task, like any import: a bad one
    is listed on the run, never trusted by its name or Content-Type.
    """
    if not files:
        raise ValidationError({"files": "Choose at least one image to upload."})
    if len(files) > UPLOAD_MAX_FILES:
        raise ValidationError(
            {"files": f"Upload at most {UPLOAD_MAX_FILES} files at once; use a zip for more."}
        )
    limit = settings.LIBRARY_MAX_IMAGE_BYTES
    too_big = [f.name or "?" for f in files if (f.size or 0) > limit]
    if too_big:
        raise ValidationError(
            {
                "files": f"{', '.join(too_big[:3])}: larger than {limit // (1024 * 1024)} MB, "
                "the library's limit for one image."
            }
        )
    staging = f"library/uploads/{uuid.uuid4().hex}"
    folder = Path(settings.MEDIA_ROOT) / staging
    folder.mkdir(parents=True)
    names: list[str] = []
    for upload in files:
        # Never trust the name: keep a base name only, made unique in the folder.
        # Names matter: "cat.jpg" and "cat.txt" uploaded together pair as a sidecar.
        name = _safe_name(upload.name or "upload", taken=set(names))
        with (folder / name).open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        names.append(name)
    with transaction.atomic():
        run = ImportRun.objects.create(
            kind=ImportRun.Kind.UPLOAD,
            status=ImportRun.Status.QUEUED,
            created_by=user,
            sources=names,
            staging_dir=staging,
            total=len(files),
        )
        transaction.on_commit(lambda: dispatch_upload(run_id=run.pk))
    return run


def _safe_name(raw: str, *, taken: set[str]) -> str:
    base = Path(raw.replace("\\", "/")).name.replace("\x00", "").strip()[:100].lstrip(".")
    stem, suffix = os.path.splitext(base or "upload")
    name, number = f"{stem}{suffix}", 1
    while name in taken:
        number += 1
        name = f"{stem}-{number}{suffix}"
    return name


def dispatch_upload(*, run_id: int) -> bool:
    """Send the upload's task to the broker; if it is down the run stays queued.

    The sweeper (webapp/library/recovery.py) sends it again once the broker is back.
    """
    from webapp.library.tasks import process_upload  # tasks import services; avoid a cycle

    try:
        process_upload.delay(run_id)
    except Exception as exc:  # kombu raises several types when the broker is down
        logger.warning("could not queue library import %s yet (%s)", run_id, exc)
        return False
    ImportRun.objects.filter(pk=run_id, status=ImportRun.Status.QUEUED).update(
        dispatched_at=timezone.now()
    )
    return True


def library_upload_process(*, run_id: int) -> None:
    """Import a queued upload's staged files, inline (the Celery worker is the parallelism).

    Safe to run twice: the queued → running claim is a conditional UPDATE. The
    claim is leased; if this worker dies, the run is claimed again from the start
    (its counters too), and images the first attempt stored count as duplicates.
    """
    token = uuid.uuid4().hex
    now = timezone.now()
    claimed = ImportRun.objects.filter(pk=run_id, status=ImportRun.Status.QUEUED).update(
        status=ImportRun.Status.RUNNING,
        started_at=now,
        lease_token=token,
        lease_expires_at=now + timedelta(seconds=settings.SEARCH_LEASE_SECONDS),
        attempts=F("attempts") + 1,
        processed=0,
        added=0,
        duplicates=0,
        failed=0,
        bad_files=[],
    )
    if not claimed:
        return
    with lease_keeper.holding(ImportRun, run_id, token):
        _process_claimed_upload(ImportRun.objects.get(pk=run_id))


def _process_claimed_upload(run: ImportRun) -> None:
    folder = Path(settings.MEDIA_ROOT) / run.staging_dir
    collected = collect_items([str(folder)]) if folder.is_dir() else None
    if collected is None:
        _finish(run, ImportRun.Status.FAILED, "The uploaded files were no longer on the server.")
        return
    # Name them as the person did, not by the staging folder's path.
    items = [replace(item, source=item.file_name) for item in collected.items]
    try:
        _import_items(run, items, workers=1, on_progress=None)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- edits and the display copy -------------------------------------------------------


def library_image_update(
    *, image: LibraryImage, title: str, description: str, sidecar_text: str = ""
) -> LibraryImage:
    """Change what an image is called; its search terms and index position follow.

    ``sidecar_text``, when given, is parsed like a sidecar file and wins.
    """
    translations = dict(image.translations)
    if sidecar_text.strip():
        sidecar = parse_sidecar(sidecar_text)
        title, description, translations = sidecar.title, sidecar.description, sidecar.translations
    title = title.strip()
    if not title:
        raise ValidationError({"title": "An image needs a title."})
    with transaction.atomic():
        image.title = title[:300]
        image.description = description.strip()
        image.translations = translations
        image.terms = processing.search_terms(
            title=image.title,
            description=image.description,
            translations=translations,
            tags=list(image.tags),
            file_name=image.file_name,
        )
        image.index_seq = _next_index_seq()
        image.save(
            update_fields=[
                "title",
                "description",
                "translations",
                "terms",
                "index_seq",
                "updated_at",
            ]
        )
    return image


def library_images_delete(*, images: Iterable[LibraryImage]) -> int:
    """Delete images and their files; every process's index rebuilds on its next query."""
    victims = list(images)
    if not victims:
        return 0
    with transaction.atomic():
        LibraryImage.objects.filter(pk__in=[i.pk for i in victims]).delete()
        _next_index_seq()
        LibraryIndexState.objects.filter(pk=1).update(removals=F("removals") + 1)
    root = Path(settings.MEDIA_ROOT)
    for image in victims:
        for relative in (image.original_file, image.thumbnail_file, display_relative_path(image)):
            (root / relative).unlink(missing_ok=True)
    return len(victims)


def display_relative_path(image: LibraryImage) -> str:
    return f"library/display/{image.sha256[:2]}/{image.sha256}.jpg"


def library_display_file(*, image: LibraryImage) -> Path:
    """The ≤ 2048 px JPEG shown as the full image, made from the original on first use.

    Made lazily because the import must stay fast (a full decode and encode
    would halve its rate) and most images are never opened full size. The
    re-encode drops EXIF (GPS) and applies the orientation, as for uploads.
    """
    root = Path(settings.MEDIA_ROOT)
    target = root / display_relative_path(image)
    if not target.is_file():
        display = make_thumbnail(
            (root / image.original_file).read_bytes(), max_side=DISPLAY_SIDE, quality=88
        )
        processing.write_atomically(target, display.data)
    return target
