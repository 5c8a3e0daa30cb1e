#!/usr/bin/env bash
# Set up (only when needed) and check the Python environment of dspnet-mm.
#
# Interface -- run it, never `source` it:
#
#   bash scripts/setup_env.sh                       # set up + check, logs only
#   PY=$(bash scripts/setup_env.sh --print-python)  # same; stdout = python
#   bash scripts/setup_env.sh --force               # re-verify a stamped env
#
# Everything it says goes to stderr; with --print-python stdout carries exactly
# one line, the absolute path of the environment's python, so other scripts do
# `PY=$(bash scripts/setup_env.sh --print-python)` and then `"$PY" ...`.
# Exit status 0: the env is complete and tools/check_env.py passed. Non-zero:
# one "FAILED at step ..." message names the step that broke.
#
# Which environment (first that applies):
#   DSPNET_VENV=path    that venv (created if missing)
#   VIRTUAL_ENV         the active virtualenv, if any (installed into, as is)
#   CONDA_PREFIX        the active conda env, if any (installed into, as is)
#   <repo>/.venv        default (created if missing)
#
# Other knobs:
#   DSPNET_PYTHON=python3.11     interpreter for a new venv (default:
#                                python3.11 if on PATH, else python3)
#   DSPNET_WHEELS_DIR=dir        where a prebuilt mmcv wheel may be (default
#                                <repo>/../shared/wheels); used only when the
#                                wheel matches the env and SHA256SUMS
#   DSPNET_MMCV_FROM_SOURCE=1    build mmcv from the PyPI sdist even when a
#                                wheel is there (replaces an mmcv that was
#                                not built from source)
#   MAX_JOBS=N                   parallel compile jobs of that build ($(nproc))
#
# Steps, in order: create venv -> setuptools<81 + wheel -> torch/torchvision
# -> mmcv with compiled ops (wheel, else source build) -> requirements/*.txt
# -> `pip install -e .` of this repo -> tools/check_env.py -> stamp.
# Each step skips itself when already satisfied. The stamp ($ENV/.dspnet_stamp)
# holds a hash of requirements/*.txt, setup.py and the repo path, and is
# written only after check_env passed; while it matches, the script is a no-op
# (well under a second). Rebuild from nothing: `rm -rf .venv` and run again.
# See DEVELOPERS.md for the pins and the mmcv build.

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    echo "setup_env.sh: run it with bash, do not source it:" \
        'PY=$(bash scripts/setup_env.sh --print-python)' >&2
    return 1
fi

set -Eeuo pipefail

SETUP_VERSION=1              # bump to invalidate every stamp
MMCV_WHEEL_TORCH=${DSPNET_MMCV_WHEEL_TORCH:-2.14.1}  # torch the wheel is for

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
START=$SECONDS
STEP='start'
PRINT_PYTHON=0
FORCE=0
for arg in "$@"; do
    case "$arg" in
        --print-python) PRINT_PYTHON=1 ;;
        --force) FORCE=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next}
                        NR > 1 {exit}' "${BASH_SOURCE[0]}"
                   exit 0 ;;
        *) echo "setup_env.sh: unknown argument '$arg' (see --help)" >&2
           exit 2 ;;
    esac
done

# From here on fd 3 is the caller's stdout; all our output goes to stderr.
exec 3>&1 1>&2

log() { echo "[setup_env] $*"; }
elapsed() { echo "$((SECONDS - START))s"; }
on_error() {
    local rc=$?
    trap - ERR
    echo "[setup_env] FAILED at step '$STEP' (exit $rc) after $(elapsed);" \
        'see the output above. Nothing was stamped: fix it and re-run' \
        '(rm -rf the env to start from nothing).'
    exit "$rc"
}
trap on_error ERR
die() {  # a known failure: one message, no ERR trap
    trap - ERR
    echo "[setup_env] FAILED at step '$STEP': $* ($(elapsed) elapsed)." \
        'Nothing was stamped: fix it and re-run.'
    exit 1
}

export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

# ---------------------------------------------------------------- which env
if [[ -n "${DSPNET_VENV:-}" ]]; then
    ENV_DIR=$DSPNET_VENV; ENV_KIND=venv; WHY='DSPNET_VENV'
elif [[ -n "${VIRTUAL_ENV:-}" ]]; then
    ENV_DIR=$VIRTUAL_ENV; ENV_KIND=active; WHY='the active virtualenv'
