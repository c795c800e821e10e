#!/usr/bin/env bash
# The GPU figures the project still owes, in one run on a CUDA machine (about 5 minutes on
# an H100): the GPU test suite, the pooling layers' training throughput against PyG
# TopKPooling (issue 6), and NAT against TGN per epoch (issue 8). Logs go to $OUT when set
# (the device tool's folder), else to bench_out/.
#
#     bash benchmarks/gpu_figures.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench_out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python -m pip install -q --no-deps --no-build-isolation -e . >"$out/install.log" 2>&1 || { cat "$out/install.log"; exit 1; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python -m pytest -q -m gpu tests 2>&1 | tail -n 15 | tee "$out/gpu_tests.txt"
python benchmarks/bench_pool.py --device cuda --graphs 1024 --steps 32 2>&1 | tee "$out/pool_cuda.txt"
python benchmarks/bench_pool.py --device cpu --graphs 512 --steps 16 2>&1 | tee "$out/pool_cpu.txt"
for d in collegemsg enron; do
    python benchmarks/bench_temporal.py nat --dataset "$d" --epochs 3 --device cuda 2>&1 | tee "$out/nat_$d.txt"
done
