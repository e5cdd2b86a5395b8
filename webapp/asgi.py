"""The ASGI entry point: what `make web`, `make run` and the Docker image serve.

ASGI rather than WSGI because a live search page holds a Server-Sent Events
stream open (webapp/live/). On an event loop an open stream costs a coroutine;
under WSGI it would cost a whole thread for as long as the page is open.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
application = get_asgi_application()
