"""The staff dashboard. Staff only: anyone else signed in gets a 404, as if it did not exist."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from webapp.dashboard import queue_probe, services
from webapp.dashboard.page import dashboard_context
from webapp.search.models import Search


class AuthedRequest(HttpRequest):
    user: User
    htmx: HtmxDetails


def _require_staff(request: AuthedRequest) -> None:
    """404, not 403: people who are not staff can't even learn the page exists."""
    if not (request.user.is_active and request.user.is_staff):
        raise Http404("No such page")


def _named(search: Search) -> str:
    return f"“{search.query}”" if search.query else "(an image search)"


def _back_to(anchor: str) -> HttpResponse:
    return redirect(f"{reverse('dashboard:index')}#{anchor}")


@require_GET
def index(request: AuthedRequest) -> HttpResponse:
    _require_staff(request)
    if request.htmx and request.GET.get("panel") == "queues":
        live = queue_probe.queue_status()
        return render(request, "dashboard/index.html#live-queue", {"live": live})
    context = dashboard_context(now=timezone.now())
    # Without JavaScript the live panel is a link to ?live=1, which waits for the probe.
    context["live"] = queue_probe.queue_status() if request.GET.get("live") == "1" else None
    return render(request, "dashboard/index.html", context)


@require_POST
def dispatch_again(request: AuthedRequest, pk: int) -> HttpResponse:
    _require_staff(request)
    search = get_object_or_404(Search, pk=pk)
    if services.search_dispatch_again(search_id=search.pk, staff=request.user):
        messages.success(
            request, f"Search #{search.pk} {_named(search)} was put back in the queue."
        )
    else:
        search.refresh_from_db()
        status = search.get_status_display().lower()
        messages.warning(
            request,
            f"Search #{search.pk} is not stuck any more (it is {status} or was just dispatched "
            "again), so nothing was queued.",
        )
    return _back_to("stuck")


@require_POST
def retry(request: AuthedRequest, pk: int) -> HttpResponse:
    _require_staff(request)
    search = get_object_or_404(Search, pk=pk)
    if services.search_retry(search_id=search.pk, staff=request.user):
        messages.success(request, f"Failed search #{search.pk} {_named(search)} was queued again.")
    else:
        search.refresh_from_db()
        messages.warning(
            request,
            f"Search #{search.pk} has not failed (it is {search.get_status_display().lower()}), "
            "so nothing was queued.",
        )
    return _back_to("failed")
