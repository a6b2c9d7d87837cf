#!/usr/bin/env bash
# Installs what Webloom needs on a fresh Debian machine, idempotently.
#   tools/setup.sh          converter + runtime (what the demo needs)
#   tools/setup.sh --dev    + TensorFlow/Keras 2+3, Chainer, Playwright, pytest, Chromium (what tests need)
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1

log() { echo "[setup] $*"; }

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
py=.venv/bin/python
stamp=.venv/.webloom-stamp-$dev
want=$(cat pyproject.toml requirements-dev.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Python packages (dev=$dev)"
  $py -m pip install -q --upgrade pip
  # chainer 7.8.1 ships only an sdist whose setup.py needs pkg_resources (setuptools < 70)
  $py -m pip install -q "setuptools<70" wheel
  $py -m pip install -q --no-build-isolation -e .
  if [ $dev = 1 ]; then
    $py -m pip install -q -r requirements-dev.txt
    $py -m pip install -q --no-build-isolation chainer==7.8.1
    # the CPU build only (never a CUDA one); its dependencies are in requirements-dev.txt
    $py -m pip install -q --no-deps torch==2.13.0
  fi
  echo "$want" > "$stamp"
fi

if ! command -v node >/dev/null 2>&1; then
  log "installing Node.js from Debian"
  apt-get update -qq && apt-get install -y -qq nodejs npm
fi
if [ $dev = 1 ] && [ ! -x /usr/bin/chromium ]; then
  log "installing Chromium from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

log "building the JS runtime"
# npm ci again whenever package-lock.json changed since node_modules was installed (a stamp copy of it)
(cd runtime-js && { cmp -s package-lock.json node_modules/.webloom-lock \
  || { npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.webloom-lock; }; } \
  && npm run --silent build)
log "ready"
