"""The webloom runtime's WebAssembly backend in headless Chromium (and Node): hand-made bundles, then
every Keras catalogue case converted to wasm and compared with Keras' own outputs."""

from __future__ import annotations

import importlib.util
import json
import shutil

import numpy as np
import pytest

from tests.browser.fixtures import ROOT, RUNTIME
from tests.cases import keras_models


def _make_fixtures_module():
    path = ROOT / "runtime-js" / "fixtures" / "make_fixtures.py"
    spec = importlib.util.spec_from_file_location("webloom_make_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fixtures(web_root):
    """The runtime's hand-made bundles under ``<web root>/fixtures`` (see make_fixtures.py)."""
    out = web_root / "fixtures"
    _make_fixtures_module().write_fixtures(out)
    for folder in (out, *(p for p in out.iterdir() if p.is_dir())):
        shutil.copy(RUNTIME, folder / "webloom.js")
    return out, json.loads((out / "expected.json").read_text())


def _affine(x, expected):
    w, b = np.float32(expected["w"]), np.float32(expected["b"])
    return (x.reshape(-1, 4) * w + b).ravel()


def test_affine_in_chromium_and_node(page, bundles, fixtures):
    x = np.linspace(-1, 1, 12, dtype=np.float32)
    ids = np.array([[0, 4], [1, 3], [2, 2]], np.int32)
    table = np.float32(fixtures[1]["table"])
    for outs in (bundles.run_browser(page, fixtures[0] / "affine", {"x": x, "ids": ids}),
                 bundles.run_node(fixtures[0] / "affine", {"x": x, "ids": ids})):
        np.testing.assert_array_equal(outs["y"], _affine(x, fixtures[1]))
        np.testing.assert_array_equal(outs["emb"], table[ids].ravel())
    assert page.errors == []


def test_input_errors_in_chromium(page, bundles, fixtures):
    messages = bundles.call(page, fixtures[0], """
      const r = await webloom.load(base + "/affine/", { backendOrder: ["wasm"] });
      const out = [];
      const grab = async (fn) => {
        try { await fn(); out.push("no error"); } catch (e) { out.push(e.message); }
      };
      await grab(() => r.input("x").set(new Float64Array(4)));
      await grab(() => r.predict({ x: new Float32Array(4) }));
      await grab(() => r.predict({ x: new Float32Array(4), ids: new Int32Array([7]) }));
      const e = await webloom.load(base + "/embed/", { backendOrder: ["wasm"] });
      await grab(() => e.predict({ ids: new Int32Array(6) }));
      return out;""")
    assert 'input "x": expected a Float32Array of shape [batch, 4], got Float64Array' in messages[0]
    assert 'input "ids" is not set' in messages[1]
    assert "value 7 at index 0 is outside the valid range [0, 5)" in messages[2]
    assert "cannot infer batch and time" in messages[3] and "runner.setDims" in messages[3]


def test_fallback_and_damaged_bundles_in_chromium(page, bundles, fixtures):
    result = bundles.call(page, fixtures[0], """
      const warnings = [];
      console.warn = (m) => warnings.push(m);
      const r = await webloom.load(base + "/affine", { backendOrder: ["webgpu", "wasm"] });
      const errors = [];
      for (const dir of ["truncated", "corrupted"]) {
        try { await webloom.load(base + "/" + dir + "/", { backendOrder: ["wasm"] }); errors.push("loaded"); }
        catch (e) { errors.push(e instanceof webloom.BundleError ? "BundleError" : e.message); }
      }
      let missing = "";
      try { await webloom.load(base + "/nowhere/", { backendOrder: ["wasm"] }); }
      catch (e) { missing = e.message; }
      return { backend: r.backendName, reasons: r.fallbackReasons, warnings: warnings.length, errors,
               missing };""")
    assert result["backend"] == "wasm"
    assert [r["backend"] for r in result["reasons"]] == ["webgpu"]
    assert result["warnings"] == 1
    assert result["errors"] == ["BundleError", "BundleError"]
    assert "nowhere/model.wasm.wlm not found" in result["missing"]


def test_state_steps_and_progress_in_chromium(page, bundles, fixtures):
    result = bundles.call(page, fixtures[0], """
      const progress = [];
      const r = await webloom.load(base + "/state/",
                                   { backendOrder: ["wasm"], progress: (l, t, p) => progress.push(p) });
      r.input("x").set(new Float32Array([1, 2]));
      for (let i = 0; i < 3; i++) await r.step();
      const stepped = Array.from(r.output("h_out").toActual());
      r.resetState();
      await r.step();
      return { stepped, reset: Array.from(r.output("y").toActual()), last: progress.at(-1) };""")
    assert result["stepped"] == [3, 6]
    assert result["reset"] == [2, 4]
    assert result["last"]["loaded"] == result["last"]["total"] > 1000


def test_thousand_runs_in_chromium_are_identical_and_keep_memory(page, bundles, fixtures):
    result = bundles.call(page, fixtures[0], """
      const r = await webloom.load(base + "/affine/", { backendOrder: ["wasm"] });
      r.input("x").set(Float32Array.from({ length: 256 }, (_, i) => i / 100 - 1));
      r.input("ids").set(Int32Array.from({ length: 1024 }, (_, i) => i % 5));
      await r.run();
      const first = r.output("emb").toActual(), y0 = r.output("y").toActual(), bytes = r.memoryBytes;
      let same = true;
      for (let i = 0; i < 1000; i++) {
        await r.run();
        const y = r.output("y").view();
        for (let j = 0; j < y.length; j++) if (y[j] !== y0[j]) same = false;
      }
      const last = r.output("emb").toActual();
      return { same: same && last.every((v, i) => v === first[i]), grew: r.memoryBytes - bytes };""")
    assert result == {"same": True, "grew": 0}


@pytest.mark.slow
@pytest.mark.parametrize("case", keras_models.CASES, ids=lambda c: c.name)
def test_keras_case_on_wasm(case, page, bundles):
    bundles.check_keras_case(page, case, "wasm", node=True)
    assert page.errors == []


def test_demo_page_runs_a_bundle(page, bundles, fixtures):
    folder = fixtures[0] / "affine"
    shutil.copy(ROOT / "runtime-js" / "demo" / "index.html", folder / "index.html")
    page.goto(f"{bundles.url(folder)}/index.html?backend=wasm&batch=2&time=3")
    page.wait_for_selector("body[data-done]")
    assert page.get_attribute("body", "data-done") == "true", page.inner_text("#status")
    assert "Backend: wasm" in page.inner_text("#status")
    rows = page.inner_text("#report tbody").splitlines()
    assert rows[0].startswith("y\t[2, 4]") and rows[1].startswith("emb\t[2, 3, 3]")
    assert "average of 10 runs" in page.inner_text("#timing")
