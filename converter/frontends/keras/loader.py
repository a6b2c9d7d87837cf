"""Reads Keras models into a `KerasModelSpec` (docs/design.md section 2) without running model code.

Files are parsed with h5py and zipfile only: the config is JSON and the weights are arrays, so nothing in
a file can execute. Three file layouts exist:
- HDF5 `.h5` from Keras 2 (tf_keras) or Keras 3's legacy saver: attrs `keras_version`, `model_config`;
  weights under `model_weights/<layer name>/`, listed in order by the group's `weight_names` attr.
- Keras 3 `.keras` zip: `config.json`, `metadata.json`, `model.weights.h5`. That weights file is keyed
  by object type, not layer name: `layers/<snake_case(class)>[_k]/vars/<i>`, numbered in `model.layers`
  order, with sub-objects under attribute names (`cell/vars`, `forward_layer/...`,
  `cell/cells/<snake_case(cell class)>[_k]/vars`). Newer files also store the layer name in the `vars`
  group's `name` attr, which we use as a cross-check.
An in-memory `keras.Model` (Keras 3 or tf_keras) is read through `get_config()` and `get_weights()`.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any, Optional

import h5py
import numpy as np

from converter.errors import ConversionError
from converter.frontends.keras.spec import CallSpec, KerasModelSpec, LayerSpec, TensorRef, call_refs

OPS_PREFIX = "ops."  # class-name prefix of Keras 3 operation nodes in the spec

SUPPORTED_DOC = "docs/supported-layers.md"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
HOW_TO_SAVE = "save the model with model.save('model.keras') or model.save('model.h5')"
MODEL_CLASSES = {"Functional", "Sequential", "Model"}
# Layers whose extra positional inputs are initial states (Keras 2 flattens them into the node's inputs).
RNN_CLASSES = {"LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D",
               "ConvLSTM3D", "CuDNNLSTM", "CuDNNGRU"}
KERAS_MODULE_ROOTS = ("keras", "tf_keras")
# Memory bounds, checked against the sizes a file declares before anything is read (docs/security.md).
MAX_JSON_MEMBER = 64 * 1024 * 1024          # config.json / metadata.json in a .keras zip
MAX_WEIGHT_BYTES = 2**32                     # one weights file or dataset (no runtime holds more)
MAX_INFLATION = 1100                         # deflate cannot expand data more than ~1032 times


# ---- entry points -------------------------------------------------------------------------------------

def load_keras(source) -> KerasModelSpec:
    """A spec from a path to a `.h5`/`.keras` file or from an in-memory Keras model."""
    if isinstance(source, (str, os.PathLike)):
        return load_file(Path(source))
    if _is_keras_model(source):
        return load_model_object(source)
    raise ConversionError(f"expected a path to a .h5/.keras file or a keras.Model, got "
                          f"{type(source).__name__}")


def load_file(path: Path) -> KerasModelSpec:
    name = str(path)
    if path.is_dir():
        raise ConversionError(f"{name}: is a directory (a TensorFlow SavedModel?), not a Keras model "
                              f"file; {HOW_TO_SAVE}")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise ConversionError(f"{name}: file not found") from None
    except OSError as e:
        raise ConversionError(f"{name}: cannot read the file ({e.strerror or e})") from None
    if head.startswith(HDF5_MAGIC):
        reader, kind = _read_h5, "HDF5 file"
    elif head[:4] in ZIP_MAGICS:
        reader, kind = _read_keras_zip, ".keras zip file"
    else:
        raise ConversionError(_not_keras(name, head))
    try:
        return reader(path)
    except ConversionError:
        raise
    except (OSError, KeyError, ValueError, TypeError, EOFError, RuntimeError, zipfile.BadZipFile,
            zlib.error, AttributeError, IndexError, OverflowError, RecursionError, SystemError) as e:
        # h5py reports some damage inside its own iteration as a SystemError with a meaningless text
        cause = "its internal structure does not hold together" if isinstance(e, SystemError) else _cause(e)
        raise ConversionError(f"{name}: cannot read the {kind}, it is truncated or corrupt ({cause}); "
                              "re-save or re-download the model") from None


def load_model_object(model) -> KerasModelSpec:
    """Reads a live keras.Model: its config and each layer's get_weights(); nothing else is called."""
    root = type(model).__module__.split(".")[0]
    version = str(getattr(sys.modules.get(root), "__version__", "") or "")
    source = "<memory>"
    try:
        config = model.get_config()
    except Exception as e:  # subclassed models raise NotImplementedError or similar
        raise ConversionError(f"{source}: the model's config is unavailable ({_cause(e)}); subclassed "
                              "models cannot be converted — build it with the functional API") from None
    # The file form of the same config: tuples become lists, numpy scalars plain numbers.
    config = json.loads(json.dumps(config, default=_json_default))
    mro = {c.__name__ for c in type(model).__mro__}
    class_name = "Sequential" if "Sequential" in mro else "Functional"
    major = _major(version, config, source)
    spec = _spec_from_config({"class_name": class_name, "config": config}, version, major, source)
    for layer in spec.layers:
        try:
            live = model.get_layer(layer.name)
        except ValueError:
            live = None        # Keras 3 Sequential keeps its InputLayer out of model.layers
        if live is not None:
            layer.weights = [np.asarray(w) for w in live.get_weights()]
            spec.meta["weight_names"][layer.name] = [_variable_name(w) for w in live.weights]
    _check_weights(spec)
    return spec


