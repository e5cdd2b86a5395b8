"""Create the embedded mode's first account when the database has no users."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from webapp.accounts.services import local_account_ensure


class Command(BaseCommand):
    help = "Create a local staff account on first run and print how to sign in."

    def handle(self, *args: Any, **options: Any) -> None:
        password_file = settings.VAR_DIR / "local-login.txt"
        login = local_account_ensure(password_file=password_file)
        if login.created:
            self.stdout.write(
                f"Created a local account. Sign in as '{login.username}' "
                f"with password '{login.password}' (also kept in {password_file})."
            )
        elif login.password:
            self.stdout.write(
                f"Sign in as '{login.username}' with password '{login.password}' "
                f"(from {password_file})."
            )
        else:
            self.stdout.write("Accounts already exist; sign in with yours.")
