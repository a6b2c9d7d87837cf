#!/usr/bin/env bash
# The side-by-side benchmark (issue 6). Installs the bench-only dependencies when missing (Python: tf2onnx,
# onnx, onnxruntime, tensorflowjs --no-deps into .venv; npm: TF.js 4.22 and onnxruntime-web 1.30 into
# tools/bench/node_modules), then runs tools/bench/run.py with the arguments given:
#   bash tools/bench/run.sh                 # full run: regenerates docs/benchmarks.md and .png (< 15 min)
#   bash tools/bench/run.sh --smoke         # M2 correctness on every runtime, for CI (~1-2 min)
#   bash tools/bench/run.sh --help          # --models, --runtimes, --runs, --budget-s
set -euo pipefail
cd "$(dirname "$0")/../.."
log() { echo "[bench] $*"; }

if [ ! -x .venv/bin/python ] || [ ! -f runtime-js/dist/webloom.js ]; then
  bash tools/setup.sh --dev
fi
py=.venv/bin/python
stamp=.venv/.webloom-bench-stamp
want=$(cat tools/bench/requirements.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing the bench-only Python packages"
  $py -m pip install -q -r tools/bench/requirements.txt
  $py -m pip install -q --no-deps tensorflowjs==4.22.0
  echo "$want" > "$stamp"
fi
if [ ! -f tools/bench/node_modules/.package-lock.json ] || \
   [ tools/bench/package-lock.json -nt tools/bench/node_modules/.package-lock.json ]; then
  log "installing the peer runtimes for the page (npm ci)"
  (cd tools/bench && npm ci --no-audit --no-fund --loglevel=error)
fi
export TF_ENABLE_ONEDNN_OPTS=0 TF_CPP_MIN_LOG_LEVEL=3 CUDA_VISIBLE_DEVICES=""
exec $py tools/bench/run.py "$@"