# ---- file readers -------------------------------------------------------------------------------------

def _read_h5(path: Path) -> KerasModelSpec:
    source = str(path)
    with h5py.File(path, "r") as f:
        _check_h5(f, source)
        if "model_config" not in f.attrs:
            raise ConversionError(f"{source}: the HDF5 file holds no model config (a save_weights() "
                                  f"file?); {HOW_TO_SAVE}")
        config = _parse_config(f.attrs["model_config"], source)
        version = _text(f.attrs.get("keras_version", ""))
        major = _major(version, config, source)
        spec = _spec_from_config(config, version, major, source)
        group = f["model_weights"] if "model_weights" in f else f
        _h5_weights(group, spec)
    _check_weights(spec)
    return spec


def _read_keras_zip(path: Path) -> KerasModelSpec:
    source = str(path)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        if "config.json" not in names:
            raise ConversionError(f"{source}: the zip file has no config.json, so it is not a Keras 3 "
                                  f".keras model; {HOW_TO_SAVE}")
        config = _parse_config(_zip_member(z, "config.json", MAX_JSON_MEMBER, source), source)
        meta = (_parse_config(_zip_member(z, "metadata.json", MAX_JSON_MEMBER, source), source)
                if "metadata.json" in names else {})
        if "model.weights.h5" not in names:
            raise ConversionError(f"{source}: the .keras file has no model.weights.h5 (sharded or npz "
                                  "weights are not supported); re-save it with model.save('model.keras')")
        weights = _zip_member(z, "model.weights.h5", MAX_WEIGHT_BYTES, source)
    version = str(meta.get("keras_version", "") if isinstance(meta, dict) else "")
    spec = _spec_from_config(config, version, _major(version or "3", config, source), source)
    with h5py.File(io.BytesIO(weights), "r") as f:
        _check_h5(f, f"{source}: model.weights.h5")
        _keras3_weights(f, spec, sequential=config.get("class_name") == "Sequential")
    _check_weights(spec)
    return spec


def _zip_member(z: zipfile.ZipFile, name: str, limit: int, source: str) -> bytes:
    """A member's bytes, refused before reading when its declared size is beyond ``limit`` (zipfile
    never inflates past the declared size, so the declaration bounds the memory)."""
    size = z.getinfo(name).file_size
    if size > limit:
        raise ConversionError(f"{source}: {name} in the zip declares {size} bytes, more than the {limit} "
                              "Webloom reads; the file is damaged or not a real model — re-save the model")
    return z.read(name)


def _check_h5(f, source: str) -> None:
    """Refuse what would read outside the file or beyond its declared sizes, before any data is read:
    external links and external storage (they read other local files into the bundle), virtual datasets,
    and datasets declaring far more bytes than the file stores (unallocated or inflating without bound)."""
    problems: list = []

    def link(name, info):   # h5py callbacks must not raise: collect the first problem and stop
        if isinstance(info, h5py.ExternalLink):
            problems.append(f"'{name}' is an HDF5 external link to {info.filename}")
        return problems or None

    def dataset(name, obj):
        if isinstance(obj, h5py.Dataset):
            problems.extend(_dataset_problem(obj, name)[:1])
        return problems or None

    f.visititems_links(link)
    if not problems:
        f.visititems(dataset)
    if problems:
        raise ConversionError(f"{source}: {problems[0]}; Webloom reads only what is stored inside the model "
                              "file — re-save the model without external or oversized data")


