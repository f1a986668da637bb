#!/usr/bin/env bash
# Make sure Debian's chromium is installed for the end-to-end tests (Playwright drives it;
# it cannot download its own browser here). Needs root or sudo the first time.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "setup: installing Debian's chromium for the browser tests"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
