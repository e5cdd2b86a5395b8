from __future__ import annotations

from django.http import HttpRequest

from webapp.search.provider_registry import provider_infos


def providers(request: HttpRequest) -> dict[str, object]:
    infos = provider_infos()
    return {"provider_infos": infos, "any_emulated": any(info.emulated for info in infos)}
