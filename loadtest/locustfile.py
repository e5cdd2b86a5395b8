"""The load-test scenario: people who sign in, search, watch their gallery fill, and browse.

Run by scripts/loadtest.sh (``make loadtest``), headless and bounded. Each
simulated person signs in through the real login form as one of the
``loadtest-N`` accounts (``manage.py loadtest_users``), then, with think time
between rounds:

1. submits the home page's search form: text to IQS, or (IMAGE_SHARE of the
   time) an uploaded JPEG to image_search;
2. opens the gallery the form redirects to, and watches it until the search is
   done: the live stream ``/searches/<id>/live/`` (Server-Sent Events) when the
   server has it, else (404, or 204 from a WSGI server) htmx's 1 s polling of
   the page;
3. opens their history and a collection.

When the time is up, every search submitted is checked through the JSON API,
the unfinished ones again and again for a grace period; whatever is still not
finished then is "lost". The report (stdout and var/loadtest-report.json)
fails the run on any error or any lost search.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task
from locust.clients import HttpSession, ResponseContextManager
from locust.env import Environment
from locust.exception import StopUser
from locust.stats import StatsError
from PIL import Image
from requests.exceptions import RequestException

from loadtest.hosts import is_loopback_url
from loadtest.report import FINISHED, SearchLog, build_report, exit_code, format_report
from loadtest.sse import SseParser, shows_an_image

logger = logging.getLogger("loadtest")

ACCOUNT_PREFIX = "loadtest-"
IMAGE_SHARE = 0.2  # of searches: by image (image_search); the rest by text (IQS)
POLL_SECONDS = 1.0  # as the gallery's htmx polling (hx-trigger="every 1s")
WATCH_LIMIT_SECONDS = 180.0  # past a search task's 2-minute hard limit: then it is lost
STREAM_READ_TIMEOUT = 60.0  # seconds of silence on the live stream before giving up
RECONNECT_SECONDS = 1.0  # as the stream's "retry: 1000" tells a browser
COLLECTION_NAME = "Load test"
LIVE_STREAM_NAME = "/searches/[id]/live/ (stream)"  # the whole watch, as its own entry
QUERIES = (
    "lion", "狮子", "red panda", "misty mountains", "lighthouse at night", "autumn forest",
    "city skyline", "snow leopard", "old steam train", "tulip field", "desert dunes",
    "northern lights", "koi pond", "vintage bicycle", "hot air balloons", "coral reef",
    "sunflower", "great wall", "bamboo forest", "harbour at dusk", "waterfall", "owl",
)  # fmt: skip
_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken"\s+value="(?P<token>[^"]+)"')
_SEARCH_PATH = re.compile(r"/searches/(?P<id>\d+)/$")


@dataclass(frozen=True)
class Config:
    """The run's settings, from the environment scripts/loadtest.sh prepares."""

    accounts: int
    password: str
    grace_seconds: float
    report_path: Path
    duration: str

    @classmethod
    def from_env(cls) -> Config:
        password = os.environ.get("LOADTEST_PASSWORD", "").strip()
        password_file = os.environ.get("LOADTEST_PASSWORD_FILE", "").strip()
        if not password and password_file and Path(password_file).exists():
            password = Path(password_file).read_text().strip()
        return cls(
            accounts=max(1, int(os.environ.get("LOADTEST_USERS") or 50)),
            password=password,
            grace_seconds=float(os.environ.get("LOADTEST_GRACE_SECONDS") or 60),
            report_path=Path(os.environ.get("LOADTEST_REPORT") or "var/loadtest-report.json"),
            duration=os.environ.get("LOADTEST_DURATION") or "5m",
        )


CONFIG = Config.from_env()
LOG = SearchLog()
SESSIONS: dict[str, dict[str, str]] = {}  # username -> session cookies, for the final checks
_next_account = itertools.count()


@dataclass
class RunState:
    """What the run learns as it goes (greenlets share one thread: no lock needed)."""

    live_missing: bool = False  # /live/ answered 404 or 204: no stream here; poll instead
    live_streams: int = 0  # searches watched to "done" on the live stream
    reconnects: int = 0  # streams that broke before "done" (each an error) and were reopened
    polled: int = 0  # searches watched by polling
    run_requests_per_second: float = 0.0  # measured before the final checks add theirs
    settled: bool = False


RUN = RunState()


# --- the simulated person ----------------------------------------------------------------------