def _dataset_problem(ds, name: str) -> list:
    """[what is wrong] with a dataset before reading it, or []."""
    plist = ds.id.get_create_plist()
    if ds.is_virtual or plist.get_external_count() > 0:
        kind = "is a virtual dataset" if ds.is_virtual else "uses HDF5 external storage"
        return [f"dataset '{name}' {kind} (its bytes live in other files)"]
    declared = int(np.prod(ds.shape, dtype=object)) * ds.dtype.itemsize if ds.shape is not None else 0
    stored = ds.id.get_storage_size()
    if declared > MAX_WEIGHT_BYTES or (declared > 4096 and stored * MAX_INFLATION < declared):
        return [f"dataset '{name}' declares shape {ds.shape} ({declared} bytes) but the file stores {stored} "
                "bytes of it (damaged, or not a real model)"]
    return []


def _h5_weights(group, spec: KerasModelSpec) -> None:
    """Legacy HDF5 layout: each layer's `weight_names` attr lists its datasets in get_weights() order."""
    in_file = [_text(n) for n in group.attrs.get("layer_names", [])]
    known = {layer.name for layer in spec.layers}
    stray = [n for n in in_file if n not in known]
    if stray:
        raise ConversionError(f"{spec.source}: the weights name layers the config lacks "
                              f"({', '.join(stray)}); "
                              "the file is damaged or mixes two models — re-save the model")
    for layer in spec.layers:
        if layer.name not in in_file:
            continue
        g = group[layer.name]
        names = [_text(n) for n in g.attrs.get("weight_names", [])]
        missing = [n for n in names if n not in g]
        if missing:
            raise ConversionError(f"{spec.source}: layer '{layer.name}' lists weight '{missing[0]}' but the "
                                  "file does not hold it; the file is damaged — re-save the model")
        layer.weights = [np.asarray(g[n][()]) for n in names]
        spec.meta["weight_names"][layer.name] = names


def _keras3_weights(root, spec: KerasModelSpec, sequential: bool) -> None:
    top = root.get("layers")
    # Groups are named by class and position in the saver's walk (model.layers), which can differ from
    # the config's order; a group that records its layer's name is matched by that name first.
    by_name = {}
    for key in (top.keys() if top is not None else []):
        group = top[key]
        saved = _text(group["vars"].attrs.get("name", "")) if "vars" in group else ""
        if saved:
            by_name[saved] = key
    spec_names = {layer.name for layer in spec.layers}
    used: dict = {}
    for layer in spec.layers:
        if sequential and layer.class_name == "InputLayer":
            continue           # Sequential.layers, which the saver walks, leaves the InputLayer out
        if layer.class_name.startswith(OPS_PREFIX):
            continue           # operations hold no variables and get no group
        key = _unique_name(_snake_case(layer.class_name), used)
        key = by_name.get(layer.name, key)
        group = top.get(key) if top is not None else None
        if group is None:
            continue
        saved = _text(group["vars"].attrs.get("name", "")) if "vars" in group else ""
        if saved and saved != layer.name and layer.name not in by_name and saved in spec_names:
            continue           # the group is another layer's: this one (e.g. a traced op) saved nothing
        if saved and saved != layer.name:
            raise ConversionError(f"{spec.source}: model.weights.h5 group layers/{key} holds layer "
                                  f"'{saved}', the config expects '{layer.name}'; the file's parts do not "
                                  "match — re-save the model")
        names, arrays = [], []
        _collect_keras3(group, layer.class_name, layer.config, key, names, arrays)
        layer.weights = arrays
        spec.meta["weight_names"][layer.name] = names


def _collect_keras3(group, class_name: Optional[str], config: dict, path: str, names: list,
                    arrays: list) -> None:
    """Appends a saved object's variables in get_weights() order: its own, then its sub-layers'."""
    if "vars" in group:
        own = group["vars"]
        for key in sorted(own.keys(), key=int):
            names.append(f"{path}/vars/{key}")
            arrays.append(np.asarray(own[key][()]))
    for child, (child_class, child_config) in _keras3_children(group, class_name, config):
        if child in group:
            _collect_keras3(group[child], child_class, child_config, f"{path}/{child}", names, arrays)


