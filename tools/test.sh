#!/usr/bin/env bash
# The whole test suite: set-up, runtime unit tests in Node, then pytest (unit, frontends, browser, examples).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh --dev
export TF_ENABLE_ONEDNN_OPTS=0 TF_CPP_MIN_LOG_LEVEL=3 CUDA_VISIBLE_DEVICES=""
echo "[test] runtime unit tests (node --test)"
(cd runtime-js && node --test test/)
echo "[test] pytest"
# two workers: the suite is ~1,800 tests, half of them in Chromium (one browser per worker)
.venv/bin/python -m pytest -q -p no:cacheprovider -n 2 "$@"