elif [[ -n "${CONDA_PREFIX:-}" ]]; then
    ENV_DIR=$CONDA_PREFIX; ENV_KIND=active; WHY='the active conda env'
else
    ENV_DIR=$REPO_ROOT/.venv; ENV_KIND=venv; WHY='default'
fi
mkdir -p "$(dirname "$ENV_DIR")"
ENV_DIR=$(cd "$(dirname "$ENV_DIR")" && pwd)/$(basename "$ENV_DIR")
PY=$ENV_DIR/bin/python
STAMP=$ENV_DIR/.dspnet_stamp
MMCV_ORIGIN=$ENV_DIR/.dspnet_mmcv_origin
FROM_SOURCE=${DSPNET_MMCV_FROM_SOURCE:-0}

stamp_hash() {
    { echo "v$SETUP_VERSION $REPO_ROOT"
      cat "$REPO_ROOT"/requirements/*.txt "$REPO_ROOT/setup.py"; } \
        | sha256sum | cut -d' ' -f1
}

is_stamped() {
    [[ $FORCE == 0 && -x "$PY" && -f "$STAMP" ]] || return 1
    [[ "$(cat "$STAMP")" == "$(stamp_hash)" ]] || return 1
    # a forced source build is only satisfied by a source-built mmcv
    [[ $FROM_SOURCE != 1 || "$(cat "$MMCV_ORIGIN" 2>/dev/null)" == source ]]
}

finish() {
    log "env ready: $PY ($WHY; $(elapsed) elapsed)"
    [[ $PRINT_PYTHON == 1 ]] && echo "$PY" >&3
    exit 0
}

if is_stamped; then
    log "env up to date, nothing to do ($ENV_DIR; $WHY)"
    finish
fi

# Two set-ups of the same env at once would fight over pip: serialise them.
if command -v flock >/dev/null; then
    LOCK=/tmp/dspnet-setup-$(echo "$ENV_DIR" | sha256sum | cut -c1-16).lock
    exec 9>"$LOCK"
    if ! flock -n 9; then
        log "another set-up of $ENV_DIR is running; waiting for it"
        flock 9
        if is_stamped; then log 'it finished the env'; finish; fi
    fi
fi

log "setting up $ENV_DIR ($WHY)"
rm -f "$STAMP"  # a failure from here on must leave the env unstamped
[[ $ENV_KIND == active ]] &&
    log "installing into the already-active env $ENV_DIR, as asked by $WHY"

# Every install names setuptools<81 again: torch requires setuptools>=77 and
# pip would otherwise upgrade it past 80, which removed pkg_resources (needed
# by mmcv 2.1.0's setup.py).
SETUPTOOLS_REQ='setuptools<81'
pip_install() { "$PY" -m pip install "$@" "$SETUPTOOLS_REQ"; }

step() { STEP=$1; STEP_START=$SECONDS; log "== $1"; }
step_done() { log "   done: $STEP ($((SECONDS - STEP_START))s)"; }

# Print the requirement lines (args) that the env does not satisfy yet.
# Reads installed metadata only; pip's vendored packaging is always there.
unsatisfied() {
    "$PY" - "$@" <<'EOF'
import importlib.metadata as md
import sys
from pip._vendor.packaging.requirements import Requirement
for line in sys.argv[1:]:
    req = Requirement(line)
    try:
        version = md.version(req.name)
    except md.PackageNotFoundError:
        print(line)
        continue
    if req.specifier and not req.specifier.contains(version, prereleases=True):
        print(line)
EOF
}

# Requirement lines of requirements/*.txt (comments and blanks dropped).
requirement_lines() {
    sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^[[:space:]]*$/d' \
        "$REPO_ROOT/requirements/runtime.txt" \
        "$REPO_ROOT/requirements/tests.txt" \
        "$REPO_ROOT/requirements/lint.txt"
}
pin_of() {  # pin_of torch -> 2.14.1
    requirement_lines | sed -n "s/^$1==//p" | head -n 1
}

# ------------------------------------------------------------------ 1. venv
step 'create the environment'
if [[ $ENV_KIND == active ]]; then
    [[ -x "$PY" ]] || die "$WHY $ENV_DIR has no bin/python"
elif [[ -x "$PY" ]]; then
    log "   venv exists: $ENV_DIR"
else
    [[ -e "$ENV_DIR" ]] && die "$ENV_DIR exists but has no working" \
        "bin/python; remove it (rm -rf $ENV_DIR) and re-run"
    if [[ -n "${DSPNET_PYTHON:-}" ]]; then BASE_PY=$DSPNET_PYTHON
    elif command -v python3.11 >/dev/null; then BASE_PY=python3.11
    else BASE_PY=python3; fi
    command -v "$BASE_PY" >/dev/null ||
        die "no $BASE_PY on PATH (set DSPNET_PYTHON)"
    "$BASE_PY" -c 'import sys; assert sys.version_info >= (3, 9)' ||
        die "$BASE_PY is older than 3.9"
    if ! "$BASE_PY" -c 'import sys; assert sys.version_info[:2] == (3, 11)' \
        2>/dev/null; then
        log "   note: $BASE_PY is not 3.11; the stack is tested on 3.11 and" \
            'the prebuilt mmcv wheel is cp311 only (mmcv will be built)'
    fi
    "$BASE_PY" -m venv "$ENV_DIR" || die "'$BASE_PY -m venv' failed" \
        '(Debian/Ubuntu: apt-get install python3-venv)'
    log "   created venv with $("$PY" -V 2>&1) from $(command -v "$BASE_PY")"
fi
step_done

# ---------------------------------------------------- 2. build tooling
step 'setuptools<81 and wheel'
# setuptools 81 dropped pkg_resources, which mmcv 2.1.0's setup.py imports.
missing=$(unsatisfied "$SETUPTOOLS_REQ" wheel)
if [[ -n "$missing" ]]; then
    pip_install -U wheel
else
    log '   already satisfied'
fi
step_done

# -------------------------------------------------------- 3. torch first
TORCH_PIN=$(pin_of torch)
TV_PIN=$(pin_of torchvision)
[[ -n "$TORCH_PIN" && -n "$TV_PIN" ]] ||
    die 'requirements/runtime.txt must pin torch== and torchvision=='
step "torch==$TORCH_PIN torchvision==$TV_PIN"
missing=$(unsatisfied "torch==$TORCH_PIN" "torchvision==$TV_PIN")
if [[ -n "$missing" ]]; then
    # shellcheck disable=SC2086  # one requirement per word
    pip_install $missing
else
    log '   already satisfied'
fi
step_done

# -------------------------------------------------- 4. mmcv with ops
MMCV_PIN=$(pin_of mmcv)
[[ -n "$MMCV_PIN" ]] || die 'requirements/runtime.txt must pin mmcv=='

# Succeeds when mmcv's compiled extension imports; else prints the error.
mmcv_ext_error() {
    local out
    out=$(cd / && "$PY" -c 'import mmcv._ext' 2>&1) && return 0
    echo "$out" | tail -n 1
    return 1
}

# The only wheel name that fits the env: mmcv-<pin>-cpXY-cpXY-linux_<arch>.whl
mmcv_wheel_name() {
    local tag
    tag=$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
    echo "mmcv-$MMCV_PIN-$tag-$tag-linux_$(uname -m).whl"
}
# Prints why the prebuilt wheel cannot be used (nothing when it can).
wheel_unusable_reason() {  # wheel_unusable_reason DIR FILE
    local dir=$1 file=$2 torch_v sum
    [[ -d "$dir" ]] || { echo "no wheel dir $dir"; return; }
    [[ "$(uname -s)" == Linux ]] || { echo 'not Linux'; return; }
    "$PY" -c 'import sys; assert sys.implementation.name == "cpython"' \
        2>/dev/null ||
        { echo 'the env is not CPython'; return; }
    [[ -f "$dir/$file" ]] ||
        { echo "no $file (this python/arch) in $dir"; return; }
    torch_v=$("$PY" -c \
        'import importlib.metadata as m; print(m.version("torch"))')
    [[ "${torch_v%%+*}" == "$MMCV_WHEEL_TORCH" ]] || {
        echo "the wheel is for torch $MMCV_WHEEL_TORCH, env has $torch_v"
        return
    }
    [[ -f "$dir/SHA256SUMS" ]] || { echo "no SHA256SUMS in $dir"; return; }
    sum=$(awk -v f="$file" '$2 == f || $2 == "*" f {print $1}' \
        "$dir/SHA256SUMS")
    [[ -n "$sum" ]] || { echo "$file is not listed in SHA256SUMS"; return; }
    [[ "$(sha256sum "$dir/$file" | cut -d' ' -f1)" == "$sum" ]] ||
        { echo "$file does not match its sha256 in SHA256SUMS"; return; }
}

# The C++ standard torch's headers demand, as a number (14, 17, 20, ...).
# 1) torch's own guard, e.g. torch/all.h: `#if ... __cplusplus < 202002L
#    #error C++20 or later ...` (c10/util/C++17.h in older releases);
# 2) else the highest -std=c++NN torch.utils.cpp_extension passes itself;
# 3) else by version: 17 for torch >= 2.1, 14 before.
torch_cxx_std() {
    "$PY" - <<'EOF'
import importlib.util, os, re
import torch
base = os.path.dirname(torch.__file__)
inc = os.path.join(base, 'include')
years = {201402: 14, 201703: 17, 202002: 20, 202302: 23}
found, how = [], ''
for rel in ('torch/csrc/api/include/torch/all.h', 'c10/util/C++17.h',
            'c10/macros/Macros.h'):
    try:
        text = open(os.path.join(inc, rel), encoding='utf-8').read()
    except OSError:
        continue
    for v in re.findall(r'__cplusplus\s*<\s*(\d{6})L', text):
        if int(v) in years:
            found.append(years[int(v)])
            how = f'guard in include/{rel}'
if not found:
    spec = importlib.util.find_spec('torch.utils.cpp_extension')
    text = open(spec.origin, encoding='utf-8').read()
    found = [int(v) for v in re.findall(r'-std=c\+\+(\d\d)\b', text)]
    how = 'flags in torch/utils/cpp_extension.py'
if not found:
    major, minor = (int(x) for x in torch.__version__.split('.')[:2])
    found, how = [17 if (major, minor) >= (2, 1) else 14], 'torch version'
print(max(found), how)
EOF
}

build_mmcv_from_source() {
    local work src std how n log
    [[ -z "$(unsatisfied "$SETUPTOOLS_REQ")" ]] || pip_install
    command -v c++ >/dev/null || command -v g++ >/dev/null ||
        die 'no C++ compiler (apt-get install g++); needed to build mmcv'
    "$PY" -c 'import os, sysconfig as s; assert os.path.exists(
        os.path.join(s.get_paths()["include"], "Python.h"))' ||
        die 'no Python.h for this python (apt-get install python3-dev)'
    # ninja makes the build parallel; torch falls back to a serial one without
    if ! command -v ninja >/dev/null && [[ ! -x "$ENV_DIR/bin/ninja" ]]; then
        pip_install ninja
    fi
    work=$(mktemp -d "${TMPDIR:-/tmp}/dspnet-mmcv-build.XXXXXX")
    "$PY" -m pip download --no-deps --no-binary :all: --no-build-isolation \
        "mmcv==$MMCV_PIN" -d "$work"
    tar -xzf "$work/mmcv-$MMCV_PIN.tar.gz" -C "$work"
    src=$work/mmcv-$MMCV_PIN
    read -r std how < <(torch_cxx_std)
    log "   torch needs C++$std (from the $how)"
    # mmcv 2.1.0 hard-codes -std=c++14/-std=c++17, which would override the
    # -std=c++$std torch's extension builder adds; raise them to torch's.
    n=$(grep -c -- '-std=c++1[47]' "$src/setup.py" || true)
    sed -i -E "s/-std=c\+\+1[47]/-std=c++$std/g" "$src/setup.py"
    log "   raised $n -std=c++14/17 flag line(s) in mmcv's setup.py to c++$std"
    log="$work/build.log"
    log "   compiling mmcv $MMCV_PIN with ops," \
        "MAX_JOBS=${MAX_JOBS:-$(nproc)} (10+ minutes on 2 cores); log: $log"
    if ! (cd "$src" && PATH="$ENV_DIR/bin:$PATH" MMCV_WITH_OPS=1 \
            MAX_JOBS=${MAX_JOBS:-$(nproc)} \
            "$PY" -m pip install -v --no-build-isolation --no-deps . \
            >"$log" 2>&1); then
        tail -n 40 "$log"
        die "mmcv build failed; full log: $log"
    fi
    rm -rf "$work"
    echo source >"$MMCV_ORIGIN"
}

# mmcv goes in before the rest (with --no-deps), so that pip never resolves
# mmdet/mmpretrain's mmcv requirement to the sdist and builds it without ops.
# Whether its ops load is checked after step 5: `import mmcv` needs mmengine.
install_mmcv() {  # install_mmcv REASON_TO_SKIP_THE_WHEEL (may be empty)
    local reason=$1 wheel_name wheels_dir
    wheels_dir=${DSPNET_WHEELS_DIR:-$REPO_ROOT/../shared/wheels}
    [[ ! -d "$wheels_dir" ]] || wheels_dir=$(cd "$wheels_dir" && pwd)
    wheel_name=$(mmcv_wheel_name)
    [[ -n "$reason" ]] ||
        reason=$(wheel_unusable_reason "$wheels_dir" "$wheel_name")
    if [[ -z "$reason" ]]; then
        log "   installing the prebuilt wheel $wheels_dir/$wheel_name" \
            '(python/arch/torch match, sha256 verified)'
        "$PY" -m pip install --no-deps --force-reinstall \
            "$wheels_dir/$wheel_name"
        echo wheel >"$MMCV_ORIGIN"
    else
        log "   building mmcv from source: $reason"
        build_mmcv_from_source
    fi
}

step "mmcv==$MMCV_PIN with compiled ops"
if [[ -n "$(unsatisfied "mmcv==$MMCV_PIN")" ]]; then
    install_mmcv "$([[ $FROM_SOURCE == 1 ]] && echo DSPNET_MMCV_FROM_SOURCE=1)"
elif [[ $FROM_SOURCE == 1 &&
        "$(cat "$MMCV_ORIGIN" 2>/dev/null)" != source ]]; then
    install_mmcv 'DSPNET_MMCV_FROM_SOURCE=1 (the installed one is not)'
else
    log "   already installed ($(cat "$MMCV_ORIGIN" 2>/dev/null ||
        echo 'origin unknown'))"
fi
step_done

# ------------------------------------------------ 5. the rest of the pins
step 'requirements/runtime.txt, tests.txt and lint.txt'
mapfile -t reqs < <(requirement_lines)
missing=$(unsatisfied "${reqs[@]}")
if [[ -n "$missing" ]]; then
    log "   missing: $(echo $missing)"
    # mmcv and torch are pinned here too: pip keeps the installed ones and
    # only adds their dependencies (mmcv went in with --no-deps).
    pip_install -r "$REPO_ROOT/requirements/runtime.txt" \
        -r "$REPO_ROOT/requirements/tests.txt" \
        -r "$REPO_ROOT/requirements/lint.txt"
    missing=$(unsatisfied "${reqs[@]}")
    [[ -z "$missing" ]] || die "still unsatisfied after pip: $(echo $missing)"
else
    log '   already satisfied'
fi
step_done

step 'mmcv._ext loads'
if ! err=$(mmcv_ext_error); then
    origin=$(cat "$MMCV_ORIGIN" 2>/dev/null || echo unknown)
    log "   it does not ($err; mmcv from: $origin)"
    [[ $origin != source ]] ||
        die "the source-built mmcv has no working ops: $err"
    log '   replacing it with a source build'
    build_mmcv_from_source
    err=$(mmcv_ext_error) || die "mmcv built but its ops do not load: $err"
fi
log '   ok'
[[ -f "$MMCV_ORIGIN" ]] || echo preinstalled >"$MMCV_ORIGIN"
step_done

# ----------------------------------------------- 6. this repo, editable
step 'pip install -e . (dspnet_mm)'
dspnet_home() {  # the repo dspnet_mm is imported from, seen from outside it
    (cd / && "$PY" -c 'import importlib.util as u, os
s = u.find_spec("dspnet_mm")
print(os.path.dirname(os.path.dirname(s.origin)) if s and s.origin else "")' \
        2>/dev/null) || true
}
if [[ "$(dspnet_home)" == "$REPO_ROOT" ]]; then
    log "   already installed from $REPO_ROOT"
else
    # --no-deps: setup_env.sh installed the pinned stack; --no-build-isolation:
    # use the env's setuptools<81 instead of fetching the newest one.
    "$PY" -m pip install --no-deps --no-build-isolation -e "$REPO_ROOT"
    [[ "$(dspnet_home)" == "$REPO_ROOT" ]] ||
        die "dspnet_mm is not importable from $REPO_ROOT after pip install -e"
fi
step_done

# ----------------------------------------------------------- 7. check, stamp
step 'tools/check_env.py'
(cd "$REPO_ROOT" && "$PY" tools/check_env.py) ||
    die 'the env check failed (message above)'
step_done

stamp_hash >"$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
finish
