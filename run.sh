#!/usr/bin/env bash
# Set up, build the default dataset if it is missing, and start the dashboard.
# Options: --host ADDR (default 127.0.0.1), --port N (default 8501), --examples N (default 2000),
#          --gpu / --cpu (default: --gpu when nvidia-smi lists an NVIDIA GPU, else --cpu).
# CPU: requirements.txt (Keras on TensorFlow). GPU: requirements-gpu.txt (Keras on PyTorch from
# PyPI, whose wheel carries CUDA; no TensorFlow) and KERAS_BACKEND=torch, the engine's GPU path.
set -euo pipefail
cd "$(dirname "$0")"
HOST=127.0.0.1; PORT=8501; EXAMPLES=2000; DEVICE=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --host) HOST="$2"; shift 2;;
    --port) PORT="$2"; shift 2;;
    --examples) EXAMPLES="$2"; shift 2;;
    --gpu) DEVICE=gpu; shift;;
    --cpu) DEVICE=cpu; shift;;
    *) echo "error: unknown option $1 (use --host, --port, --examples, --gpu, --cpu)" >&2; exit 2;;
  esac
done
if [ "$DEVICE" = auto ]; then
  DEVICE=cpu
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    DEVICE=gpu
  fi
fi
if [ "$DEVICE" = gpu ]; then
  echo "run: NVIDIA GPU mode ($(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true) GPU(s) listed); Keras on PyTorch"
  source scripts/setup.sh requirements-gpu.txt
  export KERAS_BACKEND=torch
else
  source scripts/setup.sh requirements.txt
fi
if [ ! -f XY_train/meta.json ]; then
  echo "run: XY_train is missing; synthesising $EXAMPLES examples (one-off, a few minutes)"
  python -m model make-data --examples "$EXAMPLES"
fi
exec python -m streamlit run app/main.py --server.address "$HOST" --server.port "$PORT" \
  --server.headless true --browser.gatherUsageStats false
