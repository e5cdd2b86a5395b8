"""Pages: the search form, a search's gallery, history, and thumbnails."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling
from django_htmx.middleware import HtmxDetails

from webapp.search import services
from webapp.search.forms import ResultFilterForm, SearchForm
from webapp.search.models import Provider, Result, Search
from webapp.search.page_cache import PageVersion, finished_page
from webapp.search.provider_registry import web_providers_emulated
from webapp.search.query_images import content_type_of, media_path, name_from_signed, preview_name
from webapp.search.selectors import (
    gallery_state,
    search_gallery,
    search_history_for,
    thumbnail_for_viewer,
)

THUMBNAIL_CACHE_SECONDS = 365 * 24 * 3600  # thumbnails never change for a URL hash


class AuthedRequest(HttpRequest):
    """What these views receive: login is required (middleware) and htmx is parsed."""

    user: User
    htmx: HtmxDetails


def _get_search_for_user(request: AuthedRequest, pk: int) -> Search:
    """The user's own search, or 404: strangers can't even learn it exists."""
    return get_object_or_404(Search, pk=pk, user=request.user)


def _home_context(request: AuthedRequest, form: SearchForm) -> dict[str, object]:
    return {
        "form": form,
        "recent": search_history_for(user=request.user)[:6],
        "library_first": web_providers_emulated(),
    }


@require_GET
def home(request: AuthedRequest) -> HttpResponse:
    # With no provider keys, the local library is offered first: it answers with real data.
    default_provider = Provider.LIBRARY if web_providers_emulated() else ""
    provider = request.GET.get("provider", default_provider)
    form = SearchForm(initial={"query": request.GET.get("q", ""), "provider": provider})
    return render(request, "search/home.html", _home_context(request, form))


@require_POST
def search_submit(request: AuthedRequest) -> HttpResponse:
    form = SearchForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            search = services.search_create(
                user=request.user,
                query=form.cleaned_data["query"],
                provider=form.cleaned_data["provider"],
                exclude_sites=form.cleaned_data["exclude_sites"],
                image=form.cleaned_data["image"],
                image_url=form.cleaned_data["image_url"],
            )
        except services.SearchLimitReached as exc:
            form.add_error(None, exc.message)
            return render(request, "search/home.html", _home_context(request, form), status=429)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                for message in messages:
                    form.add_error(field if field in form.fields else None, message)
        else:
            return redirect("search:detail", pk=search.pk)
    return render(request, "search/home.html", _home_context(request, form), status=400)


def detail_context(request: AuthedRequest, search: Search) -> dict[str, object]:
    """What the gallery page and its partials render (also the live stream, webapp/live/)."""
    filter_form = ResultFilterForm(request.GET or None)
    filters = filter_form.filters()
    gallery = search_gallery(search=search, filters=filters)  # one query for cards and sites
    return {
        "search": search,
        "results": gallery.results,
        "filter_form": filter_form,
        "filters": filters,
        "sites": gallery.sites,
        "rerun_form": SearchForm(
            initial={
                "query": search.query,
                "exclude_sites": search.exclude_sites,
                # Searching again from a library search stays in the library; "Automatic"
                # would send the words to the web (or its emulator) instead.
                "provider": Provider.LIBRARY if search.provider == Provider.LIBRARY else "",
            }
        ),
    }


@require_GET
def search_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    # What the page cache needs first, in one narrow query; the whole search (and its
    # results) is read only when the page has to be rendered.
    state = gallery_state(search_id=pk, user_id=request.user.pk)
    if state is None:
        raise Http404("No such search")
    template = "search/detail.html#results" if request.htmx else "search/detail.html"

    def render_page(csrf_token: str | None = None) -> str:
        search = Search.objects.select_related("saved_run__saved_search").get(pk=pk)
        context = detail_context(request, search)
        if csrf_token is not None:
            context["csrf_token"] = csrf_token
        return render_to_string(template, context, request)

    if state.status not in Search.FINISHED:
        return HttpResponse(render_page())
    version = PageVersion(pk, state.finished_at, state.saved_run_id, state.saved_items)
    html = finished_page(request, version, partial=bool(request.htmx), render=render_page)
    # A poll that finds the search finished stops polling: htmx's 286.
    return HttpResponseStopPolling(html) if request.htmx else HttpResponse(html)


@require_GET
def history(request: AuthedRequest) -> HttpResponse:
    page = Paginator(search_history_for(user=request.user), 25).get_page(request.GET.get("page"))
    return render(request, "search/history.html", {"page": page})


@require_POST
def search_rerun(request: AuthedRequest, pk: int) -> HttpResponse:
    search = _get_search_for_user(request, pk)
    try:
        fresh = services.search_rerun(search=search)
    except services.SearchLimitReached as exc:
        return render(request, "search/limit_reached.html", {"message": exc.message}, status=429)
    except ValidationError:
        # Input that was valid once can only fail if the rules tightened since.
        return redirect(f"/?q={search.query}")
    return redirect("search:detail", pk=fresh.pk)


@require_POST
def search_similar(request: AuthedRequest, result_pk: int) -> HttpResponse:
    """Start an image search from one of the person's own results."""
    result = get_object_or_404(Result, pk=result_pk, search__user=request.user)
    try:
        search = services.search_similar_to(user=request.user, result=result)
    except services.SearchLimitReached as exc:
        return render(request, "search/limit_reached.html", {"message": exc.message}, status=429)
    except ValidationError as exc:
        return render(
            request, "search/limit_reached.html", {"message": exc.messages[0]}, status=400
        )
    return redirect("search:detail", pk=search.pk)


