#!/usr/bin/env bash
# make loadtest: a bounded, headless Locust run against a Loupe that is already running.
#
# 1. Start Loupe in another terminal, with the provider emulator as slow as the real
#    services (IQS answers in about 1 s, an image search streams for about 15 s):
#      EMULATOR_IQS_LATENCY_SECONDS=1 EMULATOR_STREAM_SECONDS=15 make run
#    or start the emulator yourself and point Loupe at it:
#      .venv/bin/python -m webapp.emulator --port 8765 --iqs-latency 1 --stream-seconds 15 &
#    A running emulator can be slowed down (or sped up) without a restart:
#      curl -X POST -d '{"iqs_latency": 1, "stream_seconds": 15}' http://127.0.0.1:8765/_emulator/timing
# 2. make loadtest            (50 people for 5 minutes), or a short smoke run:
#    LOADTEST_USERS=5 LOADTEST_DURATION=20s make loadtest
#
# Settings (environment):
#   LOADTEST_HOST           where Loupe listens; loopback only    http://127.0.0.1:$PORT
#   LOADTEST_USERS          simulated people, and accounts made   50
#   LOADTEST_DURATION       how long they work (Locust: 30s, 5m)  5m
#   LOADTEST_SPAWN_RATE     people started per second             5
#   LOADTEST_GRACE_SECONDS  after the run, how long unfinished searches may still finish  60
#   LOADTEST_PASSWORD       the accounts' password; else one is generated and kept in
#                           $LOUPE_VAR_DIR/loadtest-password.txt (never printed)
# Run it with the same DATABASE_URL and LOUPE_VAR_DIR as the server: the accounts
# loadtest-1..N are created in that database first.
#
# The report is printed and written to $LOUPE_VAR_DIR/loadtest-report.json. The exit
# status is non-zero on any error or any lost search (submitted, but not finished by
# the end of the grace period).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
VAR_DIR="${LOUPE_VAR_DIR:-var}"
HOST="${LOADTEST_HOST:-http://127.0.0.1:${PORT:-8000}}"
USERS="${LOADTEST_USERS:-50}"
DURATION="${LOADTEST_DURATION:-5m}"
SPAWN_RATE="${LOADTEST_SPAWN_RATE:-5}"

case "$USERS" in
  '' | *[!0-9]* | 0) echo "loadtest: LOADTEST_USERS must be a whole number above 0, got '$USERS'" >&2; exit 2 ;;
esac

# Loopback only, and up: refuse before touching any database.
"$BIN/python" -m loadtest.hosts "$HOST"

"$BIN/python" manage.py loadtest_users --count "$USERS"

export LOADTEST_USERS="$USERS" LOADTEST_DURATION="$DURATION"
export LOADTEST_PASSWORD_FILE="$VAR_DIR/loadtest-password.txt"
export LOADTEST_REPORT="$VAR_DIR/loadtest-report.json"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the locustfile imports loadtest.*

echo "Load test: $USERS people for $DURATION against $HOST (then up to ${LOADTEST_GRACE_SECONDS:-60} s of grace)."
# --stop-timeout 0: at the end, people stop at once; what they were watching is then
# checked through the API during the grace period instead.
exec "$BIN/locust" -f loadtest/locustfile.py --headless --only-summary \
  --host "$HOST" --users "$USERS" --spawn-rate "$SPAWN_RATE" --run-time "$DURATION" \
  --stop-timeout 0
