"""``GET /pages/<slug>``: the "source web page" of a generated result.

Generated results must link somewhere reachable offline, so they link here.
"""

from __future__ import annotations

from html import escape

from webapp.emulator.core import Request, Response, Route, route

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Emulated page {slug}</title></head>
<body><h1>Emulated page</h1>
<p>This page is served by the Loupe emulator. It stands in for the web page an
emulated search result came from ({slug}); no real site was contacted.</p></body></html>
"""


def handle_page(request: Request) -> Response:
    body = _PAGE.format(slug=escape(request.match["slug"])).encode("utf-8")
    return Response(body=body, content_type="text/html; charset=utf-8")


ROUTES: list[Route] = [route("GET", r"/pages/(?P<slug>[A-Za-z0-9_\-]+)", handle_page)]
FAULTS: frozenset[str] = frozenset()
