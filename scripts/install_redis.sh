#!/usr/bin/env bash
# Install Debian's `redis-server` for the scale-out test (tests/pipelines/test_scale_out_celery.py),
# which starts its own broker on 127.0.0.1. Idempotent: does nothing when the binary is present.
# Needs root (or sudo) for apt-get. The package's own service (on 6379, where systemd starts it)
# is not used: the test starts a private redis-server on a free port.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install_redis: run as root (or install sudo) to apt-get redis-server" >&2
    exit 1
  fi
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null

if ! command -v redis-server >/dev/null 2>&1; then
  echo "install_redis: redis-server still missing after installing the redis-server package" >&2
  exit 1
fi
echo "install_redis: $(redis-server --version | cut -d' ' -f1-3) installed"
