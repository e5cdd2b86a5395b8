"""The JSON API root: authentication, error shapes and the offline docs page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer, SessionAuth

from webapp.accounts.services import api_token_user
from webapp.collections.api import router as collections_router
from webapp.search.api import router as search_router


class BearerTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return api_token_user(token=token)


api = NinjaAPI(
    title="Loupe API",
    version="1",
    description="Search web images and read results. Authenticate with the browser session "
    "or `Authorization: Bearer <token>` (`python manage.py issue_token <username>`).",
    auth=[BearerTokenAuth(), SessionAuth()],
    urls_namespace="api",
)
api.add_router("/", search_router)
api.add_router("/", collections_router)


@api.exception_handler(NinjaValidationError)
def readable_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    """Say which field is wrong in words, instead of pydantic's raw structure."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        location = [str(part) for part in error.get("loc", []) if part not in ("body", "payload")]
        errors.setdefault(".".join(location) or "body", []).append(str(error.get("msg", "invalid")))
    detail = "; ".join(f"{field}: {', '.join(msgs)}" for field, msgs in errors.items())
    return api.create_response(request, {"detail": detail, "errors": errors}, status=400)


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request,
        {"detail": "Sign in, or send Authorization: Bearer <token>."},
        status=401,
    )
