"""Sign-in is required everywhere, except where a page authenticates by itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponseBase


class LoginRequiredExceptApiMiddleware(LoginRequiredMiddleware):
    """Django's LoginRequiredMiddleware, minus /api/.

    The JSON API accepts a bearer token instead of a session and answers 401 in
    JSON; a redirect to an HTML login page would be useless to a script.
    """

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        if request.path.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