def _keras3_children(group, class_name: Optional[str], config: dict) -> list:
    """(sub-group path, (class, config)) in get_weights() order for the wrappers we know."""
    if class_name == "Bidirectional":
        forward = _inner(config.get("layer"))
        backward = _inner(config.get("backward_layer")) if config.get("backward_layer") else forward
        return [("forward_layer", forward), ("backward_layer", backward)]
    if class_name == "TimeDistributed":
        return [("layer", _inner(config.get("layer")))]
    if class_name == "StackedRNNCells":
        used: dict = {}
        cells = [_inner(c) for c in config.get("cells", [])]
        return [(f"cells/{_unique_name(_snake_case(c[0] or ''), used)}", c) for c in cells]
    if "cell" in group:
        cell = config.get("cell")
        return [("cell", _inner(cell) if isinstance(cell, dict) else (f"{class_name}Cell", {}))]
    # Unknown containers: the saver's order (public attributes sorted, private ones last).
    others = sorted((k for k in group.keys() if k != "vars"), key=lambda k: ("~" + k) if k[0] == "_" else k)
    return [(k, (None, {})) for k in others]


def _inner(entry) -> tuple:
    if not isinstance(entry, dict):
        return None, {}
    return entry.get("class_name"), entry.get("config") or {}


# ---- config normalization ----------------------------------------------------------------------------

def _spec_from_config(model_cfg: dict, version: str, major: int, source: str) -> KerasModelSpec:
    if not isinstance(model_cfg, dict) or "class_name" not in model_cfg:
        raise ConversionError(f"{source}: the model config has no class_name; it is not a Keras model "
                              f"config — {HOW_TO_SAVE}")
    class_name = model_cfg["class_name"]
    cfg = model_cfg.get("config")
    if class_name == "Sequential":
        layers, inputs, outputs = _sequential(cfg, source)
    elif class_name in ("Functional", "Model") and isinstance(cfg, dict) and "layers" in cfg:
        layers, inputs, outputs = _functional(cfg, major, source)
    else:
        raise ConversionError(f"{source}: the saved model is a {class_name}, not a Sequential or functional "
                              "model; subclassed models cannot be converted — build it with the "
                              "functional API and re-save")
    name = cfg.get("name", "model") if isinstance(cfg, dict) else "model"
    spec = KerasModelSpec(version or str(major), major, source, layers, inputs, outputs, str(name),
                          {"weight_names": {}})
    _check_graph(spec)
    return spec


def _sequential(cfg, source: str) -> tuple:
    entries = cfg.get("layers", []) if isinstance(cfg, dict) else cfg    # Keras <= 2.2: a bare list
    if not entries:
        raise ConversionError(f"{source}: the Sequential model has no layers")
    layers = [_layer(e, source) for e in entries]
    if layers[0].class_name != "InputLayer":
        layers.insert(0, _implicit_input(layers[0], cfg))
    inputs = [TensorRef(layers[0].name, 0, 0)]
    prev = inputs[0]
    for layer in layers[1:]:
        if layer.class_name == "InputLayer":
            raise ConversionError(f"{source}: the Sequential model has a second InputLayer "
                                  f"'{layer.name}'; it cannot be converted")
        layer.calls = [CallSpec([prev], {})]
        prev = TensorRef(layer.name, 0, 0)
    return layers, inputs, [prev]


def _implicit_input(first: LayerSpec, cfg) -> LayerSpec:
    """The InputLayer Keras creates from the first layer's batch_input_shape (or the build shape)."""
    shape = first.config.get("batch_input_shape") or first.config.get("batch_shape")
    if shape is None and isinstance(cfg, dict):
        shape = cfg.get("build_input_shape")
    dtype = _dtype_name(first.config.get("dtype")) or "float32"
    name = f"{first.name}_input"
    return LayerSpec("InputLayer", name, {"name": name, "batch_shape": shape, "dtype": dtype}, [], [])


def _functional(cfg: dict, major: int, source: str) -> tuple:
    entries = cfg.get("layers") or []
    layers = [_layer(e, source) for e in entries]
    names = {layer.name for layer in layers}
    for layer, entry in zip(layers, entries):
        layer.calls = [_call(node, layer.class_name, names, source, layer.name)
                       for node in entry.get("inbound_nodes") or []]
    return layers, _io_refs(cfg.get("input_layers"), source), _io_refs(cfg.get("output_layers"), source)


