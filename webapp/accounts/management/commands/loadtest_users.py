"""Create (or refresh) the accounts ``make loadtest`` signs in as: loadtest-1 .. loadtest-N.

Run against the same database as the server under test (same DATABASE_URL and
LOUPE_VAR_DIR). The password comes from LOADTEST_PASSWORD, or is generated
once and kept in ``<var>/loadtest-password.txt`` (mode 0600), where
scripts/loadtest.sh reads it; it is never printed. Running it again is safe:
existing accounts get the same password again, nothing is duplicated.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

USERNAME_PREFIX = "loadtest-"
PASSWORD_ENV = "LOADTEST_PASSWORD"  # noqa: S105 (the variable's name, not a password)
PASSWORD_FILE_NAME = "loadtest-password.txt"  # noqa: S105 (a file name)
MAX_USERS = 10_000


class Command(BaseCommand):
    help = "Create the load-test accounts loadtest-1..N (password: LOADTEST_PASSWORD or a file)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=50, help="how many accounts (default 50)")

    def handle(self, *args: Any, **options: Any) -> None:
        count: int = options["count"]
        if not 1 <= count <= MAX_USERS:
            raise CommandError(f"--count must be between 1 and {MAX_USERS}")
        password_file = settings.VAR_DIR / PASSWORD_FILE_NAME
        password = _password(password_file)
        created = loadtest_users_ensure(count=count, password=password)
        self.stdout.write(
            f"Load-test accounts {USERNAME_PREFIX}1..{USERNAME_PREFIX}{count} are ready "
            f"({created} new). Password: from ${PASSWORD_ENV} if set, else {password_file}."
        )


def _password(password_file: Path) -> str:
    """LOADTEST_PASSWORD, else the kept one, else a new one written to the file first.

    This is a development tool, not the product's settings: it reads its one
    variable here rather than through settings.py.
    """
    from_env = os.environ.get(PASSWORD_ENV, "").strip()
    if from_env:
        return from_env
    if password_file.exists():
        kept = password_file.read_text().strip()
        if kept:
            return kept
    password = secrets.token_urlsafe(16)
    # Atomic and private from the start: a temporary 0600 file renamed into place.
    temporary = password_file.with_name(password_file.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    temporary.replace(password_file)
    return password


@transaction.atomic
def loadtest_users_ensure(*, count: int, password: str) -> int:
    """Make loadtest-1..count exist, active, with ``password``; how many were new.

    Kept beside the command rather than in accounts/services.py: only this
    development tool creates these accounts. They are ordinary users, never
    staff, so a load test sees what a person sees.
    """
    user_model = get_user_model()
    created = 0
    for number in range(1, count + 1):
        user, is_new = user_model.objects.get_or_create(username=f"{USERNAME_PREFIX}{number}")
        if not is_new and user.check_password(password) and user.is_active:
            continue  # hashing is slow on purpose: skip what is already right
        user.set_password(password)
        user.is_active = True
        user.save(update_fields=["password", "is_active"])
        created += int(is_new)
    return created
