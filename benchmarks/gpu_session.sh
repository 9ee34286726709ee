#!/usr/bin/env bash
# Every GPU check of the packed ensembles, prepared as two calls for a machine with one NVIDIA GPU
# where each call may run at most about 10 minutes and Ray may not be installed.
#
# Before, here: put binary wheels for the GPU machine's Python into .whl/: Ray 2.60.0 and the few
#               packages that machine lacks (about 45 MiB with Ray's Java, RLlib, Serve and LLM parts
#               dropped from its wheel, so the folder fits a 64 MiB upload; Optuna is not needed), plus
#               the pure-Python wheels of pytest, pluggy and iniconfig (the CUDA test needs pytest):
#               python3 -m pip download -q --only-binary=:all: --no-deps -d .whl pytest pluggy iniconfig
# There:        bash benchmarks/gpu_session.sh all        (carry .whl/; at most about 9 min: both below)
#          or:  bash benchmarks/gpu_session.sh engine     (at most 3.5 min)
#               bash benchmarks/gpu_session.sh search     (the same warm machine, at most 5.5 min)
#
# engine: the CUDA-graph test, then model-epochs/s of the single path and of packs for the small,
#         middle and baseline shapes (goals: >= 300 model-epochs/s for small shapes; baseline packs
#         within 10% per model of the solo CUDA-graph run, which is the pack of 1).
# search: the random space with 1,000 configs, 2 epochs each, --pack auto, four packs sharing the
#         GPU (goal: under 5 minutes), then gpu_check.py (fractional-GPU trials really on CUDA).
# Every step has its own time limit and writes its log under $OUT, so one slow step loses nothing else.
set -u
OUT=${OUT:-/tmp/gpu-session}
mkdir -p "$OUT"
if ! python3 -c "import ray" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s): $*"
    local start=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    tail -n 30 "$OUT/$name.log"
    echo "== $name: exit $rc after $((SECONDS - start)) s"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, ray; print('torch', torch.__version__, 'ray', ray.__version__, 'cuda', torch.cuda.is_available())"

engine() {
    step cuda_tests 45 python3 -m pytest -q -p no:cacheprovider tests/test_packed.py -k cuda
    step packed_small_middle 110 python3 benchmarks/packed_throughput.py --device cuda --epochs 1 \
        --subset 10000 --shapes small,middle --sizes 1,16,128,512,max --json "$OUT/packed_small_middle.json"
    step packed_baseline 50 python3 benchmarks/packed_throughput.py --device cuda --epochs 1 \
        --subset 10000 --shapes baseline --sizes 1,16,128 --json "$OUT/packed_baseline.json"
}
search() {
    step gpu_check 85 python3 benchmarks/gpu_check.py --space smoke --subset 5000 --epochs 2
    # Last, so that a miss of the 5-minute goal still leaves every other log; its wall time is in the log.
    step random_1000 230 python3 benchmarks/packed_throughput.py --device cuda --shapes none \
        --random-configs 1000 --search-args "--gpus-per-trial 0.25"
}

case "${1:-engine}" in
engine) engine ;;
search) search ;;
all) engine && search ;;
*)
    echo "usage: bash benchmarks/gpu_session.sh engine|search|all" >&2
    exit 2
    ;;
esac
