#!/usr/bin/env bash
# The main job: convert the shipped sentiment LSTM for every backend into web/, install its page (type a
# review, see its score), then run the wasm bundle in Node and compare it with Keras' outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
.venv/bin/convert_keras examples/sentiment/model.keras --backend all --out web/ \
  --sample examples/sentiment/expected.json
.venv/bin/python examples/sentiment/build_web.py --out web/ --page-only   # the review page as index.html
node examples/sentiment/check.mjs web/ examples/sentiment/expected.json
echo "Serve the page with:  .venv/bin/python -m http.server -b 127.0.0.1 -d web 8000"
echo "then open http://127.0.0.1:8000/ and type a review."
