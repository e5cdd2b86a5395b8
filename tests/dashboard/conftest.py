"""Staff people for the dashboard's tests (the shared fixtures have owner, stranger, anonymous)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user(
        "staffer", "staffer@example.com", "staffer-pass-123", is_staff=True
    )


@pytest.fixture
def staff_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def superuser_client(db: None) -> Client:
    admin = User.objects.create_superuser("root", "root@example.com", "root-pass-123")
    client = Client()
    client.force_login(admin)
    return client
