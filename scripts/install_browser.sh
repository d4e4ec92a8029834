#!/usr/bin/env bash
# Headless Chromium and its WebDriver from Debian (packages chromium, chromium-driver) for tests/e2e/test_ui.py.
# Idempotent: does nothing when /usr/bin/chromium and /usr/bin/chromedriver are both there. Run by
# `make browser` and .ci/run; needs root (CI) or sudo (a developer's machine).
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "browser: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver
echo "browser: $(/usr/bin/chromium --version) and $(/usr/bin/chromedriver --version) installed"
