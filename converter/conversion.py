"""One conversion from a loaded graph to a finished output folder (the CLI's work after parsing).

Order: check the folder (converter/outdir.py) and the --sample's format, load and rename, compile every
backend into a staging folder, check the sample against the real signature, store the weights as asked,
add the runtime and demo page, run the bundles when asked (converter/verify.py), then move everything in
with the manifest model.json. Any failure before the move leaves the folder as it was.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path

import numpy as np

from converter import signature as sig_mod
from converter import verify
from converter.errors import ConversionError
from converter.outdir import MANIFEST_FORMAT, OutputFolder, file_entry, sha256_file

# --verify's default abs+rel tolerance per weights encoding (docs/design.md: "Smaller weights")
TOLERANCE = {"float32": 1e-4, "float16": 2e-2, "int8": 1e-1}


def parse_renames(items) -> dict:
    renames = {}
    for text in items or []:
        old, sep, new = text.partition("=")
        if not sep or not old or not new or not new.replace("_", "a").isalnum() or new[0].isdigit():
            raise ConversionError(f"--rename {text!r}: expected NAME=NEW with NEW a plain identifier "
                                  "(letters, digits, _), e.g. --rename input_layer_2=words")
        renames[old] = new
    return renames


def apply_renames(graph, renames: dict) -> None:
    """Rename graph inputs/outputs (and the state pairs naming them)."""
    if not renames:
        return
    io = {v.name: v for v in [*graph.inputs, *graph.outputs]}
    unknown = [old for old in renames if old not in io]
    if unknown:
        raise ConversionError(f"--rename {unknown[0]}: the model has no input or output of that name; its "
                              f"inputs are {[v.name for v in graph.inputs]}, outputs "
                              f"{[v.name for v in graph.outputs]}")
    taken = {v.name for v in graph.values()} - set(renames)
    for old, new in renames.items():
        if new in taken or list(renames.values()).count(new) > 1:
            raise ConversionError(f"--rename {old}={new}: the model already has a value named {new!r}")
    for old, new in renames.items():
        io[old].name = new
        graph._names.add(new)
    for pair in graph.meta.get("states", []) or []:
        for key in ("input", "output"):
            if pair.get(key) in renames:
                pair[key] = renames[pair[key]]


def from_graph(graph) -> dict:
    """The signature as far as the graph knows it (no valid ranges): to check a sample before compiling."""
    def io(v, role="data"):
        return {"name": v.name, "dtype": v.dtype, "shape": [str(d) for d in v.shape], "role": role}
    states = {p.get("input") for p in graph.meta.get("states", []) or []}
    return {"inputs": [io(v, "state" if v.name in states else "data") for v in graph.inputs],
            "outputs": [io(v) for v in graph.outputs], "symbols": []}


def _entry(values) -> dict:
    """An array as sample.json holds it."""
    return {"shape": list(np.shape(values)), "data": np.asarray(values, np.float64).ravel().tolist()}


def _is_bundle(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"WLOOMBND"


class Conversion:
    def __init__(self, args, backends: dict, chosen: list, out):
        self.args, self.backends, self.chosen, self.out = args, backends, chosen, out
        self.weights = getattr(args, "weight_encoding", "float32") or "float32"
        self.tol = getattr(args, "tolerance", None) or TOLERANCE[self.weights]
        self.report: dict = {}         # weights_report and verify, for model.json
        self.notes: list = []
        self.float_dir = None          # the float32 bundles, kept aside to measure the weights' cost
        self.sizes: dict = {}          # backend -> (float32 bytes, encoded bytes)

    def run(self, graph, folder: OutputFolder, sample) -> dict:
        reference_graph = copy.deepcopy(graph)
        from converter.passes import optimize
        optimize(graph)       # backends lower the optimized form (hoisted projections, fused gates)
        stage = folder.begin()
        try:
            written = self._compile(graph, stage)
            bundles = {name: path for name, path in written if _is_bundle(path)}
            sig = self._signature(bundles, graph)
            if sample is not None:
                sig_mod.check_sample(sample, sig, str(self.args.sample))
            float_dir = self._store_weights(bundles)
            from converter.webdir import write_web_files
            measured = self._measure(bundles, stage, float_dir, sig, sample, reference_graph)
            sample = measured if measured is not None else sample
            web = write_web_files(stage, sample=sample)
            manifest = self._manifest(written, web, sig, graph)
            removed = folder.commit(manifest)
        except BaseException:
            folder.discard()
            raise
        finally:
            if self.float_dir is not None:
                shutil.rmtree(self.float_dir, ignore_errors=True)
        final = [(name, self.args.out / p.name) for name, p in written]
        return {"written": final, "web": [self.args.out / p.name for p in web], "removed": removed,
                "signature": sig, "manifest": manifest}

    def _compile(self, graph, stage: Path) -> list:
        written = []
        for name in self.chosen:
            # a backend may annotate or rewrite the graph it lowers: each gets its own copy
            written += [(name, Path(p)) for p in self.backends[name](copy.deepcopy(graph), stage)]
        return written

    def _signature(self, bundles: dict, graph) -> dict:
        if not bundles:
            return from_graph(graph)
        from converter.bundle import read_bundle
        return sig_mod.from_program(read_bundle(next(iter(bundles.values()))))

    def _store_weights(self, bundles: dict):
        """Rewrite the bundles with encoded weights; keep the float32 ones aside to measure the cost."""
        if self.weights == "float32" or not bundles:
            return None
        from converter.bundle import read_bundle, write_bundle
        self.float_dir = Path(tempfile.mkdtemp(prefix="webloom-float32-"))
        for name, path in bundles.items():
            before = path.stat().st_size
            shutil.copyfile(path, self.float_dir / path.name)
            write_bundle(read_bundle(path), path, weights=self.weights)
            self.sizes[name] = (before, path.stat().st_size)
        return self.float_dir

    def _inputs(self, sig: dict, sample):
        return sample["inputs"] if sample is not None else sig_mod.random_inputs(sig)["inputs"]

    def _measure(self, bundles, stage, float_dir, sig, sample, reference_graph):
        """The weights' accuracy cost and --verify; returns the sample.json to write (or None)."""
        if not bundles or (float_dir is None and not self.args.verify):
            return None
        from converter.webdir import write_web_files
        inputs = self._inputs(sig, sample)
        write_web_files(stage)                      # the runtime the runs use (rewritten at the end)
        names = list(bundles)
        browser = self.args.verify and verify.chromium_path() is not None
        runs = [(n, stage, n) for n in names]
        if float_dir is not None:
            write_web_files(float_dir)
            runs += [(f"{n}/float32", float_dir, n) for n in names]
        results = self._run(runs, inputs, browser)
        if float_dir is not None:
            self.report["weights_report"] = self._cost(names, results)
        if not self.args.verify:
            return None
        return self._verify(names, results, inputs, sig, sample, reference_graph, browser)

    def _run(self, runs, inputs, browser: bool) -> dict:
        node_runs = [r for r in runs if r[2] == "wasm"]
        results = verify.run_node(node_runs, inputs) if node_runs else {}
        if browser:
            root = Path(tempfile.mkdtemp(prefix="webloom-verify-"))
            try:
                dirs = {}
                for _, d, _ in runs:
                    dirs.setdefault(str(d), root / f"d{len(dirs)}")
                for src, dst in dirs.items():
                    shutil.copytree(src, dst)
                page_runs = [(f"browser:{label}", dirs[str(d)], b) for label, d, b in runs]
                results.update(verify.run_chromium(root, page_runs, inputs))
            finally:
                shutil.rmtree(root, ignore_errors=True)
        return results

    def _cost(self, names, results) -> dict:
        cost = {"encoding": self.weights, "backends": {}}
        for n in names:
            entry = {"bytes_float32": self.sizes[n][0], "bytes": self.sizes[n][1]}
            for prefix, where in (("", "node"), ("browser:", "browser")):
                got, base = results.get(prefix + n), results.get(f"{prefix}{n}/float32")
                if isinstance(got, dict) and isinstance(base, dict):
                    entry[where] = verify.compare(got, base, self.tol)
            cost["backends"][n] = entry
        return cost

    def _reference(self, inputs: dict, sig: dict, reference_graph):
        arrays = verify.as_arrays(inputs, reference_graph.inputs)
        dims = sig_mod.check_sample({"inputs": inputs}, sig, "inputs")
        for i, v in enumerate(reference_graph.inputs):
            if arrays[i] is None:    # an unset state input runs as zeros, as in the runtime
                arrays[i] = np.zeros([sig_mod._size(str(d), dims) for d in v.shape], v.dtype)
        names = [v.name for v in reference_graph.outputs]
        interpreted = dict(zip(names, (np.asarray(o) for o in reference_graph.run(arrays))))
        reference = getattr(self.args, "reference", None)
        if reference is not None:
            try:
                label, outs = reference(arrays)
            except Exception as e:       # the framework may be missing or refuse: the interpreter decides
                detail = " ".join(str(e).split())[:120]
                self.notes.append(f"source framework not used ({type(e).__name__}: {detail})")
            else:
                given = dict(zip(names, (np.asarray(o) for o in outs)))
                # outputs the framework does not return (stateful layers' next states): the interpreter's
                extra = " (+ the numpy interpreter for state outputs)" if len(given) < len(names) else ""
                return label + extra, {**interpreted, **given}
        return "numpy interpreter", interpreted

    def _verify(self, names, results, inputs, sig, sample, reference_graph, browser) -> dict:
        label, want = self._reference(inputs, sig, reference_graph)
        report = {"reference": label, "tolerance": self.tol, "weights": self.weights, "backends": {}}
        for n in names:
            checks = {}
            for prefix, where in (("", "node"), ("browser:", "browser")):
                got = results.get(prefix + n)
                if isinstance(got, dict):
                    checks[where] = verify.compare(got, want, self.tol)
                elif got is not None:
                    checks[where] = {"ok": False, "error": got}
            if not browser and n != "wasm":
                checks["skipped"] = "no headless Chromium (Playwright + chromium) installed"
            report["backends"][n] = checks
        self.report["verify"] = report
        out = dict(sample or {})
        out["inputs"] = inputs
        if not (sample and sample.get("outputs")):
            out["outputs"] = {k: _entry(v) for k, v in want.items()}
        out["verify"] = report
        return out

    def _manifest(self, written, web, sig, graph) -> dict:
        model = Path(str(self.args.model))
        if not model.exists() and ":" in model.name:      # convert_chainer's MODULE.py:FACTORY
            model = model.with_name(model.name.rpartition(":")[0])
        from converter import __version__
        entry = {"name": graph.name, "file": model.name}
        if model.is_file():
            entry["sha256"] = sha256_file(model)
        manifest = {
            "format": MANIFEST_FORMAT, "converter": {"name": "webloom", "version": __version__},
            "model": entry, "weights": self.weights, "signature": sig,
            "bundles": {name: {"file": p.name, **file_entry(p)} for name, p in written},
            "files": {p.name: file_entry(p) for _, p in written} | {p.name: file_entry(p) for p in web},
        }
        manifest.update({k: v for k, v in self.report.items()})
        return manifest
