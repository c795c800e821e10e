#!/usr/bin/env bash
# The GPU figures the project still owes, in one run on a CUDA machine (about 4.5 minutes on
# an H100 before the dense GAT step was added): the GPU test suite, the pooling layers'
# training throughput against PyG TopKPooling and TokenGraphPool's dense GAT against GATConv
# (issue 6), and NAT against TGN per epoch (issue 8). Each step has its own time limit, so
# one that hangs cannot take the others' figures with it. Logs go to $OUT when set (the
# device tool's folder), else to bench_out/.
#
#     bash benchmarks/gpu_figures.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench_out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if ! python -m pip install -q --no-deps --no-build-isolation -e . >"$out/install.log" 2>&1; then
    echo "editable install failed (see install.log); importing from the checkout instead"
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
step() {  # step SECONDS LOG command...: run with a time limit, output to the screen and LOG
    local limit=$1 log=$2
    shift 2
    echo "== $* (limit ${limit}s)" | tee "$out/$log"
    timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$out/$log"
    local rc=${PIPESTATUS[0]}
    [ "$rc" = 124 ] && echo "== timed out after ${limit}s" | tee -a "$out/$log"
    echo "== rc $rc" | tee -a "$out/$log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
step 240 gpu_tests.txt python -m pytest -q -m gpu -rfEs --tb=short tests
step 120 pool_cuda.txt python benchmarks/bench_pool.py --device cuda --graphs 1024 --steps 32 --plot "$out/pool_cuda.png"
step 60 pool_cpu.txt python benchmarks/bench_pool.py --device cpu --graphs 512 --steps 16
step 90 dense_gat_cuda.txt python benchmarks/bench_dense_gat.py --device cuda --memory --groups 64x16,32x64,4x300,1x620,1x2000
for d in collegemsg enron; do
    step 60 "nat_$d.txt" python benchmarks/bench_temporal.py nat --dataset "$d" --epochs 3 --device cuda
done
