"""What staff did to recover searches from the dashboard or the admin.

The log is also the guard against queuing a search twice: a queued search looks
exactly the same before and after it is dispatched again (its created_at does not
move), so "stuck" means "queued for too long *and* nobody dispatched it again
within that time". See services.search_dispatch_again.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.search.models import Search


class SearchRecovery(models.Model):
    """One staff action that put a search back in the queue."""

    class Action(models.TextChoices):
        DISPATCH_AGAIN = "dispatch_again", "Dispatched a stuck search again"
        RETRY = "retry", "Retried a failed search"

    search = models.ForeignKey(Search, on_delete=models.CASCADE, related_name="recoveries")
    action = models.CharField(max_length=20, choices=Action.choices)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="search_recoveries",
    )
    previous_status = models.CharField(max_length=10)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "search recoveries"
        indexes = [
            # Stuck detection: "was this search dispatched again since <cutoff>?"
            models.Index(fields=["search", "created_at"], name="recovery_search_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=["dispatch_again", "retry"]),
                name="recovery_action_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: search {self.search_id}"
