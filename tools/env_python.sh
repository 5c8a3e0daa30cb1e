# Sourced by tools/dist_*.sh and tools/slurm_*.sh: sets PYTHON to the
# python of the project's environment, the one that has torch:
#   $PYTHON when set; else the active virtualenv / conda env; else the
#   checkout's .venv (what scripts/setup_env.sh creates); else `python`.
# A PYTHON that cannot import torch is refused with the fix.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then
        PYTHON="$VIRTUAL_ENV/bin/python"
    elif [[ -n "${CONDA_PREFIX:-}" && -x "$CONDA_PREFIX/bin/python" ]]; then
        PYTHON="$CONDA_PREFIX/bin/python"
    elif [[ -x "$_root/.venv/bin/python" ]]; then
        PYTHON="$_root/.venv/bin/python"
    else
        PYTHON=python
    fi
fi
if ! "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
    echo "error: $PYTHON cannot import torch. Create the environment" \
        "(bash scripts/setup_env.sh) and enter it (source .venv/bin/activate)," \
        "or set PYTHON=/path/to/env/bin/python" >&2
    exit 1
fi
unset _root
