"""The app in production shape, started for one bench run and torn down after it.

``Stack`` owns a throwaway PostgreSQL database (``loupe_bench_<pid>`` on the
server of a postgres DATABASE_URL, or on 127.0.0.1:5432 as ``postgres`` with
trust auth; a SQLite file when neither answers), a Redis of its own on a free
port with no persistence, the provider emulator, the Celery worker
(scripts/worker.sh) and the web server (scripts/web.sh). Every process runs in a
process group of its own, so stopping one stops its children too; ``close``
stops them all and drops the database, also after an error.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


def _pg_server() -> str | None:
    """A PostgreSQL server URL (database ``postgres``) that answers, or None."""
    import psycopg

    configured = os.environ.get("DATABASE_URL", "")
    candidates = []
    if configured.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(configured)
        candidates.append(urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, "")))
    candidates.append(DEFAULT_PG_SERVER)
    for url in candidates:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return url
        except psycopg.Error:
            continue
    return None


def _pg_admin(server: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)  # fixed text built here, no input


class Stack:
    """Start the parts one by one; ``close`` (or the ``with`` block's end) stops them all."""

    def __init__(self, tmp: Path, *, web_concurrency: int = 2) -> None:
        self.tmp = tmp
        self.web_concurrency = web_concurrency
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.pg_server: str | None = None
        self.pg_database = f"loupe_bench_{os.getpid()}"
        self.database = "SQLite"
        self.emulator_port = free_port()
        self.redis_port = free_port()
        self.web_port = free_port()
        self.env: dict[str, str] = {}

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)
        if self.pg_server is not None:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            try:
                _pg_admin(
                    self.pg_server, f"DROP DATABASE IF EXISTS {self.pg_database} WITH (FORCE)"
                )
            except Exception as exc:
                print(f"!! could not drop {self.pg_database}: {exc}", flush=True)
            self.pg_server = None

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with (self.tmp / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() reaches its children
            )
        self.procs[name] = proc
        return proc

    def _wait_port(self, name: str, port: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.log_tail(name)}")
            if _accepts(port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not listen on {port}:\n{self.log_tail(name)}")

    # --- the parts ------------------------------------------------------------------------

    def prepare(self, extra_env: dict[str, str] | None = None) -> None:
        """Database, Redis and the emulator; the environment every process shares."""
        emulator = f"http://127.0.0.1:{self.emulator_port}"
        env = dict(os.environ)
        for name in ("IQS_API_KEY", "DASHSCOPE_API_KEY", "SEARCHES_PER_USER_PER_DAY"):
            env.pop(name, None)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "webapp.settings",
                "LOUPE_VAR_DIR": str(self.tmp),
                "MEDIA_ROOT": str(self.tmp / "media"),
                "SECRET_KEY": "bench",
                "LOG_LEVEL": "WARNING",
                "EMULATOR_URL": emulator,
                "IQS_API_KEY": "bench",
                "IQS_BASE_URL": emulator,
                "DASHSCOPE_API_KEY": "bench",
                "DASHSCOPE_BASE_URL": f"{emulator}/compatible-mode/v1",
                "FETCH_PRIVATE_ALLOWLIST": f"127.0.0.1:{self.emulator_port}",
                "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "WEB_BIND": f"127.0.0.1:{self.web_port}",
                "WEB_CONCURRENCY": str(self.web_concurrency),
                "WEB_ACCESS_LOG": "/dev/null",
                "PYTHONUNBUFFERED": "1",
                **(extra_env or {}),
            }
        )
        env.pop("DATABASE_URL", None)
        self.pg_server = _pg_server()
        if self.pg_server is not None:
            _pg_admin(self.pg_server, f"DROP DATABASE IF EXISTS {self.pg_database} WITH (FORCE)")
            _pg_admin(self.pg_server, f"CREATE DATABASE {self.pg_database}")
            parts = urlsplit(self.pg_server)
            env["DATABASE_URL"] = urlunsplit(
                (parts.scheme, parts.netloc, f"/{self.pg_database}", parts.query, "")
            )
            self.database = f"PostgreSQL ({parts.hostname}:{parts.port or 5432})"
        self.env = env
        self._spawn(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        self._wait_port("redis", self.redis_port)
        self._spawn(
            "emulator",
            [
                sys.executable,
                "-m",
                "webapp.emulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.emulator_port),
                "--quiet",
                "--iqs-latency",
                "1",
                "--stream-seconds",
                "15",
            ],
        )
        self._wait_port("emulator", self.emulator_port)

    def setup_django(self) -> None:
        """This process talks to the same database and broker; migrate and collect statics."""
        os.environ.clear()
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)

    def start_worker(self) -> None:
        self._spawn("worker", ["bash", "scripts/worker.sh"])

    def start_web(self) -> None:
        self._spawn("web", ["bash", "scripts/web.sh"])
        self._wait_port("web", self.web_port)
        deadline = time.monotonic() + 60
        url = f"{self.web_url}/accounts/login/"
        while True:  # every worker up: a few answers in a row
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (loopback)
                    if answer.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"web did not answer:\n{self.log_tail('web')}") from None
                time.sleep(0.2)

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def pids(self, name: str) -> list[int]:
        """A part's process and all its children (gunicorn's workers, say)."""
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return []
        return [proc.pid, *_children(proc.pid)]

    def set_timing(self, **timing: float) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.emulator_port}/_emulator/timing",
            data=json.dumps(timing).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            json.loads(answer.read())


def _children(pid: int) -> list[int]:
    try:
        import psutil

        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except ImportError:
        out: list[int] = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    stat = (entry / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry.name))
        return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def open_connections_to(port: int) -> int:
    """Established TCP connections whose far end is ``port`` on this host (client sides)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


Row = tuple[str, str]


def say(rows: list[Row]) -> None:
    """Print a section's figures as the other bench sections do: one "- label: value" a line."""
    for label, value in rows:
        print(f"- {label}: {value}", flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
