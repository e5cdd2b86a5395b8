#!/usr/bin/env bash
# The web server, exactly as production runs it (Dockerfile CMD, compose.yaml "web",
# make web; make run uses it too, on loopback).
#
# gunicorn supervises uvicorn workers: each worker is one event loop that serves
# ordinary pages (Django runs sync views in threads) and holds every open live
# stream as a coroutine. No --max-requests: nothing leaks, and every restart is a
# chance to drop a connection. Deploys send SIGHUP: new workers start, old ones
# drain without resetting a connection (webapp/web_server.py).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/gunicorn ]; then PATH="$PWD/.venv/bin:$PATH"; fi

exec gunicorn webapp.asgi:application \
  --worker-class webapp.web_server.LoupeUvicornWorker \
  --bind "${WEB_BIND:-0.0.0.0:${PORT:-8000}}" \
  --workers "${WEB_CONCURRENCY:-3}" \
  --timeout 60 \
  --graceful-timeout 20 \
  --keep-alive 20 \
  --access-logfile "${WEB_ACCESS_LOG:--}" \
  "$@"