class LoupeUser(HttpUser):
    wait_time = between(3, 8)  # a person's think time between searches

    def on_start(self) -> None:
        self.username = f"{ACCOUNT_PREFIX}{next(_next_account) % CONFIG.accounts + 1}"
        self.csrf = ""
        self._sign_in()
        self.collection_id = self._collection()

    @task
    def search_and_browse(self) -> None:
        kind = "image" if random.random() < IMAGE_SHARE else "text"
        search_id = self._submit(kind)
        if search_id is None:
            return
        self._open_gallery(search_id)
        self._watch(search_id)
        self.client.get("/history/", name="/history/")
        if self.collection_id is not None:
            self.client.get(f"/collections/{self.collection_id}/", name="/collections/[id]/")

    # --- signing in and setting up

    def _sign_in(self) -> None:
        """Through the real form: GET for the CSRF token, POST, then land on the home page."""
        page = self.client.get("/accounts/login/", name="/accounts/login/")
        form = {
            "username": self.username,
            "password": CONFIG.password,
            "csrfmiddlewaretoken": _csrf_in(page.text or ""),
            "next": "",
        }
        with self.client.post(
            "/accounts/login/",
            data=form,
            allow_redirects=False,
            catch_response=True,
            name="/accounts/login/ (sign in)",
        ) as answer:
            # A wrong password re-renders the form (200); success redirects away from it.
            signed_in = answer.status_code == 302 and "/accounts/login" not in _location(answer)
            if not _judge(answer, signed_in):
                raise StopUser()
        home = self.client.get("/", name="/")
        # Django rotates the CSRF token at sign-in: take the new one from the page.
        self.csrf = _csrf_in(home.text or "") or self.client.cookies.get("csrftoken", "")
        SESSIONS[self.username] = self.client.cookies.get_dict()

    def _collection(self) -> int | None:
        """The account's "Load test" collection, made through the JSON API the first time."""
        found = self._find_collection()
        if found is not None:
            return found
        with self.client.post(
            "/api/v1/collections",
            json={"name": COLLECTION_NAME, "description": "Made by make loadtest."},
            headers={"X-CSRFToken": self.csrf},
            catch_response=True,
            name="/api/v1/collections (create)",
        ) as answer:
            # 400 is fine when another simulated person on the same account (more
            # people than accounts) made it a moment ago: then it is there now.
            if answer.status_code == 400:
                found = self._find_collection()
                _judge(answer, found is not None)
                return found
            if _judge(answer, answer.status_code == 201):
                return int(answer.json()["id"])
        return None

    def _find_collection(self) -> int | None:
        answer = self.client.get("/api/v1/collections", name="/api/v1/collections")
        if not answer.ok:
            return None
        return next((c["id"] for c in answer.json() if c.get("name") == COLLECTION_NAME), None)

    # --- searching

    def _submit(self, kind: str) -> int | None:
        """POST the home page's form as a browser does (multipart); the new search's ID."""
        fields = {
            "csrfmiddlewaretoken": self.csrf,
            "query": _query() if kind == "text" else "",
            "provider": "iqs" if kind == "text" else "image_search",
            "image_url": "",
            "exclude_sites": "",
        }
        # A browser sends an empty file part when no file is chosen; Django ignores it.
        image = ("photo.jpg", _photo(), "image/jpeg") if kind == "image" else ("", b"", "")
        submitted_at = time.monotonic()
        with self.client.post(
            "/searches/",
            data=fields,
            files={"image": image},
            allow_redirects=False,
            catch_response=True,
            name=f"/searches/ (submit {kind})",
        ) as answer:
            match = _SEARCH_PATH.search(_location(answer)) if answer.status_code == 302 else None
            if not _judge(answer, match is not None):
                return None
        assert match is not None
        search_id = int(match["id"])
        LOG.submitted(search_id, kind=kind, owner=self.username, at=submitted_at)
        return search_id

    def _open_gallery(self, search_id: int) -> None:
        page = self.client.get(f"/searches/{search_id}/", name="/searches/[id]/")
        if page.ok and shows_an_image(page.text or ""):
            LOG.first_image(search_id, at=time.monotonic())

    # --- watching until done

    def _watch(self, search_id: int) -> None:
        """Watch as the page does: the live stream, reconnecting as EventSource does; else poll."""
        deadline = time.monotonic() + WATCH_LIMIT_SECONDS
        while not RUN.live_missing and time.monotonic() < deadline:
            outcome = self._watch_live(search_id, deadline)
            if outcome == "done":
                RUN.live_streams += 1
                return
            if outcome == "refused":
                return  # EventSource gives up on an error status; the final check still asks
            if outcome == "broken":
                RUN.reconnects += 1
                time.sleep(RECONNECT_SECONDS)  # the stream's "retry:"; then the page reconnects
        if RUN.live_missing:
            RUN.polled += 1
            self._watch_polling(search_id, deadline)

    def _watch_live(self, search_id: int, deadline: float) -> str:
        """One connection to the live stream: "done", "broken", "refused" or "missing" (404)."""
        started, started_at = time.monotonic(), time.time()
        answer = self.client.get(
            f"/searches/{search_id}/live/",
            name="/searches/[id]/live/",  # this entry: the time until the stream opens
            headers={"Accept": "text/event-stream"},
            stream=True,
            catch_response=True,
            timeout=(10, STREAM_READ_TIMEOUT),
        )
        with answer:
            # 404: the live stream has not landed; 204: the server cannot stream (under
            # WSGI) and tells the page to poll. Either way the page polls, and so do we.
            if answer.status_code in (204, 404):
                answer.success()
                RUN.live_missing = True
                return "missing"
            is_stream = answer.headers.get("Content-Type", "").startswith("text/event-stream")
            if not _judge(answer, answer.status_code == 200 and is_stream):
                answer.close()
                return "refused"
        received, problem = self._read_live(answer, search_id, deadline)
        # The whole stream as its own entry: from asking to "done" (or to the break).
        self.environment.events.request.fire(
            request_type="SSE",
            name=LIVE_STREAM_NAME,
            response_time=(time.monotonic() - started) * 1000,
            response_length=received,
            response=None,
            context={},
            exception=problem,
            start_time=started_at,
            url=f"/searches/{search_id}/live/",
        )
        return "broken" if problem is not None else "done"

    def _read_live(
        self, answer: ResponseContextManager, search_id: int, deadline: float
    ) -> tuple[int, Exception | None]:
        """(bytes read, the problem or None) for one stream, noting the first image and done."""
        parser = SseParser()
        received = 0
        try:
            for chunk in answer.iter_content(chunk_size=None):
                received += len(chunk)
                for event in parser.feed(chunk):
                    now = time.monotonic()
                    if shows_an_image(event.data):
                        LOG.first_image(search_id, at=now)
                    if event.event == "done":
                        LOG.done(search_id, at=now)
                        return received, None
                if time.monotonic() > deadline:
                    return received, StreamError("no done event within the watch limit")
            return received, StreamError("the stream closed before its done event")
        except RequestException as exc:  # a read timeout or a reset connection
            return received, exc
        finally:
            answer.close()

    def _watch_polling(self, search_id: int, deadline: float) -> None:
        """What htmx does without the stream: the results partial every second until 286."""
        while time.monotonic() < deadline:
            with self.client.get(
                f"/searches/{search_id}/",
                headers={"HX-Request": "true"},
                catch_response=True,
                name="/searches/[id]/ (htmx poll)",
            ) as answer:
                # 286 is htmx's "stop polling": the search is finished.
                if not _judge(answer, answer.status_code in (200, 286)):
                    return
            now = time.monotonic()
            if shows_an_image(answer.text or ""):
                LOG.first_image(search_id, at=now)
            if answer.status_code == 286:
                LOG.done(search_id, at=now)
                return
            time.sleep(POLL_SECONDS)


