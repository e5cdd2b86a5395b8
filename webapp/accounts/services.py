"""Issuing and checking API tokens, and the embedded mode's first account."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.utils import timezone

from webapp.accounts.models import ApiToken

TOKEN_PREFIX = "lp_"  # noqa: S105 (a marker that tells Loupe tokens apart, not a secret)
LOCAL_USERNAME = "loupe"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_issue(*, user: User) -> str:
    """Create a token for ``user`` and return it; it cannot be read back later."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, token_hash=_hash(token), prefix=token[:10])
    return token


def api_token_user(*, token: str) -> User | None:
    """The active user a token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    found = ApiToken.objects.select_related("user").filter(token_hash=_hash(token)).first()
    if found is None or not found.user.is_active:
        return None
    ApiToken.objects.filter(pk=found.pk).update(last_used_at=timezone.now())
    return found.user


@dataclass(frozen=True)
class LocalLogin:
    username: str
    password: str | None  # None when the account existed before this call
    created: bool


def local_account_ensure(*, password_file: Path) -> LocalLogin:
    """On a fresh install, create one staff account and keep its password in a 0600 file.

    ``make run`` calls this so a new machine can sign in at once, without a
    hard-coded password.
    """
    user_model = get_user_model()
    if user_model.objects.exists():
        known = password_file.read_text().strip() if password_file.exists() else None
        return LocalLogin(username=LOCAL_USERNAME, password=known, created=False)
    password = secrets.token_urlsafe(12)
    user_model.objects.create_superuser(LOCAL_USERNAME, "", password)
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    return LocalLogin(username=LOCAL_USERNAME, password=password, created=True)
