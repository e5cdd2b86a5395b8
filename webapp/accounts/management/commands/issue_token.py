"""``manage.py issue_token <username>``: print a new API token as the last line."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.accounts.services import api_token_issue


class Command(BaseCommand):
    help = "Issue a new API bearer token for a user and print it (shown only once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        token = api_token_issue(user=user)
        self.stderr.write(f"New API token for {user}; store it now, it is not shown again:")
        self.stdout.write(token)
