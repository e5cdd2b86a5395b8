#!/usr/bin/env bash
# The Celery worker, exactly as production runs it (compose.yaml "worker", make worker;
# make run adds -B for an in-process beat).
#
# A threads pool: a search is a network wait of one to thirty seconds, so one
# worker holds WORKER_CONCURRENCY of them at once (128 by default) in one process.
# CPU work inside a task (thumbnail decoding, query images, library import) goes
# through a pool sized to the cores (webapp/cpu.py), so threads never oversubscribe
# the CPU. Lost work is recovered by leases and the sweeper (webapp/search/leases.py),
# which this worker runs in a background thread; see README, "Faults".
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/celery ]; then PATH="$PWD/.venv/bin:$PATH"; fi

exec celery -A webapp worker \
  --pool threads \
  --concurrency "${WORKER_CONCURRENCY:-128}" \
  --loglevel "${LOG_LEVEL:-INFO}" \
  --without-gossip --without-mingle \
  "$@"
