#!/usr/bin/env bash
# Install headless Chromium and its WebDriver from Debian (packages `chromium`, `chromium-driver`)
# for the browser test (tests/pipelines/test_ui_browser.py). Idempotent: does nothing when both
# binaries are present. Needs root (or sudo) for apt-get.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install_browser: run as root (or install sudo) to apt-get chromium" >&2
    exit 1
  fi
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null

for binary in /usr/bin/chromium /usr/bin/chromedriver; do
  if [ ! -x "$binary" ]; then
    echo "install_browser: $binary still missing after installing chromium chromium-driver" >&2
    exit 1
  fi
done
echo "install_browser: $(/usr/bin/chromium --version 2>/dev/null | head -n1) installed"
