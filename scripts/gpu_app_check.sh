#!/usr/bin/env bash
# On the lent GPU machine (torch there, no TensorFlow, no internet): install the carried
# wheels (Keras, Streamlit and the dependencies the image lacks), start the real dashboard
# server with KERAS_BACKEND=torch and check /_stcore/health, then drive a fp32 vs amp-fp16
# comparison through the Trials page with AppTest (and the same over all GPUs when there
# are several) and print the summary the page shows.
# Usage (repo root there): bash scripts/gpu_app_check.sh OUTDIR [EPOCHS] [BATCH]
set -uo pipefail
OUT_DIR="${1:?output folder}"; EPOCHS="${2:-3}"; BATCH="${3:-256}"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 KERAS_BACKEND=torch NCCL_NVLS_ENABLE=0
export LAB_STORE=/tmp/app-lab.sqlite LAB_DATASET=/tmp/app-data
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader
python3 -c "import sys; sys.path.insert(0, 'tests'); from tinydata import write_tiny_dataset; write_tiny_dataset('$LAB_DATASET', n_train=1024, n_dev=64)"
python3 -m streamlit run app/main.py --server.port 8599 --server.headless true --global.developmentMode false \
  --browser.gatherUsageStats false > "$OUT_DIR/server.log" 2>&1 &
SERVER=$!
HEALTH="no answer"
for _ in $(seq 1 90); do
  if HEALTH=$(python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8599/_stcore/health', timeout=2).read().decode())" 2>/dev/null); then break; fi
  HEALTH="no answer"; sleep 1
done
echo "server /_stcore/health: $HEALTH"
PAGE=$(python3 -c "import urllib.request as u; print(len(u.urlopen('http://127.0.0.1:8599/', timeout=5).read()))" 2>/dev/null || echo 0)
echo "server / : $PAGE bytes"
kill "$SERVER"; wait "$SERVER" 2>/dev/null
timeout 540 python3 scripts/gpu_app_check.py "$OUT_DIR/gpu_app_check.json" "$EPOCHS" "$BATCH" 2>&1 | grep -v -i warning
echo "{\"health\": \"$HEALTH\", \"index_bytes\": $PAGE}" > "$OUT_DIR/gpu_app_health.json"
