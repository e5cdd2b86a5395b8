"""HTML forms. The rules themselves live in validation.py, shared with the API."""

from __future__ import annotations

from django import forms
from django.conf import settings

from webapp.search.selectors import ORIENTATIONS, SORTS, ResultFilters
from webapp.search.validation import QUERY_MAX_CHARS


class SearchForm(forms.Form):
    query = forms.CharField(
        max_length=QUERY_MAX_CHARS * 4,  # the real limit is checked after trimming
        required=False,
        strip=False,
        widget=forms.TextInput(
            attrs={
                "placeholder": "Search web images, e.g. lion or 狮子",
                "autofocus": True,
                "autocomplete": "off",
                "maxlength": QUERY_MAX_CHARS,
            }
        ),
    )
    provider = forms.CharField(required=False)
    # Only bytes are taken from the upload; its name and Content-Type are ignored
    # (query_images.py decodes and re-encodes it).
    image = forms.FileField(required=False, allow_empty_file=True)
    image_url = forms.CharField(required=False, max_length=2000)
    exclude_sites = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.TextInput(attrs={"placeholder": "e.g. weibo.com, www.360doc.com"}),
    )

    def clean_image(self) -> bytes | None:
        upload = self.cleaned_data.get("image")
        if upload is None:
            return None
        limit = settings.UPLOAD_MAX_BYTES
        if upload.size is not None and upload.size > limit:
            # Refused before reading it into memory.
            raise forms.ValidationError(
                f"The file is larger than {limit // (1024 * 1024)} MB, which is Loupe's limit."
            )
        data: bytes = upload.read()
        if not data:
            raise forms.ValidationError("The uploaded file is empty.")
        return data


class ResultFilterForm(forms.Form):
    min_side = forms.ChoiceField(
        required=False,
        choices=[("", "Any size"), ("400", "≥ 400 px"), ("800", "≥ 800 px"), ("1200", "≥ 1200 px")],
    )
    orientation = forms.ChoiceField(
        required=False, choices=[("", "Any shape")] + [(o, o.title()) for o in ORIENTATIONS]
    )
    hide_site = forms.CharField(required=False, max_length=253)
    sort = forms.ChoiceField(
        required=False,
        choices=[
            (s, {"relevance": "Relevance", "date": "Newest", "size": "Largest"}[s]) for s in SORTS
        ],
    )

    def filters(self) -> ResultFilters:
        """The chosen filters; anything invalid falls back to "no filter"."""
        if not self.is_valid():
            return ResultFilters()
        data = self.cleaned_data
        return ResultFilters(
            min_side=int(data.get("min_side") or 0),
            orientation=data.get("orientation") or "",
            hide_site=(data.get("hide_site") or "").strip().lower(),
            sort=data.get("sort") or "relevance",
        )
