"""manage.py loadtest_users: the accounts make loadtest signs in as."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import override_settings

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("loadtest_users", *args, stdout=out)
    return out.getvalue()


def test_it_creates_the_accounts_with_the_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOADTEST_PASSWORD", "env-secret-123")

    with override_settings(VAR_DIR=tmp_path):
        printed = run("--count", "3")

    users = User.objects.filter(username__startswith="loadtest-").order_by("username")
    assert [u.username for u in users] == ["loadtest-1", "loadtest-2", "loadtest-3"]
    assert all(u.check_password("env-secret-123") and not u.is_staff for u in users)
    assert "env-secret-123" not in printed
    assert not (tmp_path / "loadtest-password.txt").exists()


def test_without_one_it_generates_a_private_password_file_and_keeps_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LOADTEST_PASSWORD", raising=False)

    with override_settings(VAR_DIR=tmp_path):
        printed = run("--count", "2")
        password = (tmp_path / "loadtest-password.txt").read_text().strip()
        run("--count", "2")  # again: same password, no new accounts

    assert password and password not in printed
    assert (tmp_path / "loadtest-password.txt").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "loadtest-password.txt").read_text().strip() == password
    assert User.objects.filter(username__startswith="loadtest-").count() == 2
    assert User.objects.get(username="loadtest-2").check_password(password)


def test_it_refuses_a_count_out_of_range(tmp_path: Path) -> None:
    with override_settings(VAR_DIR=tmp_path), pytest.raises(CommandError):
        run("--count", "0")
