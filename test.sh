#!/usr/bin/env bash
# Set up everything the tests need (venv, requirements, Debian's chromium), then run all tests.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh requirements-dev.txt
bash scripts/browser.sh
python -m pytest -q tests "$@"
