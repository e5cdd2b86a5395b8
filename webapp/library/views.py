"""Library pages: browse and search, an image's page and files, staff uploads and their progress.

Who may do what: library images belong to the installation, so every
signed-in person may search and view all of them (sign-in is required by the
middleware); only staff may add images or see an import's progress. Others
get a 403 page that says so, since the upload page's address is no secret.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseStopPolling
from django_htmx.middleware import HtmxDetails

from webapp.library import services
from webapp.library.embedding import embedding_status
from webapp.library.forms import LibrarySearchForm, LibraryUploadForm
from webapp.library.models import ImportRun, LibraryImage
from webapp.library.selectors import LibraryResults, QueryImageError, library_search

PAGE_SIZE = 48
FILE_CACHE_SECONDS = 365 * 24 * 3600  # files are named by content; an id never changes image


class AuthedRequest(HttpRequest):
    user: User
    htmx: HtmxDetails


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: AuthedRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            return render(request, "library/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _get_image(pk: int) -> LibraryImage:
    """Any library image: they are shared by everyone signed in to this installation."""
    return get_object_or_404(LibraryImage, pk=pk)


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def _similar_bytes(request: HttpRequest) -> bytes | None:
    """ "Find similar" on an item page sends ?similar=<id>: search with its thumbnail."""
    raw = request.GET.get("similar", "")
    if not raw.isdigit():
        return None
    image = _get_image(int(raw))
    path = Path(settings.MEDIA_ROOT) / image.thumbnail_file
    return path.read_bytes() if path.is_file() else None


@require_http_methods(["GET", "POST"])
def library_home(request: AuthedRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else request.GET
    form = LibrarySearchForm(data or None, request.FILES or None)
    page = _page_number(request)
    results: LibraryResults | None = None
    status = 200
    if form.is_bound and form.is_valid():
        upload = form.cleaned_data["image"]
        image_bytes = upload.read() if upload else _similar_bytes(request)
        query = form.cleaned_data["q"].strip()
        if query or image_bytes:
            try:
                results = library_search(
                    query=query,
                    image_bytes=image_bytes,
                    limit=PAGE_SIZE,
                    offset=(page - 1) * PAGE_SIZE,
                    filters=form.filters(),
                )
            except QueryImageError as exc:
                form.add_error("image", exc.message)
                status = 400
    elif form.is_bound:
        status = 400
    context: dict[str, object] = {
        "form": form,
        "results": results,
        "recent": None,
        "page": page,
        "by_image": bool(request.FILES) or "similar" in request.GET,
        "library_count": LibraryImage.objects.count(),
        "embedding": embedding_status(),
    }
    if results is None:
        context["recent"] = Paginator(
            LibraryImage.objects.order_by("-created_at", "-pk"), PAGE_SIZE
        ).get_page(page)
    return render(request, "library/home.html", context, status=status)


@require_GET
def library_item(request: AuthedRequest, pk: int) -> HttpResponse:
    image = _get_image(pk)
    return render(request, "library/item.html", {"image": image})


def _file_response(path: Path) -> FileResponse:
    if not path.is_file():
        raise Http404("The image file is missing.")
    response = FileResponse(path.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = f"private, max-age={FILE_CACHE_SECONDS}, immutable"
    return response


@require_http_methods(["GET", "HEAD"])
def library_thumbnail(request: AuthedRequest, pk: int) -> FileResponse:
    image = _get_image(pk)
    return _file_response(Path(settings.MEDIA_ROOT) / image.thumbnail_file)


@require_http_methods(["GET", "HEAD"])
def library_full(request: AuthedRequest, pk: int) -> FileResponse:
    image = _get_image(pk)
    try:
        path = services.library_display_file(image=image)
    except FileNotFoundError as exc:
        raise Http404("The image file is missing.") from exc
    return _file_response(path)


@require_http_methods(["GET", "POST"])
@staff_required
def library_upload(request: AuthedRequest) -> HttpResponse:
    posted = request.method == "POST"
    form = LibraryUploadForm(request.POST, request.FILES) if posted else LibraryUploadForm()
    if posted and form.is_valid():
        try:
            run = services.library_upload_create(
                user=request.user, files=form.cleaned_data["images"]
            )
        except ValidationError as exc:
            for message in exc.message_dict.get("files", exc.messages):
                form.add_error("images", message)
        else:
            return redirect("library:import", pk=run.pk)
    status = 400 if request.method == "POST" else 200
    recent = ImportRun.objects.order_by("-created_at")[:10]
    return render(request, "library/upload.html", {"form": form, "recent": recent}, status=status)


@require_GET
@staff_required
def library_import_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ImportRun, pk=pk)
    context = {"run": run}
    if request.htmx:
        response_class = HttpResponseStopPolling if run.is_finished else HttpResponse
        return response_class(render(request, "library/import.html#progress", context).content)
    return render(request, "library/import.html", context)
