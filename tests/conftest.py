import os
import sys
from pathlib import Path

# Before TensorFlow is imported anywhere: deterministic float32 math (no oneDNN reordering) and no noise.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Browser fixtures (one Playwright driver, one Chromium, the static server, bundle helpers) are shared by
# tests/browser and tests/examples; a plugin defines them once for the whole session.
pytest_plugins = ["tests.browser.fixtures"]
