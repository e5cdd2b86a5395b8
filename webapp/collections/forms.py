"""HTML forms. They collect input; the rules (lengths, choices) live in services."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone

from webapp.collections.exports import FORMATS
from webapp.collections.imports import IMPORT_MAX_BYTES
from webapp.collections.models import (
    DESCRIPTION_MAX_CHARS,
    NAME_MAX_CHARS,
    NOTE_MAX_CHARS,
    SavedSearch,
)
from webapp.search.forms import ResultFilterForm
from webapp.search.selectors import SORTS


class CollectionForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_CHARS * 2, required=False)
    description = forms.CharField(
        max_length=DESCRIPTION_MAX_CHARS * 2, required=False, widget=forms.Textarea
    )


class NoteForm(forms.Form):
    note = forms.CharField(max_length=NOTE_MAX_CHARS * 2, required=False, strip=False)


class MoveForm(forms.Form):
    """Either a step (the buttons and the keyboard) or a place (drag and drop)."""

    direction = forms.ChoiceField(choices=[("up", "up"), ("down", "down")], required=False)
    to = forms.IntegerField(min_value=0, required=False)

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if not data.get("direction") and data.get("to") is None:
            raise forms.ValidationError("Say where to move the item: up, down, or a place.")
        return data


class ShareForm(forms.Form):
    expires_in_days = forms.TypedChoiceField(
        choices=[("", "Never expires"), ("1", "1 day"), ("7", "7 days"), ("30", "30 days")],
        coerce=int,
        empty_value=None,
        required=False,
    )

    def expires_at(self) -> datetime | None:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None


class ImportForm(forms.Form):
    file = forms.FileField(
        error_messages={
            "required": "Choose a JSON export file to import.",
            "empty": "The file is empty.",
        },
        help_text=f"A JSON export from Loupe, up to {IMPORT_MAX_BYTES // (1024 * 1024)} MB.",
    )
    name = forms.CharField(max_length=NAME_MAX_CHARS * 2, required=False)


class ResultRefForm(forms.Form):
    """A search result by its search and rank, as the cards and the API name it."""

    search = forms.IntegerField(min_value=1)
    rank = forms.IntegerField(min_value=1)
    next = forms.CharField(required=False, max_length=2000)


class NewCollectionForResultForm(ResultRefForm):
    name = forms.CharField(max_length=NAME_MAX_CHARS * 2, required=False)


class SavedSearchForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_CHARS * 2, required=False)
    schedule = forms.ChoiceField(choices=SavedSearch.Schedule.choices, required=False)


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=[(f, f) for f in FORMATS])


class CollectionFilterForm(ResultFilterForm):
    """The search gallery's filters; "relevance" is the person's own order here."""

    sort = forms.ChoiceField(
        required=False,
        choices=[
            (s, {"relevance": "My order", "date": "Newest", "size": "Largest"}[s]) for s in SORTS
        ],
    )
