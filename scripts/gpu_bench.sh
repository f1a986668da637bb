#!/usr/bin/env bash
# Run on the lent GPU machine (torch there, no TensorFlow): the engine-vs-reference GPU
# benchmark (bench/bench_gpu.py), then a tiny end-to-end CLI trial through the engine.
# Usage (repo root there): bash scripts/gpu_bench.sh OUTDIR [bench_gpu.py args...]
set -uo pipefail
OUT_DIR="${1:?output folder}"; shift
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 KERAS_BACKEND=torch
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
nproc
python3 bench/bench_gpu.py --json "$OUT_DIR/bench_gpu.json" --data /tmp/bench-data "$@" 2>&1 | grep -v Warning
python3 -c "import sys; sys.path.insert(0, 'tests'); from tinydata import write_tiny_dataset; write_tiny_dataset('/tmp/tiny', n_train=256, n_dev=64)"
timeout 200 python3 -m model train --precisions fp32,amp-fp16 --batch-size 64 --epochs 2 \
  --dataset /tmp/tiny --store /tmp/lab-torch.sqlite 2>&1 | tail -12
