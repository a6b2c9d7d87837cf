#!/usr/bin/env bash
# The main job: convert the shipped sentiment LSTM for every backend into web/, then run the wasm bundle
# in Node and compare it with the outputs Keras gave when the example was made.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
.venv/bin/convert_keras examples/sentiment/model.keras --backend all --out web/ \
  --sample examples/sentiment/expected.json
node examples/sentiment/check.mjs web/ examples/sentiment/expected.json
echo "Serve the demo page with:  .venv/bin/python -m http.server -b 127.0.0.1 -d web 8000"
