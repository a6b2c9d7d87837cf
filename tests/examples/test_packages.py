"""The packages as users install them (issue 13's done-when): from a clean clone of this checkout's
HEAD, build the wheel and the npm tarball, install the wheel into a fresh venv (no system packages; pip
takes the dependencies from the configured index) and the tarball into a fresh npm project, then convert
the shipped sentiment example with the installed `convert_keras` from another folder and run it with
`import { load } from "webloom"` directly, through esbuild, and type-check it with TypeScript's
`nodenext` and `bundler` resolution. Built once for the module (the slow part, ~1-2 min)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "packages"
NODE_MODULES = ROOT / "runtime-js" / "node_modules"     # the dev toolchain (esbuild, typescript)
MAX_RUNTIME_BYTES = 60_000    # 60 KB, as runtime-js/test/size.test.mjs (issue 13)
pytestmark = pytest.mark.slow


def _run(cmd, cwd, timeout=600, env=None):
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("packages")
    clone = tmp / "clone"
    _run(["git", "clone", "-q", "--no-hardlinks", ROOT, clone], tmp)
    assert not (clone / "runtime-js" / "dist").exists()        # nothing built comes with the clone
    os.symlink(NODE_MODULES, clone / "runtime-js" / "node_modules")
    _run(["npm", "pack", "--silent", "--pack-destination", tmp], clone / "runtime-js")  # prepack builds
    tarball = next(tmp.glob("webloom-*.tgz"))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp, clone],
         tmp)
    wheel = next(tmp.glob("webloom-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp)
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], tmp)
    app = tmp / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": "app", "version": "1.0.0", "type": "module"}))
    _run(["npm", "install", "--silent", "--offline", "--no-audit", "--no-fund", tarball], app)
    return {"tmp": tmp, "tarball": tarball, "wheel": wheel, "venv": venv, "app": app}


def test_npm_tarball_contents(built):
    with tarfile.open(built["tarball"]) as tar:
        names = set(tar.getnames())
        js = tar.extractfile("package/dist/webloom.js").read()
    for name in ("dist/webloom.js", "dist/webloom.d.ts", "dist/types/index.d.ts", "README.md", "LICENSE",
                 "package.json"):
        assert f"package/{name}" in names, sorted(names)
    mapped = b"sourceMappingURL=webloom.js.map" in js
    assert not mapped or "package/dist/webloom.js.map" in names
    assert js.count(b"\n") < 20, "dist/webloom.js is not minified"
    assert len(js) <= MAX_RUNTIME_BYTES, f"runtime is {len(js)} bytes minified, budget {MAX_RUNTIME_BYTES}"


def test_wheel_carries_kernels_and_runtime(built):
    names = set(zipfile.ZipFile(built["wheel"]).namelist())
    for name in ("converter/_data/kernels/wasm/gather.c.j2", "converter/_data/runtime-js/dist/webloom.js",
                 "converter/_data/runtime-js/dist/webloom.d.ts", "converter/_data/runtime-js/demo/index.html",
                 "converter/js/run_bundles.mjs"):
        assert name in names


def _installed_scripts(venv: Path) -> list:
    meta = next((venv / "lib").glob("python*/site-packages/webloom-*.dist-info/entry_points.txt"))
    lines = meta.read_text().splitlines()
    return [line.split("=")[0].strip() for line in lines if line.startswith("convert_")]


def test_every_console_script_runs_from_any_folder(built):
    scripts = _installed_scripts(built["venv"])
    assert {"convert_keras", "convert_chainer"} <= set(scripts)
    for script in scripts:
        done = _run([built["venv"] / "bin" / script, "--version"], built["tmp"])
        assert done.stdout.strip() == "webloom 0.1.0", (script, done.stdout)


@pytest.fixture(scope="module")
def converted(built):
    """The example converted with the installed package, from a folder outside any checkout."""
    elsewhere = built["tmp"] / "elsewhere"
    elsewhere.mkdir()
    example = ROOT / "examples" / "sentiment"
    done = _run([built["venv"] / "bin" / "convert_keras", example / "model.keras", "--out", "web",
                 "--sample", example / "expected.json", "--verify"], elsewhere)
    return elsewhere / "web", done.stdout


def test_installed_converter_converts_and_verifies(converted):
    web, stdout = converted
    assert {"model.wasm.wlm", "model.webgpu.wlm", "model.webgl.wlm", "model.json", "webloom.js",
            "index.html", "sample.json"} <= {p.name for p in web.iterdir()}
    # a fresh venv has no Keras: --verify falls back to the interpreter and runs wasm in Node
    assert "verify against numpy interpreter" in stdout and "wasm (node)" in stdout, stdout
    assert re.search(r"inputs:  words: int32\[batch, time\], ids in \[0, \d+\)", stdout), stdout
    assert 'runner.predict({ words: {' in stdout


def test_npm_package_runs_in_node_and_through_esbuild(built, converted):
    web, _ = converted
    app, expected = built["app"], ROOT / "examples/sentiment/expected.json"
    (app / "app.mjs").write_text((HERE / "app.mjs").read_text())
    direct = json.loads(_run(["node", "app.mjs", web, expected], app).stdout)
    assert direct["worst"] < 1e-4 and direct["shape"] == [4, 1], direct
    esbuild = NODE_MODULES / ".bin" / "esbuild"
    _run([esbuild, "app.mjs", "--bundle", "--platform=node", "--format=esm", "--outfile=bundled.mjs",
          "--log-level=warning"], app)
    assert "webloom" not in (app / "bundled.mjs").read_text().split("\n")[0]
    bundled = json.loads(_run(["node", "bundled.mjs", web, expected], app).stdout)
    assert bundled == direct
    # a browser bundle too (the Node-only imports must stay lazy and external)
    _run([esbuild, "app.mjs", "--bundle", "--platform=browser", "--format=esm", "--outfile=browser.js",
          "--external:node:*", "--log-level=warning"], app)


@pytest.mark.parametrize("resolution,module", [("nodenext", "nodenext"), ("bundler", "esnext")])
def test_typescript_resolves_the_types(built, resolution, module):
    app = built["app"]
    (app / "app.ts").write_text((HERE / "app.ts").read_text())
    config = {"compilerOptions": {"module": module, "moduleResolution": resolution, "target": "es2022",
                                  "strict": True, "noEmit": True, "lib": ["es2022", "dom"], "types": []},
              "files": ["app.ts"]}
    (app / f"tsconfig.{resolution}.json").write_text(json.dumps(config))
    _run(["node", NODE_MODULES / "typescript" / "bin" / "tsc", "-p", f"tsconfig.{resolution}.json"], app)