@require_http_methods(["GET", "HEAD"])
def query_image(request: AuthedRequest, pk: int, size: str) -> FileResponse:
    """The owner's query image: "preview" (small, for history) or "full"."""
    search = _get_search_for_user(request, pk)
    if not search.query_image or size not in ("preview", "full"):
        raise Http404("This search has no query image")
    name = preview_name(search.query_image) if size == "preview" else search.query_image
    return _private_file(media_path(name), content_type_of(name))


@staff_member_required
@require_http_methods(["GET", "HEAD"])
def query_image_admin(request: HttpRequest, pk: int) -> FileResponse:
    """The small preview of any search's query image, for the admin's list."""
    search = get_object_or_404(Search, pk=pk)
    if not search.query_image:
        raise Http404("This search has no query image")
    name = preview_name(search.query_image)
    return _private_file(media_path(name), content_type_of(name))


@login_not_required
@require_http_methods(["GET", "HEAD"])
def query_image_public(request: HttpRequest, token: str) -> FileResponse:
    """A query image for the provider to fetch, by a signed, expiring link (PUBLIC_BASE_URL)."""
    name = name_from_signed(token)
    if name is None:
        raise Http404("This link is invalid or has expired")
    return _private_file(media_path(name), content_type_of(name))


def _private_file(path: Path, content_type: str) -> FileResponse:
    if not path.is_file():
        raise Http404("The image is gone")
    response = FileResponse(path.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_POST
def search_delete(request: AuthedRequest, pk: int) -> HttpResponse:
    search = _get_search_for_user(request, pk)
    services.search_delete(search=search)
    if request.htmx:
        return HttpResponse("")  # the row swaps itself out
    return redirect("search:history")


@require_http_methods(["GET", "HEAD"])
def thumbnail(request: AuthedRequest, digest: str) -> FileResponse:
    thumb = thumbnail_for_viewer(user=request.user, digest=digest)
    if thumb is None:
        raise Http404("No such thumbnail")
    path = Path(settings.MEDIA_ROOT) / thumb.file
    if not path.is_file():
        raise Http404("No such thumbnail")
    response = FileResponse(path.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = f"private, max-age={THUMBNAIL_CACHE_SECONDS}, immutable"
    return response
