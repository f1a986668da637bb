#!/usr/bin/env bash
# Set up, build the default dataset if it is missing, and start the dashboard.
# Options: --host ADDR (default 127.0.0.1), --port N (default 8501), --examples N (default 2000).
set -euo pipefail
cd "$(dirname "$0")"
HOST=127.0.0.1; PORT=8501; EXAMPLES=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --host) HOST="$2"; shift 2;;
    --port) PORT="$2"; shift 2;;
    --examples) EXAMPLES="$2"; shift 2;;
    *) echo "error: unknown option $1 (use --host, --port, --examples)" >&2; exit 2;;
  esac
done
source scripts/setup.sh requirements.txt
if [ ! -f XY_train/meta.json ]; then
  echo "run: XY_train is missing; synthesising $EXAMPLES examples (one-off, a few minutes)"
  python -m model make-data --examples "$EXAMPLES"
fi
exec python -m streamlit run app/main.py --server.address "$HOST" --server.port "$PORT" \
  --server.headless true --browser.gatherUsageStats false