class StreamError(Exception):
    """The live stream ended, or stalled, before it said "done"."""


# --- small helpers --------------------------------------------------------------------------------


def _judge(answer: ResponseContextManager, ok: bool) -> bool:
    """Mark the response a success or a named failure ("HTTP 500", "ConnectionError")."""
    if ok:
        answer.success()
    elif answer.status_code == 0 and answer.error is not None:  # no answer at all
        answer.failure(type(answer.error).__name__)
    else:
        answer.failure(f"HTTP {answer.status_code}")
    return ok


def _location(answer: ResponseContextManager) -> str:
    return str(answer.headers.get("Location", ""))


def _csrf_in(html: str) -> str:
    match = _CSRF_FIELD.search(html)
    return match["token"] if match else ""


def _query() -> str:
    """A popular query, or one with a twist: new queries bring new images to fetch."""
    query = random.choice(QUERIES)
    return query if random.random() < 0.5 else f"{query} {random.randint(1, 999)}"


def _photo() -> bytes:
    """A small, different JPEG each time, so image searches do not all hit one cached answer."""
    tint = tuple(random.randint(0, 255) for _ in range(3))
    gradient = Image.radial_gradient("L").resize((480, 360))
    picture = Image.merge("RGB", [gradient.point(lambda v, t=t: (v + t) % 256) for t in tint])
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


