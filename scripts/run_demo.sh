#!/usr/bin/env bash
# Set up the env (scripts/setup_env.sh, a no-op once stamped) and run the main
# demo job with its python; arguments go to tools/demo.py:
#
#   bash scripts/run_demo.sh [demo args...]   # == "$PY" tools/demo.py ...
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"

if [[ ! -f tools/demo.py ]]; then
    echo "run_demo.sh: $REPO_ROOT/tools/demo.py does not exist (yet);" \
        'nothing to run' >&2
    exit 1
fi
if ! PY=$(bash scripts/setup_env.sh --print-python); then
    echo 'run_demo.sh: environment set-up failed (see above); demo not run' >&2
    exit 1
fi
exec "$PY" tools/demo.py "$@"
