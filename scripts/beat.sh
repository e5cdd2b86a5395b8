#!/usr/bin/env bash
# Celery beat, exactly as production runs it (compose.yaml "beat", make beat): the
# clock of scheduled saved searches. Run exactly one. Stranded searches do not
# depend on it: every worker sweeps them itself (webapp/search/leases.py).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/celery ]; then PATH="$PWD/.venv/bin:$PATH"; fi

exec celery -A webapp beat --loglevel "${LOG_LEVEL:-INFO}" \
  --schedule "${LOUPE_VAR_DIR:-var}/celerybeat-schedule" "$@"