def _layer(entry, source: str) -> LayerSpec:
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise ConversionError(f"{source}: a layer entry in the model config is malformed ({str(entry)[:80]})")
    class_name = str(entry.get("class_name"))
    config = dict(entry["config"])
    if _is_keras3_op(entry, class_name, config):
        # Keras 3 records operations (e.g. the mask logic of Masking / Embedding(mask_zero) / merges) as
        # graph nodes; "ops." keeps them apart from layers of the same class name (Concatenate).
        class_name = OPS_PREFIX + class_name
    name = str(entry.get("name") or config.get("name") or "")
    if not name:
        raise ConversionError(f"{source}: a {class_name} layer in the config has no name")
    _refuse_code(entry, class_name, name, source)
    if class_name in MODEL_CLASSES or ("layers" in config and "input_layers" in config):
        raise ConversionError(f"{source}: layer '{name}' is a nested model ({class_name}); nested models "
                              "are not supported — build one flat model (call the inner model's layers "
                              "directly) and re-save")
    if class_name == "InputLayer":
        config["batch_shape"] = config.get("batch_shape", config.get("batch_input_shape"))
        config["dtype"] = _dtype_name(config.get("dtype")) or "float32"
    return LayerSpec(class_name, name, config, [], [])


# Operation classes Keras 3 writes into functional configs (legacy .h5 files omit their "module").
KERAS3_OP_CLASSES = {"NotEqual", "Equal", "Any", "All", "ExpandDims", "ZerosLike", "OnesLike", "LogicalOr",
                     "LogicalAnd", "LogicalNot", "Cast", "Squeeze"}


def _is_keras3_op(entry: dict, class_name: str, config: dict) -> bool:
    module = entry.get("module")
    if isinstance(module, str):
        return module.startswith("keras.src.ops")
    if "module" in entry or "build_config" in entry:
        return False
    # a layer's config always records "trainable"; an operation's holds only its name and arguments
    return (class_name in KERAS3_OP_CLASSES or class_name == "Concatenate") and "trainable" not in config


def _call(node, class_name: str, names: set, source: str, layer: str) -> CallSpec:
    if isinstance(node, dict) and "args" in node:          # Keras 3
        args = _k3_value(node.get("args") or [])
        kwargs = {k: _k3_value(v) for k, v in (node.get("kwargs") or {}).items()}
        if class_name in RNN_CLASSES and len(args) > 1 and "initial_state" not in kwargs:
            kwargs["initial_state"] = _refs_in(args[1:])
            args = args[:1]
        inputs = _refs_in(args)
        if any(not isinstance(v, TensorRef) for v in _leaves(args)):
            kwargs["_args"] = args
    elif isinstance(node, list):                          # Keras 2: [[layer, node, tensor, kwargs], ...]
        inputs, kwargs = [], {}
        for item in node:
            if not (isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str)):
                raise ConversionError(f"{source}: layer '{layer}' has a malformed inbound node "
                                      f"{str(item)[:80]}")
            inputs.append(TensorRef(item[0], int(item[1]), int(item[2])))
            if len(item) > 3 and isinstance(item[3], dict):
                kwargs.update({k: _k2_value(v, names) for k, v in item[3].items()})
        if class_name in RNN_CLASSES and len(inputs) > 1 and "initial_state" not in kwargs:
            kwargs["initial_state"], inputs = inputs[1:], inputs[:1]
    else:
        raise ConversionError(f"{source}: layer '{layer}' has a malformed inbound node {str(node)[:80]}")
    # None means "not given" and `training` only matters when training; dropping both makes K2 == K3.
    kwargs = {k: v for k, v in kwargs.items() if v is not None and k != "training"}
    return CallSpec(inputs, kwargs)


def _k3_value(value):
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            layer, call, out = value["config"]["keras_history"]
            return TensorRef(str(layer), int(call), int(out))
        if value.get("class_name") == "__tuple__":
            return tuple(_k3_value(v) for v in value["config"]["value"])
        return {k: _k3_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_k3_value(v) for v in value]
    return value