# --- the end: confirm every search, then report ------------------------------------------------


@events.init.add_listener
def _refuse_remote_hosts(environment: Environment, **kwargs: Any) -> None:
    if not is_loopback_url(environment.host or ""):
        raise SystemExit(f"loadtest: refusing non-loopback host {environment.host!r}")
    if not CONFIG.password:
        raise SystemExit("loadtest: no password (LOADTEST_PASSWORD or LOADTEST_PASSWORD_FILE)")


@events.test_stop.add_listener
def _settle_searches(environment: Environment, **kwargs: Any) -> None:
    """After the users stop: ask the API about every search; the unfinished until grace ends."""
    if RUN.settled:
        return
    RUN.settled = True
    RUN.run_requests_per_second = environment.stats.total.total_rps
    clients = {owner: _api_client(environment, owner) for owner in SESSIONS}
    deadline = time.monotonic() + CONFIG.grace_seconds
    logger.info("Checking %d searches (grace %.0f s)...", len(LOG.records), CONFIG.grace_seconds)
    while True:
        for record in LOG.unconfirmed():
            client = clients.get(record.owner)
            if client is not None:
                _confirm(client, record.search_id)
        if not LOG.unconfirmed() or time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)


def _api_client(environment: Environment, owner: str) -> HttpSession:
    """A session signed in as ``owner``, whose requests Locust records like the users' own."""
    client = HttpSession(
        base_url=environment.host or "", request_event=environment.events.request, user=None
    )
    client.cookies.update(SESSIONS[owner])
    return client


def _confirm(client: HttpSession, search_id: int) -> None:
    with client.get(
        f"/api/v1/searches/{search_id}",
        name="/api/v1/searches/[id] (final check)",
        catch_response=True,
    ) as answer:
        if not _judge(answer, answer.status_code == 200):
            return
        found = answer.json()
    status = str(found.get("status", ""))
    if status not in FINISHED:
        return  # still queued or running: the next round asks again
    error = found.get("error") or {}
    took = found.get("durationMs")  # the server's own submit-to-done time
    LOG.confirm(
        search_id,
        status=status,
        error_code=str(error.get("code", "")),
        took=took / 1000 if isinstance(took, int | float) else None,
        at=time.monotonic(),
    )


@events.quitting.add_listener
def _report(environment: Environment, **kwargs: Any) -> None:
    stats = environment.stats
    report = build_report(
        log=LOG,
        endpoints=_endpoint_rows(environment),
        errors=[
            (f"{e.method} {e.name}", StatsError.parse_error(e.error), e.occurrences)
            for e in stats.errors.values()
        ],
        requests_per_second=RUN.run_requests_per_second or stats.total.total_rps,
        settings={
            "host": environment.host,
            "users": environment.parsed_options.num_users if environment.parsed_options else "?",
            "duration": CONFIG.duration,
            "grace_s": CONFIG.grace_seconds,
            "watched_by": f"live stream {RUN.live_streams} (reconnects {RUN.reconnects}), "
            f"polling {RUN.polled}",
        },
    )
    print(format_report(report), flush=True)
    CONFIG.report_path.parent.mkdir(parents=True, exist_ok=True)
    CONFIG.report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"Report written to {CONFIG.report_path}", flush=True)
    environment.process_exit_code = exit_code(report)


def _endpoint_rows(environment: Environment) -> list[dict[str, Any]]:
    entries = sorted(environment.stats.entries.values(), key=lambda e: (e.name, e.method))
    return [_row(entry) for entry in [*entries, environment.stats.total]]


def _row(entry: Any) -> dict[str, Any]:
    """One of Locust's stats entries (or its total) as plain figures, in milliseconds."""
    empty = entry.num_requests == 0
    return {
        "method": entry.method or "",
        "name": entry.name,
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        **{
            f"p{round(q * 100)}_ms": None if empty else entry.get_response_time_percentile(q)
            for q in (0.5, 0.95, 0.99)
        },
    }
