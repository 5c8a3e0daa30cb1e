#!/usr/bin/env bash
# Every pretraining run behind the evidence table of configs/dspnet/README.md,
# then the table itself:
#
#   bash scripts/imagenette_evidence.sh [DATA_ROOT] [WORK_DIR]
#
# DATA_ROOT (default data/imagenette-64) is Imagenette at 64x64 in the
# ImageNet-style layout (tools/prepare_dataset.py, see the README's "Real
# photos"); WORK_DIR defaults to work_dirs/imagenette. Runs: DSPNet seeds 0
# and 1; BYOL one by one at widths 1.0/0.75/0.5/0.25, seeds 0 and 1. Each is an ordinary tools/train.py run with one OpenMP thread; a
# finished run is skipped, an interrupted one resumes (--resume). Two runs go
# in parallel (JOBS=2, one per core); about 3 h on 2 cores in all. Logs:
# WORK_DIR/<run>/train.log. Then tools/analysis/evidence_table.py writes
# WORK_DIR/evidence/evidence.{md,json,png} and prints the table.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
DATA=${1:-data/imagenette-64}
WORK=${2:-work_dirs/imagenette}
JOBS=${JOBS:-2}
ITERS=3000
# --amp: bfloat16 autocast on CPU (float16 AMP on GPU). On these 2-core
# machines it trains about 20 % faster at the same accuracy (recipe search,
# S8 vs S10). AMP=0 trains in float32.
AMP_ARG=()
if [[ "${AMP:-1}" == 1 ]]; then AMP_ARG=(--amp); fi
if [[ ! -f "$DATA/meta/train.txt" ]]; then
    echo "imagenette_evidence.sh: $DATA/meta/train.txt not found; make the" \
        'root with tools/prepare_dataset.py (README, "Real photos")' >&2
    exit 1
fi
PY=$(bash scripts/setup_env.sh --print-python)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
DSP=configs/dspnet/dspnet_slimmable-resnet18_1xb64-lars-${ITERS}it_imagenette64.py
byol() { echo "configs/byol/byol_resnet18-w$1_1xb64-lars-${ITERS}it_imagenette64.py"; }

# Longest first, so that two parallel jobs finish together.
RUNS=(
    "dspnet_s0 $DSP 0"
    "dspnet_s1 $DSP 1"
    "byol_w1.0_s0 $(byol 1.0) 0"
    "byol_w1.0_s1 $(byol 1.0) 1"
    "byol_w0.75_s0 $(byol 0.75) 0"
    "byol_w0.75_s1 $(byol 0.75) 1"
    "byol_w0.5_s0 $(byol 0.5) 0"
    "byol_w0.5_s1 $(byol 0.5) 1"
    "byol_w0.25_s0 $(byol 0.25) 0"
    "byol_w0.25_s1 $(byol 0.25) 1"
)

train() {  # NAME CONFIG SEED
    local dir="$WORK/$1"
    if [[ -f "$dir/iter_${ITERS}.pth" ]]; then
        echo "$1: done ($dir/iter_${ITERS}.pth)"
        return 0
    fi
    mkdir -p "$dir"
    echo "$1: training ($2, seed $3), log $dir/train.log"
    "$PY" tools/train.py "$2" --work-dir "$dir" --resume "${AMP_ARG[@]}" \
        --cfg-options \
        randomness.seed="$3" train_dataloader.dataset.data_root="$DATA" \
        > "$dir/train.log" 2>&1 || {
        echo "$1: FAILED, see $dir/train.log" >&2
        return 1
    }
}

pids=()
for run in "${RUNS[@]}"; do
    # shellcheck disable=SC2086
    train $run &
    pids+=($!)
    while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n || true; done
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
if (( status )); then
    echo 'imagenette_evidence.sh: a run failed; rerun to resume it' >&2
    exit 1
fi

"$PY" tools/analysis/evidence_table.py --data-root "$DATA" \
    --dspnet "$WORK"/dspnet_s0/iter_${ITERS}.pth "$WORK"/dspnet_s1/iter_${ITERS}.pth \
    --byol "$WORK"/byol_w{1.0,0.75,0.5,0.25}_s{0,1}/iter_${ITERS}.pth \
    --random-seeds 0 1 --out-dir "$WORK/evidence"
