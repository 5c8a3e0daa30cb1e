#!/usr/bin/env bash
# The linters of mmpretrain's pre-commit set, with the settings in setup.cfg:
# flake8, isort, yapf, codespell and docformatter (pinned in
# requirements/lint.txt, so scripts/setup_env.sh installs them).
#
#   bash scripts/lint.sh                 # check the tree; exit 1 on findings
#   bash scripts/lint.sh --fix           # let isort, yapf, docformatter and
#                                        # codespell rewrite, then check
#   bash scripts/lint.sh [--fix] FILE..  # only these files
#
# The env's python comes from scripts/setup_env.sh (or $PY when set).
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"

fix=0
if [[ "${1:-}" == --fix ]]; then
    fix=1
    shift
fi
PY=${PY:-$(bash scripts/setup_env.sh --print-python)}

if [[ $# -gt 0 ]]; then
    files=("$@")
else
    # what git tracks, plus new files it does not ignore
    mapfile -t files < <(git ls-files --cached --others --exclude-standard \
        -- '*.py' | while read -r f; do [[ -f "$f" ]] && echo "$f"; done)
fi
mapfile -t py < <(printf '%s\n' "${files[@]}" | grep '\.py$' || true)
[[ ${#py[@]} -gt 0 ]] || { echo 'lint.sh: no python files' >&2; exit 0; }

if [[ $fix == 1 ]]; then
    "$PY" -m isort "${py[@]}"
    "$PY" -m yapf --in-place "${py[@]}"
    "$PY" -m docformatter --config setup.cfg --in-place "${py[@]}" || true
    "$PY" -m codespell_lib --write-changes "${files[@]}" || true
fi

rc=0
run() {
    echo "lint.sh: $1" >&2
    shift
    "$@" || rc=1
}
run flake8 "$PY" -m flake8 "${py[@]}"
run isort "$PY" -m isort --check-only --diff "${py[@]}"
run yapf "$PY" -m yapf --diff "${py[@]}"
run codespell "$PY" -m codespell_lib "${files[@]}"
run docformatter "$PY" -m docformatter --config setup.cfg --check \
    "${py[@]}"
if [[ $rc != 0 ]]; then
    echo 'lint.sh: FAILED (bash scripts/lint.sh --fix rewrites what the' \
        'formatters can)' >&2
fi
exit "$rc"
