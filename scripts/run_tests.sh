#!/usr/bin/env bash
# Set up the env (scripts/setup_env.sh, a no-op once stamped) and run the
# test suite with its python. Extra arguments go to pytest:
#
#   bash scripts/run_tests.sh                       # python -m pytest tests
#   bash scripts/run_tests.sh -k slimmable -x       # pytest tests -k ... -x
#   bash scripts/run_tests.sh tests/tools/test_check_env.py   # just that path
#
# If the first argument is a path that exists (a file or folder of tests), it
# replaces the default `tests`. Exit status is pytest's, except that "no tests
# collected" (pytest's 5) is reported and returned as a failure (1).
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"

if ! PY=$(bash scripts/setup_env.sh --print-python); then
    echo 'run_tests.sh: environment set-up failed (see above);' \
        'no tests run' >&2
    exit 1
fi

targets=(tests)
if [[ $# -gt 0 && "$1" != -* && -e "${1%%::*}" ]]; then
    targets=()  # the caller named what to run
fi

rc=0
"$PY" -m pytest "${targets[@]}" "$@" || rc=$?
if [[ $rc == 5 ]]; then
    echo 'run_tests.sh: FAILED: pytest collected no tests:' \
        python -m pytest "${targets[@]}" "$@" >&2
    exit 1
fi
exit "$rc"
