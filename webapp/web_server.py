"""The web server's worker class: uvicorn under gunicorn, draining gently on restart.

gunicorn restarts workers on a deploy (SIGHUP starts new ones and stops the old
ones gracefully). Stock uvicorn closes every idle keep-alive connection at once
when it stops; a client that sent its next request on one at that moment gets a
reset instead of an answer (issue 9 counted 1.2 % of requests lost that way).
Here an old worker keeps its connections open for DRAIN_IDLE_SECONDS: a request
that arrives on one is answered with ``Connection: close``, so the client opens
its next connection to a new worker; only connections idle for the whole grace
are closed. Live streams are told to end at once (their pages reconnect to a new
worker within a second) so an old worker is not held for minutes.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from webapp.live.bus import drain_streams

DRAIN_IDLE_SECONDS = 5.0


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    draining = False

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answer it, then close: the next goes elsewhere

    def shutdown(self) -> None:
        self.draining = True
        drain_streams()
        if self.cycle is None or self.cycle.response_complete:
            self.loop.call_later(DRAIN_IDLE_SECONDS, self._close_if_idle)
        else:
            self.cycle.keep_alive = False

    def _close_if_idle(self) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self.transport.close()


class LoupeUvicornWorker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {"loop": "auto", "http": DrainingHttpToolsProtocol}
