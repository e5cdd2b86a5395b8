"""HTML forms for the library pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from webapp.library.selectors import ORIENTATIONS, SORTS, LibraryFilters


class LibrarySearchForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "e.g. cat, 猫, rocket"}),
    )
    image = forms.FileField(required=False)
    min_side = forms.ChoiceField(
        required=False,
        choices=[("", "Any size"), ("400", "≥ 400 px"), ("800", "≥ 800 px"), ("1200", "≥ 1200 px")],
    )
    orientation = forms.ChoiceField(
        required=False, choices=[("", "Any shape")] + [(o, o.title()) for o in ORIENTATIONS]
    )
    taken_after = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    taken_before = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(
        required=False,
        choices=[
            (s, {"relevance": "Relevance", "date": "Newest", "size": "Largest"}[s]) for s in SORTS
        ],
    )

    def clean_image(self) -> Any:
        image = self.cleaned_data.get("image")
        limit = getattr(settings, "UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
        if image is not None and image.size > limit:
            raise forms.ValidationError(
                f"The image is larger than {limit // (1024 * 1024)} MB, which is Loupe's limit."
            )
        return image

    def filters(self) -> LibraryFilters:
        data = self.cleaned_data
        return LibraryFilters(
            min_side=int(data.get("min_side") or 0),
            orientation=data.get("orientation") or "",
            taken_after=data.get("taken_after"),
            taken_before=data.get("taken_before"),
            sort=data.get("sort") or "relevance",
        )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Django's documented recipe for an <input type=file multiple>."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*,.txt"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class LibraryUploadForm(forms.Form):
    images = MultipleFileField(
        required=False,
        help_text="Images, and optionally a NAME.txt sidecar per image: first line the title, "
        "then the description and lines like zh=中文描述.",
    )