def _k2_value(value, names: set):
    if (isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str) and value[0] in names
            and all(isinstance(v, int) for v in value[1:3])):
        return TensorRef(value[0], value[1], value[2])
    if isinstance(value, list):
        return [_k2_value(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _k2_value(v, names) for k, v in value.items()}
    return value


def _leaves(value) -> list:
    if isinstance(value, (list, tuple)) and not isinstance(value, TensorRef):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    return [value]


def _refs_in(value) -> list:
    return [v for v in _leaves(value) if isinstance(v, TensorRef)]


def _io_refs(value, source: str) -> list:
    """input_layers/output_layers: one [name, node, tensor] (Keras 3, single), a list of them, or a dict."""
    if isinstance(value, dict):
        value = list(value.values())
    if not value:
        raise ConversionError(f"{source}: the model config names no inputs or outputs")
    if isinstance(value[0], str):
        value = [value]
    try:
        return [TensorRef(str(v[0]), int(v[1]), int(v[2])) for v in value]
    except (TypeError, ValueError, IndexError):
        raise ConversionError(f"{source}: malformed model inputs/outputs in the config ({str(value)[:80]})") \
            from None


def _check_graph(spec: KerasModelSpec) -> None:
    """Every reference names an existing layer call; names are unique."""
    by_name: dict = {}
    for layer in spec.layers:
        if layer.name in by_name:
            raise ConversionError(f"{spec.source}: two layers are named '{layer.name}'; rename one and "
                                  "re-save")
        by_name[layer.name] = layer
    refs = [(r, "model inputs/outputs") for r in spec.inputs + spec.outputs]
    refs += [(r, f"layer '{layer.name}'") for layer in spec.layers for c in layer.calls for r in call_refs(c)]
    for ref, where in refs:
        target = by_name.get(ref.layer)
        calls = len(target.calls) if target is not None else 0
        if target is None or ref.call >= max(calls, 1 if target.class_name == "InputLayer" else 0):
            raise ConversionError(f"{spec.source}: {where} reads {ref.layer}[{ref.call}][{ref.output}], "
                                  "which the config does not define; the config is damaged — re-save")
    for ref in spec.inputs:
        if by_name[ref.layer].class_name != "InputLayer":
            raise ConversionError(f"{spec.source}: model input '{ref.layer}' is not an InputLayer")


# ---- safety and weight checks ------------------------------------------------------------------------

def _refuse_code(entry: dict, class_name: str, name: str, source: str) -> None:
    """Lambda layers and custom objects would need their Python code; we never load or run it."""
    if class_name == "Lambda":
        raise ConversionError(f"{source}: layer '{name}' (Lambda) holds Python code, which Webloom never "
                              f"runs; replace it with built-in layers (see {SUPPORTED_DOC})")
    reason = _custom_object(entry)
    if reason:
        raise ConversionError(f"{source}: layer '{name}' ({class_name}) uses {reason}; only Keras' own "
                              f"layers can be converted without running model code (see {SUPPORTED_DOC})")


def _custom_object(value) -> Optional[str]:
    if isinstance(value, list):
        return next((r for r in map(_custom_object, value) if r), None)
    if not isinstance(value, dict):
        return None
    cls, module = value.get("class_name"), value.get("module")
    registered = value.get("registered_name")
    if cls == "__lambda__" or "function_type" in value:
        return "Python code (a lambda or function)"
    if cls == "function" and not _keras_module(module):
        return f"the custom Python function '{value.get('config')}'"
    if isinstance(registered, str) and ">" in registered:
        return f"the custom object {registered}"
    if isinstance(module, str) and module != "builtins" and not _keras_module(module):
        return f"the custom object {cls} from module {module}"
    return next((r for r in map(_custom_object, value.values()) if r), None)


def _keras_module(module) -> bool:
    return isinstance(module, str) and module.split(".")[0] in KERAS_MODULE_ROOTS


def _check_weights(spec: KerasModelSpec) -> None:
    for layer in spec.layers:
        want = expected_weight_count(layer.class_name, layer.config)
        if want is not None and want != len(layer.weights):
            raise ConversionError(f"{spec.source}: layer '{layer.name}' ({layer.class_name}) has "
                                  f"{len(layer.weights)} weight arrays in the file, its config needs {want}; "
                                  "the file is damaged or was edited — re-save the model")
        names = spec.meta["weight_names"].get(layer.name, [])
        for i, w in enumerate(layer.weights):
            if w.dtype.kind not in "fiu":     # complex would lose its imaginary part, bool has no meaning
                what = f" '{names[i]}'" if i < len(names) else ""
                raise ConversionError(f"{spec.source}: layer '{layer.name}' weight #{i}{what} has dtype "
                                      f"{w.dtype}; Webloom converts float and int weights only — the file is "
                                      "damaged or not a Keras model")
            if np.issubdtype(w.dtype, np.floating) and not np.all(np.isfinite(w)):
                what = f" '{names[i]}'" if i < len(names) else ""
                bad = int(np.size(w) - np.count_nonzero(np.isfinite(w)))
                raise ConversionError(f"{spec.source}: layer '{layer.name}' weight #{i}{what} has {bad} "
                                      "NaN/Inf values; retrain or fix the model — non-finite weights "
                                      "cannot be converted")


def expected_weight_count(class_name: Optional[str], config: dict) -> Optional[int]:
    """How many arrays get_weights() returns for a layer config; None where we do not know."""
    if config.get("quantization_config") or config.get("lora_rank"):
        return None                       # quantized / LoRA layers carry extra variables
    bias = 1 if config.get("use_bias", True) else 0
    if class_name in ("LSTM", "GRU", "SimpleRNN", "LSTMCell", "GRUCell", "SimpleRNNCell"):
        return 2 + bias
    if class_name in ("Dense", "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D"):
        return 1 + bias
    if class_name == "Embedding":
        return 1
    if class_name in ("BatchNormalization", "LayerNormalization"):
        moving = 2 if class_name == "BatchNormalization" else 0
        return int(config.get("center", True)) + int(config.get("scale", True)) + moving
    if class_name in ("Bidirectional", "TimeDistributed", "RNN"):
        parts = {"Bidirectional": [config.get("layer"), config.get("backward_layer") or config.get("layer")],
                 "TimeDistributed": [config.get("layer")], "RNN": [config.get("cell")]}[class_name]
        return _sum_counts(parts)
    if class_name == "StackedRNNCells":
        return _sum_counts(config.get("cells") or [])
    return None


def _sum_counts(entries: list) -> Optional[int]:
    counts = [expected_weight_count(*_inner(e)) for e in entries]
    return None if any(c is None for c in counts) else sum(counts)


# ---- small helpers ----------------------------------------------------------------------------------

def _parse_config(raw, source: str) -> Any:
    try:
        return json.loads(_text(raw))
    except (ValueError, UnicodeDecodeError) as e:
        raise ConversionError(f"{source}: the model config is not readable JSON ({_cause(e)}); "
                              "the file is damaged — re-save the model") from None


def _major(version: str, config, source: str) -> int:
    head = version.split(".")[0]
    if head.isdigit():
        major = int(head)
    else:   # no version recorded: Keras 3 configs carry "module" keys, Keras 2 ones do not at the top
        major = 3 if isinstance(config, dict) and "module" in config else 2
    if major not in (2, 3):
        raise ConversionError(f"{source}: Keras {version} files are not supported (Keras 2 and 3 only); "
                              "load the model in Keras 2 or 3 and re-save it")
    return major


def _text(value) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    return str(value)


def _dtype_name(dtype) -> Optional[str]:
    if isinstance(dtype, dict):           # Keras 3 DTypePolicy
        dtype = (dtype.get("config") or {}).get("name")
    return str(dtype) if dtype else None


def _snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case, which names the groups in model.weights.h5."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _unique_name(name: str, used: dict) -> str:
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _json_default(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _variable_name(variable) -> str:
    return str(getattr(variable, "path", None) or getattr(variable, "name", ""))


def _is_keras_model(obj) -> bool:
    root = type(obj).__module__.split(".")[0]
    return root in ("keras", "tf_keras", "tensorflow") and all(
        hasattr(obj, a) for a in ("get_config", "get_layer", "layers"))


def _not_keras(name: str, head: bytes) -> str:
    if not head:
        return f"{name}: the file is empty; {HOW_TO_SAVE}"
    if head.lstrip()[:1] in (b"{", b"["):
        return (f"{name}: is a JSON file, not a Keras model (a model.to_json() config has no weights); "
                f"{HOW_TO_SAVE}")
    return f"{name}: is not a Keras model file (neither HDF5 .h5 nor a .keras zip); {HOW_TO_SAVE}"


def _cause(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."
