#!/usr/bin/env bash
# Run on the lent GPU machine (no TensorFlow there): install the carried Keras wheels, then
# the GPU benchmark and a tiny end-to-end trial on the torch and JAX backends.
# Usage (from the repo root there): bash scripts/gpu_run.sh OUTDIR [BACKENDS]
set -uo pipefail
OUT_DIR="${1:?output folder}"; BACKENDS="${2:-torch jax}"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import sys; sys.path.insert(0, 'tests'); from tinydata import write_tiny_dataset; write_tiny_dataset('/tmp/tiny', n_train=128, n_dev=32)"
for be in $BACKENDS; do
  echo "=== backend $be: tiny end-to-end trial (fp32 vs amp-fp16 vs amp-bf16, 2 epochs) ==="
  KERAS_BACKEND=$be timeout 240 python3 -m model train --precisions fp32,tf32,amp-fp16,amp-bf16 --batch-size 32 \
    --epochs 2 --dataset /tmp/tiny --store /tmp/lab-$be.sqlite 2>&1 | tail -25
done
