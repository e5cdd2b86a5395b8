"""Pages: collections, the "Save to…" menu, share links, exports and saved searches.

Every view but the two public share views needs a signed-in owner; the
access helpers below raise 404 for anyone else, so strangers can't even learn
that a collection exists.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling
from django_htmx.middleware import HtmxDetails

from webapp.collections import selectors, services
from webapp.collections.exports import export_response
from webapp.collections.forms import (
    CollectionFilterForm,
    CollectionForm,
    ExportForm,
    ImportForm,
    MoveForm,
    NewCollectionForResultForm,
    NoteForm,
    ResultRefForm,
    SavedSearchForm,
    ShareForm,
)
from webapp.collections.imports import IMPORT_MAX_BYTES, ImportRejected, parse_export
from webapp.collections.models import Collection, CollectionItem, SavedSearch
from webapp.search.forms import ResultFilterForm
from webapp.search.models import Result, Search
from webapp.search.selectors import ResultFilters, search_results
from webapp.search.thumbnails import url_hash

ITEMS_PER_PAGE = 60
SHARED_THUMBNAIL_SECONDS = 300  # short: a revoked link should stop working soon


class HtmxRequest(HttpRequest):
    htmx: HtmxDetails


class AuthedRequest(HtmxRequest):
    """What the owner's views receive: login is required (middleware) and htmx is parsed."""

    user: User


# --- access helpers ---------------------------------------------------------------------


def _get_collection_for_user(request: AuthedRequest, pk: int) -> Collection:
    return get_object_or_404(Collection, pk=pk, user=request.user)


def _get_item_for_user(request: AuthedRequest, pk: int, item_pk: int) -> CollectionItem:
    return get_object_or_404(
        CollectionItem.objects.select_related("collection", "thumbnail"),
        pk=item_pk,
        collection_id=pk,
        collection__user=request.user,
    )


def _get_saved_search_for_user(request: AuthedRequest, pk: int) -> SavedSearch:
    return get_object_or_404(SavedSearch, pk=pk, user=request.user)


def _get_result_for_user(request: AuthedRequest, form: ResultRefForm) -> Result:
    result = selectors.result_for_user(
        user=request.user, search_id=form.cleaned_data["search"], rank=form.cleaned_data["rank"]
    )
    if result is None:
        raise Http404("No such result")
    return result


def _safe_next(request: HttpRequest, candidate: str, fallback: str) -> str:
    """Only a path on this site: never an open redirect."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def _form_errors(form: Any, exc: ValidationError) -> None:
    for field, messages in exc.message_dict.items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


# --- collections ------------------------------------------------------------------------


def _index_context(request: AuthedRequest, form: CollectionForm) -> dict[str, object]:
    return {
        "collections": selectors.collections_for(user=request.user),
        "form": form,
        "import_form": ImportForm(),
    }


@require_GET
def collection_index(request: AuthedRequest) -> HttpResponse:
    return render(request, "collections/index.html", _index_context(request, CollectionForm()))


@require_POST
def collection_create(request: AuthedRequest) -> HttpResponse:
    form = CollectionForm(request.POST)
    if form.is_valid():
        try:
            collection = services.collection_create(
                user=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            return redirect("collections:detail", pk=collection.pk)
    return render(request, "collections/index.html", _index_context(request, form), status=400)


def _detail_context(
    request: AuthedRequest, collection: Collection, *, edit_form: CollectionForm | None = None
) -> dict[str, object]:
    filter_form = CollectionFilterForm(request.GET or None)
    filters = filter_form.filters()
    page = Paginator(
        selectors.collection_items(collection=collection, filters=filters), ITEMS_PER_PAGE
    ).get_page(request.GET.get("page"))
    link = selectors.collection_share_link(collection=collection)
    return {
        "collection": collection,
        "page": page,
        "filter_form": filter_form,
        "filters": filters,
        "can_reorder": not filters.active,
        "sites": selectors.collection_sites(collection=collection),
        "share_link": link,
        "share_url": request.build_absolute_uri(reverse("collections:shared", args=[link.token]))
        if link
        else "",
        "share_form": ShareForm(),
        "edit_form": edit_form
        or CollectionForm(initial={"name": collection.name, "description": collection.description}),
        "query_without_page": _query_without_page(request),
        "items_url": _items_url(collection),
    }


def _items_url(collection: Collection) -> str:
    """The prefix of every item's own URLs (note, move, remove), reversed once a page."""
    return reverse("collections:detail", args=[collection.pk]) + "items/"


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@require_GET
def collection_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    collection = _get_collection_for_user(request, pk)
    context = _detail_context(request, collection)
    if request.htmx and request.htmx.target == "load-more":
        return render(request, "collections/detail.html#page", context)
    if request.htmx:
        return render(request, "collections/detail.html#gallery", context)
    return render(request, "collections/detail.html", context)


