#!/usr/bin/env bash
# Set up everything the tests need, then run the whole test suite (CPU, a few minutes).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh requirements-dev.txt
python -m pytest -q tests "$@"
