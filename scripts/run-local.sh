#!/usr/bin/env bash
# The embedded mode: a real Celery worker and the web server, plus the provider
# emulator when no provider key is set. Ctrl-C stops all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT="${PORT:-8000}"
EMULATOR_PORT="${EMULATOR_PORT:-8765}"

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "Stopping Loupe..."
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop_all INT TERM EXIT

# True when some configured provider has no key, so the emulator must answer it.
needs_emulator() {
  [ -z "${IQS_API_KEY:-}" ] && return 0
  [ -z "${DASHSCOPE_API_KEY:-}" ] && return 0
  case "${EMBEDDING_BACKEND:-none}" in
    opensearch) [ -z "${OPENSEARCH_EMBEDDING_API_KEY:-}" ] && return 0 ;;
    dashscope) [ -z "${DASHSCOPE_EMBEDDING_API_KEY:-}${DASHSCOPE_API_KEY:-}" ] && return 0 ;;
  esac
  return 1
}

if needs_emulator; then
  export EMULATOR_URL="http://127.0.0.1:${EMULATOR_PORT}"
  # The emulator serves its images on loopback; this is the only address opened.
  export FETCH_PRIVATE_ALLOWLIST="${FETCH_PRIVATE_ALLOWLIST:+$FETCH_PRIVATE_ALLOWLIST,}127.0.0.1:${EMULATOR_PORT}"
  # The emulator answers from the local library: hand it a fresh manifest of it
  # (it has no database access), and fall back to its built-in examples without one.
  manifest="${LOUPE_VAR_DIR:-var}/emulator-library.json"
  library_args=()
  if "$BIN/python" manage.py library_export_for_emulator --output "$manifest"; then
    library_args=(--library-manifest "$manifest")
  else
    echo "Could not export the library for the emulator; it answers from its built-in examples."
  fi
  "$BIN/python" -m webapp.emulator --host 127.0.0.1 --port "$EMULATOR_PORT" "${library_args[@]}" &
  pids+=($!)
  echo "A provider key is not set: that provider is answered by the offline emulator on ${EMULATOR_URL}."
fi

# One worker, as `make worker` runs it, with fewer threads: SQLite takes one writer
# at a time. -B runs Celery beat inside it (scheduled saved searches); with more
# than one worker, run beat once, as its own process (compose.yaml's "beat").
WORKER_CONCURRENCY="${WORKER_CONCURRENCY:-16}" ./scripts/worker.sh \
  -B --schedule "${LOUPE_VAR_DIR:-var}/celerybeat-schedule" &
pids+=($!)

WEB_BIND="127.0.0.1:${PORT}" WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}" ./scripts/web.sh \
  --graceful-timeout 5 &
pids+=($!)

echo "Loupe is on http://127.0.0.1:${PORT}/  (Ctrl-C stops it)"
wait -n "${pids[@]}"