@require_POST
def collection_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    collection = _get_collection_for_user(request, pk)
    form = CollectionForm(request.POST)
    if form.is_valid():
        try:
            services.collection_update(
                collection=collection,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            return redirect("collections:detail", pk=collection.pk)
    collection.refresh_from_db()
    context = _detail_context(request, collection, edit_form=form)
    return render(request, "collections/detail.html", context, status=400)


@require_http_methods(["GET", "POST"])
def collection_delete(request: AuthedRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation (works without JS); POST deletes."""
    collection = _get_collection_for_user(request, pk)
    if request.method == "POST":
        services.collection_delete(collection=collection)
        return redirect("collections:index")
    count = collection.items.count()
    return render(request, "collections/delete.html", {"collection": collection, "count": count})


# --- items ------------------------------------------------------------------------------


@require_POST
def item_note(request: AuthedRequest, pk: int, item_pk: int) -> HttpResponse:
    item = _get_item_for_user(request, pk, item_pk)
    form = NoteForm(request.POST)
    status = 200
    if form.is_valid():
        try:
            services.collection_item_set_note(item=item, note=form.cleaned_data["note"])
        except ValidationError as exc:
            _form_errors(form, exc)
            status = 400
    else:
        status = 400
    if not request.htmx:
        if status == 200:
            return redirect(reverse("collections:detail", args=[pk]) + f"#item-{item.pk}")
        return render(
            request, "collections/note_error.html", {"item": item, "form": form}, status=400
        )
    item.refresh_from_db()
    context = {
        "item": item,
        "collection": item.collection,
        "note_form": form,
        "items_url": _items_url(item.collection),
        "saved": status == 200,
    }
    return render(request, "collections/_item.html#note", context, status=status)


@require_POST
def item_move(request: AuthedRequest, pk: int, item_pk: int) -> HttpResponse:
    item = _get_item_for_user(request, pk, item_pk)
    form = MoveForm(request.POST)
    if not form.is_valid():
        message = " ".join(str(e) for e in form.non_field_errors()) or "Say where to move the item."
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    if form.cleaned_data["direction"]:
        index = services.collection_item_step(item=item, direction=form.cleaned_data["direction"])
    else:
        index = services.collection_item_move(item=item, to_index=form.cleaned_data["to"])
    if request.htmx:
        # The page has already moved the card; it only needs the final place.
        return HttpResponse(f"Moved to place {index + 1}.", content_type="text/plain")
    page = index // ITEMS_PER_PAGE + 1
    return redirect(reverse("collections:detail", args=[pk]) + f"?page={page}#item-{item.pk}")


@require_POST
def item_remove(request: AuthedRequest, pk: int, item_pk: int) -> HttpResponse:
    item = _get_item_for_user(request, pk, item_pk)
    services.collection_item_remove(item=item)
    if request.htmx:
        return HttpResponse("")  # the card swaps itself out
    return redirect("collections:detail", pk=pk)


# --- "Save to…" ---------------------------------------------------------------------------


def _menu_context(
    request: AuthedRequest, result: Result, next_url: str, **extra: object
) -> dict[str, object]:
    collections = list(
        selectors.save_menu_collections(
            user=request.user, image_url_hash=url_hash(result.image_url)
        )
    )
    saved = any(c.has_image for c in collections)  # type: ignore[attr-defined]
    return {
        "r": result,
        "menu_collections": collections,
        "next_url": next_url,
        "saved_urls": {result.image_url} if saved else set(),
        **extra,
    }


def _search_url(result: Result) -> str:
    return reverse("search:detail", args=[result.search_id])


@require_GET
def save_menu(request: AuthedRequest) -> HttpResponse:
    form = ResultRefForm(request.GET)
    if not form.is_valid():
        return render(request, "collections/bad_result.html", {"form": form}, status=400)
    result = _get_result_for_user(request, form)
    next_url = _safe_next(request, form.cleaned_data["next"], _search_url(result))
    context = _menu_context(request, result, next_url)
    if request.htmx:
        return render(request, "collections/save_menu.html#menu", context)
    return render(request, "collections/save_menu.html", context)


def _saved_response(
    request: AuthedRequest, result: Result, next_url: str, message: str, status: int = 200
) -> HttpResponse:
    if not request.htmx:
        if status != 200:
            context = _menu_context(request, result, next_url, error=message)
            return render(request, "collections/save_menu.html", context, status=status)
        # Back to the menu page, which now shows the ✓, so more can be saved.
        query = urlencode({"search": result.search_id, "rank": result.rank, "next": next_url})
        return redirect(reverse("collections:save_menu") + "?" + query)
    key = "message" if status == 200 else "error"
    context = _menu_context(request, result, next_url, oob=True, **{key: message})
    return render(request, "collections/save_menu.html#menu", context, status=status)


@require_POST
def save_result(request: AuthedRequest, pk: int) -> HttpResponse:
    collection = _get_collection_for_user(request, pk)
    form = ResultRefForm(request.POST)
    if not form.is_valid():
        return render(request, "collections/bad_result.html", {"form": form}, status=400)
    result = _get_result_for_user(request, form)
    _, created = services.collection_add_result(collection=collection, result=result)
    message = f"Saved to “{collection.name}”." if created else f"Already in “{collection.name}”."
    next_url = _safe_next(request, form.cleaned_data["next"], _search_url(result))
    return _saved_response(request, result, next_url, message)


@require_POST
def save_result_to_new(request: AuthedRequest) -> HttpResponse:
    form = NewCollectionForResultForm(request.POST)
    if not form.is_valid():
        return render(request, "collections/bad_result.html", {"form": form}, status=400)
    result = _get_result_for_user(request, form)
    next_url = _safe_next(request, form.cleaned_data["next"], _search_url(result))
    try:
        collection = services.collection_create(user=request.user, name=form.cleaned_data["name"])
    except ValidationError as exc:
        return _saved_response(request, result, next_url, " ".join(exc.messages), status=400)
    services.collection_add_result(collection=collection, result=result)
    return _saved_response(request, result, next_url, f"Saved to the new “{collection.name}”.")


# --- sharing ------------------------------------------------------------------------------


def _share_response(request: AuthedRequest, collection: Collection) -> HttpResponse:
    if request.htmx:
        context = _detail_context(request, collection)
        return render(request, "collections/detail.html#share", context)
    return redirect(reverse("collections:detail", args=[collection.pk]) + "#share")


@require_POST
def collection_share(request: AuthedRequest, pk: int) -> HttpResponse:
    collection = _get_collection_for_user(request, pk)
    form = ShareForm(request.POST)
    if not form.is_valid():
        return HttpResponse(
            "Choose an expiry from the list.", status=400, content_type="text/plain"
        )
    services.collection_share(collection=collection, expires_at=form.expires_at())
    return _share_response(request, collection)


@require_POST
def collection_unshare(request: AuthedRequest, pk: int) -> HttpResponse:
    collection = _get_collection_for_user(request, pk)
    services.collection_unshare(collection=collection)
    return _share_response(request, collection)


def _noindex(response: HttpResponseBase) -> HttpResponseBase:
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@login_not_required
@require_GET
def shared_collection(request: HtmxRequest, token: str) -> HttpResponseBase:
    """The public, read-only gallery: titles and pictures, nothing about the owner."""
    collection = selectors.shared_collection(token=token)
    if collection is None:
        raise Http404("This link doesn't work: it was revoked, it expired, or it never existed.")
    filters = ResultFilterForm().filters()
    page = Paginator(
        selectors.collection_items(collection=collection, filters=filters), ITEMS_PER_PAGE
    ).get_page(request.GET.get("page"))
    context = {"collection": collection, "page": page, "token": token, "public": True}
    template = "collections/shared.html"
    if request.htmx and request.htmx.target == "load-more":
        template += "#page"
    response = render(request, template, context)
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return _noindex(response)


@login_not_required
@require_http_methods(["GET", "HEAD"])
def shared_thumbnail(request: HttpRequest, token: str, digest: str) -> HttpResponseBase:
    """A thumbnail, for anyone with the link, but only of an image in that collection."""
    collection = selectors.shared_collection(token=token)
    thumb = selectors.shared_thumbnail(collection=collection, digest=digest) if collection else None
    path = Path(settings.MEDIA_ROOT) / thumb.file if thumb else None
    if path is None or not path.is_file():
        raise Http404("No such thumbnail")
    response = FileResponse(path.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = f"private, max-age={SHARED_THUMBNAIL_SECONDS}"
    return _noindex(response)


# --- export and import --------------------------------------------------------------------


def _bad_format() -> HttpResponse:
    return HttpResponse(
        "Choose an export format: json, csv or zip.", status=400, content_type="text/plain"
    )


@require_GET
def collection_export(request: AuthedRequest, pk: int) -> HttpResponseBase:
    collection = _get_collection_for_user(request, pk)
    form = ExportForm(request.GET)
    if not form.is_valid():
        return _bad_format()
    source = selectors.collection_export_source(collection=collection)
    return export_response(source, form.cleaned_data["format"])


@require_GET
def search_export(request: AuthedRequest, pk: int) -> HttpResponseBase:
    search = get_object_or_404(Search, pk=pk, user=request.user)
    form = ExportForm(request.GET)
    if not form.is_valid():
        return _bad_format()
    return export_response(
        selectors.search_export_source(search=search), form.cleaned_data["format"]
    )


@require_http_methods(["GET", "POST"])
def collection_import(request: AuthedRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > IMPORT_MAX_BYTES:
                raise ImportRejected(
                    [f"The file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB, the limit."]
                )
            parsed = parse_export(upload.read())
            if form.cleaned_data["name"]:
                parsed = dataclasses.replace(parsed, name=form.cleaned_data["name"])
            collection = services.collection_import(user=request.user, parsed=parsed)
        except ImportRejected as exc:
            for message in exc.messages:
                form.add_error("file", message)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            return redirect("collections:detail", pk=collection.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "collections/import.html", {"form": form}, status=status)


# --- saved searches ---------------------------------------------------------------------


@require_GET
def saved_search_index(request: AuthedRequest) -> HttpResponse:
    saved = selectors.saved_searches_for(user=request.user)
    return render(request, "collections/saved_searches.html", {"saved_searches": saved})


@require_http_methods(["GET", "POST"])
def saved_search_create(request: AuthedRequest) -> HttpResponse:
    search = get_object_or_404(Search, pk=_int_or_404(request.GET.get("search")), user=request.user)
    filters = ResultFilterForm(request.GET).filters()
    form = SavedSearchForm(request.POST or None, initial={"name": search.query[:100]})
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.saved_search_create(
                user=request.user,
                search=search,
                name=form.cleaned_data["name"],
                schedule=form.cleaned_data["schedule"] or SavedSearch.Schedule.MANUAL,
                filters=_chosen(filters),
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            return redirect("collections:saved_search", pk=saved.pk)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "search": search, "filters": filters}
    return render(request, "collections/saved_search_new.html", context, status=status)


def _chosen(filters: ResultFilters) -> dict[str, object]:
    """Only the filters that differ from "no filter", to keep on the saved search."""
    default = dataclasses.asdict(ResultFilters())
    return {k: v for k, v in dataclasses.asdict(filters).items() if v != default[k]}


def _int_or_404(raw: str | None) -> int:
    if not raw or not raw.isdigit():
        raise Http404("No such search")
    return int(raw)


def _saved_search_context(
    request: AuthedRequest, saved: SavedSearch, **extra: object
) -> dict[str, object]:
    changes = selectors.saved_search_changes(saved_search=saved)
    runs = list(selectors.saved_search_runs(saved_search=saved)[:20])
    filters = CollectionFilterForm(saved.filters).filters()
    results = search_results(search=changes.latest, filters=filters) if changes.latest else []
    running = [run for run in runs if not run.search.is_finished]
    return {
        "saved": saved,
        "changes": changes,
        "runs": runs,
        "running": running,
        "results": results,
        "new_result_ids": changes.new_result_ids,
        "saved_urls": selectors.saved_image_urls(user=request.user, search=changes.latest)
        if changes.latest
        else set(),
        "form": SavedSearchForm(initial={"name": saved.name, "schedule": saved.schedule}),
        **extra,
    }


@require_GET
def saved_search_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    saved = _get_saved_search_for_user(request, pk)
    context = _saved_search_context(request, saved)
    if request.htmx:
        html = render(request, "collections/saved_search.html#body", context).content
        return HttpResponse(html) if context["running"] else HttpResponseStopPolling(html)
    return render(request, "collections/saved_search.html", context)


@require_POST
def saved_search_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    saved = _get_saved_search_for_user(request, pk)
    form = SavedSearchForm(request.POST)
    if form.is_valid():
        try:
            services.saved_search_update(
                saved_search=saved,
                name=form.cleaned_data["name"],
                schedule=form.cleaned_data["schedule"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            return redirect("collections:saved_search", pk=saved.pk)
    saved.refresh_from_db()
    context = _saved_search_context(request, saved, form=form)
    return render(request, "collections/saved_search.html", context, status=400)


@require_POST
def saved_search_run(request: AuthedRequest, pk: int) -> HttpResponse:
    saved = _get_saved_search_for_user(request, pk)
    try:
        services.saved_search_run(saved_search=saved)
    except services.SavedSearchRunRefused as exc:
        saved.refresh_from_db()  # the page shows the reason, kept as last_error
        context = _saved_search_context(request, saved)
        return render(
            request,
            "collections/saved_search.html",
            context,
            status=429 if exc.limit_reached else 400,
        )
    return redirect("collections:saved_search", pk=saved.pk)


@require_POST
def saved_search_delete(request: AuthedRequest, pk: int) -> HttpResponse:
    saved = _get_saved_search_for_user(request, pk)
    services.saved_search_delete(saved_search=saved)
    return redirect("collections:saved_searches")
