#!/usr/bin/env bash
# The web server, exactly as production runs it (Dockerfile CMD, compose.yaml "web",
# make web; make run uses it too, on loopback).
#
# gunicorn supervises uvicorn workers: each worker is one event loop that serves
# ordinary pages (Django runs sync views in threads) and holds every open live
# stream as a coroutine. No --max-requests: a recycled worker drops its idle
# keep-alive connections, and clients then see resets (issue 9). Deploys restart
# workers one at a time with SIGHUP, which lets each finish what it serves.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/gunicorn ]; then PATH="$PWD/.venv/bin:$PATH"; fi

exec gunicorn webapp.asgi:application \
  --worker-class uvicorn_worker.UvicornWorker \
  --bind "${WEB_BIND:-0.0.0.0:${PORT:-8000}}" \
  --workers "${WEB_CONCURRENCY:-3}" \
  --timeout 60 \
  --graceful-timeout 20 \
  --keep-alive 20 \
  --access-logfile "${WEB_ACCESS_LOG:--}" \
  "$@"
