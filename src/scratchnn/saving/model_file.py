"""Model files: one zip of config.json and .npy arrays, read without pickle and with every size checked.

A model file (``model.save``) holds the architecture, the compile settings, the optimizer with its
state, the model's random generator state, ``model.metadata`` when set (a dict of JSON values, e.g. a
text model's vocabulary), and every parameter, buffer and optimizer slot as a .npy member. A weights file
(``model.save_weights``) holds the arrays and a manifest of where they belong.
The zip container and its defensive reading (sizes checked, nothing unpickled) are archive.py's.

The model's class is named in config.json ("model_class") and found through ``registry.model_class``, so
this module never imports a model module (files without the name, from before it was written, are
Sequential models).
"""
from __future__ import annotations

import json
import os
import warnings
from typing import Any

import numpy as np

from .. import losses, metrics, optim, registry
from ..backend import namespace, to_numpy
from ..validation import check_file_suffix
from .archive import (CONFIG_MEMBER, READ_ERRORS, ModelFileError, PathOrStream, open_archive, problems, read_array,
                      read_config_json, reading, write_archive)
from .budget import check_members, planned_arrays

FORMAT_VERSION = 1
MODEL_FORMAT = "scratchnn-model"
WEIGHTS_FORMAT = "scratchnn-weights"
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")
_ARRAY_KINDS = ("params", "buffers")
DEFAULT_MODEL_CLASS = "Sequential"          # what files written before "model_class" existed hold

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "ModelFileError", "FORMAT_VERSION"]


# ---- writing -------------------------------------------------------------------------------------
def save_model(model: Any, path: PathOrStream, training_state: dict | None = None) -> None:
    """Write architecture, compile settings, optimizer state, generator state and arrays to ``path``.

    ``path`` is a file name (written atomically: a crash leaves the old file or the new one) or a
    binary stream open for writing (which the caller owns, e.g. one from ``saving.files.atomic_file``).
    ``training_state`` (JSON values: BackupAndRestore's epoch and history) is kept in config.json.
    """
    check_file_suffix(path, ".snn", "save", "scratchnn writes its own model file (a zip of JSON and .npy), "
                      "not that format; for ONNX use scratchnn.saving.export_onnx(model, 'model.onnx')")
    manifest, arrays = _layer_arrays(model)
    optimizer_config, slot_arrays = _optimizer_state(model)
    config = {**_header(MODEL_FORMAT), "model_class": type(model).__name__, "model": model.get_config(),
              "compile": _compile_config(model), "optimizer": optimizer_config, "rng_state": _rng_state(model.rng),
              "layer_rng_states": {str(index): _rng_state(layer.rng) for index, layer in enumerate(model.layers)
                                   if getattr(layer, "rng", model.rng) is not model.rng},
              "weights": manifest}
    if getattr(model, "metadata", None):               # what the model's user keeps with it (a text vocabulary)
        config["metadata"] = _metadata(model.metadata, path)
    if training_state is not None:
        config["training_state"] = json.loads(json.dumps(training_state))
    write_archive(path, config, {**arrays, **slot_arrays})


def save_weights(model: Any, path: PathOrStream) -> None:
    """Write every parameter and buffer, with a manifest of layer index, name and class, to ``path``.

    ``path`` is a file name (written atomically) or a binary stream open for writing.
    """
    if not model.built:
        raise ValueError("save_weights needs a built model: pass input_shape=... or call build() first")
    manifest, arrays = _layer_arrays(model)
    write_archive(path, {**_header(WEIGHTS_FORMAT), "weights": manifest}, arrays)


def _metadata(metadata, path):
    """``model.metadata``, a dict of JSON values kept in config.json (files without it load as before)."""
    try:
        return json.loads(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: model.metadata must be a dict of JSON values: {error}") from None


def _header(file_format):
    from .._version import __version__
    return {"format": file_format, "format_version": FORMAT_VERSION, "scratchnn_version": __version__}


def _member(index, kind, name):
    return f"layers/{index}/{kind}/{name}.npy"


def _slot_member(index, name):
    return f"optimizer/{index}/{name}.npy"


def _describe_array(array):
    return {"shape": list(array.shape), "dtype": array.dtype.name}


def _layer_arrays(model):
    """The manifest of layers that own arrays, and the arrays by member name."""
    manifest, arrays = [], {}
    for index, layer in enumerate(model.layers):
        entry = {"index": index, "class_name": type(layer).__name__, "name": layer.name}
        for kind in _ARRAY_KINDS:
            owned = getattr(layer, kind)
            entry[kind] = {name: _describe_array(array) for name, array in owned.items()}
            arrays.update({_member(index, kind, name): to_numpy(array) for name, array in owned.items()})  # host copies
        if entry["params"] or entry["buffers"]:
            manifest.append(entry)
    return manifest, arrays


def _compile_config(model):
    """Loss config, from_logits and metric names; metric objects (which carry settings) are not saved."""
    if model.loss is None:
        return None
    several = getattr(model.loss, "losses", None)                 # a model of several outputs: one per output
    saved = [losses.serialize(loss) for loss in several or [model.loss]]
    builtin = {cls.__name__ for cls in losses.LOSSES.values()}
    for loss in saved:
        if loss["class_name"] not in builtin:
            raise ValueError(f"cannot save the loss {loss['class_name']}: a model file records only the built-in "
                             f"losses {sorted(builtin)}; use save_weights")
    spec = model.metric_names
    named = ({key: _metric_names(value) for key, value in spec.items()} if isinstance(spec, dict)
             else _metric_names(spec))
    objects = [m.name for m in _flat_metrics(spec) if not isinstance(m, str)]
    if objects:
        warnings.warn(f"the metrics {objects} were given as objects and are not saved; pass metrics by name "
                      "(metrics=['accuracy', ...]) to have them in the model file", UserWarning, stacklevel=4)
    if several is not None:
        return {"loss": saved, "loss_weights": list(model.loss.weights), "from_logits": False, "metrics": named}
    return {"loss": saved[0], "from_logits": bool(getattr(model.loss, "from_logits", False)), "metrics": named}


def _flat_metrics(spec):
    """Every metric of a compile() metrics argument: a list, a list of lists, or a dict of either."""
    items = spec.values() if isinstance(spec, dict) else spec
    return [m for item in items for m in (item if isinstance(item, (list, tuple)) else [item])]


def _metric_names(spec):
    """The metrics given by name (objects are dropped), keeping lists of lists and single names."""
    if isinstance(spec, str):
        return spec
    return [_metric_names(m) if isinstance(m, (list, tuple)) else m for m in spec
            if isinstance(m, (str, list, tuple))]


def _optimizer_state(model):
    """The optimizer's class, config and scalar state, and its slot arrays by member name."""
    if model.optimizer is None:
        return None, {}
    state = dict(model.optimizer.state_dict())
    slots = state.pop("slots")
    arrays = {_slot_member(i, name): to_numpy(value) for i, slot in enumerate(slots)
              for name, value in slot.items()}
    config = {**optim.serialize(model.optimizer), "state": state,
              "slots": [{name: _describe_array(value) for name, value in slot.items()}
                        for slot in slots]}
    return config, arrays


def _rng_state(rng):
    state = rng.bit_generator.state
    return json.loads(json.dumps(state, default=lambda value: np.asarray(value).tolist()))


# ---- reading -------------------------------------------------------------------------------------
def load_model(path: str | os.PathLike[str]) -> Any:
    """Rebuild a model written by ``save_model``: architecture, weights, compile settings, optimizer, rng."""
    with reading(path), open_archive(path) as archive:
        config = _read_config(archive, path, MODEL_FORMAT)
        model_class = _model_class(config, path)
        model_config = _field(config, "model", dict, path)
        with problems(path, "the architecture in config.json cannot be rebuilt", READ_ERRORS):
            planned = planned_arrays(model_class, model_config)       # shapes only: nothing drawn yet
        if planned is not None:
            check_members(archive, planned, path, archive.file_size)
        with problems(path, "the architecture in config.json cannot be rebuilt", READ_ERRORS):
            model = model_class.from_config(model_config)
        _load_layer_arrays(archive, model, _field(config, "weights", list, path), path, by_name=False)
        rng = _generator(config.get("rng_state"), path)
        layer_rngs = _layer_generators(model, config.get("layer_rng_states", {}), path)
        if config.get("compile") is not None:
            _restore_compile(archive, model, config, path)
    _set_generator(model, rng)
    for layer, layer_rng in layer_rngs:
        layer.rng = layer_rng
    if "metadata" in config:
        model.metadata = _field(config, "metadata", dict, path)
    return model


def load_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Copy the arrays of a weights (or model) file into ``model``, matched by layer name or index."""
    if not model.built:
        raise ValueError("load_weights needs a built model: pass input_shape=... or call build() first")
    with reading(path), open_archive(path) as archive:
        config = _read_config(archive, path, WEIGHTS_FORMAT, MODEL_FORMAT)
        _load_layer_arrays(archive, model, _field(config, "weights", list, path), path, by_name=True)


def _read_config(archive, path, *formats):
    config = read_config_json(archive, path)
    if not isinstance(config, dict) or config.get("format") not in (MODEL_FORMAT, WEIGHTS_FORMAT):
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise ModelFileError(f"{path}: not a scratchnn model file ({CONFIG_MEMBER} has format {found!r})")
    if config["format"] not in formats:
        hint = ("use model.load_weights(path)" if config["format"] == WEIGHTS_FORMAT
                else "use scratchnn.load_model(path)")
        raise ModelFileError(f"{path}: expected a {' or '.join(formats)} file, got a {config['format']} "
                             f"file: {hint}")
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path}: invalid format_version {version!r} (expected a positive integer)")
    if version > FORMAT_VERSION:
        from .._version import __version__
        raise ModelFileError(f"{path}: written by a newer scratchnn ({config.get('scratchnn_version')!r}, "
                             f"format version {version}); this scratchnn {__version__} reads format version "
                             f"{FORMAT_VERSION}: upgrade scratchnn to read it")
    return config


def _model_class(config, path):
    """The model class named in config.json (Sequential for files written before the name was saved)."""
    name = config.get("model_class", DEFAULT_MODEL_CLASS)
    if not isinstance(name, str):
        raise ModelFileError(f"{path}: {CONFIG_MEMBER} field 'model_class' should be a str, "
                             f"got {type(name).__name__}")
    try:
        return registry.model_class(name)
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from None


def _field(config, key, kind, path):
    value = config.get(key)
    if not isinstance(value, kind):
        raise ModelFileError(f"{path}: {CONFIG_MEMBER} field {key!r} should be a {kind.__name__}, "
                             f"got {type(value).__name__}")
    return value


def _match_layers(model, manifest, path, by_name):
    """Pair each model layer that owns arrays with its manifest entry (by name if named, else index)."""
    entries = [entry for entry in manifest if isinstance(entry, dict) and isinstance(entry.get("index"), int)]
    if len(entries) != len(manifest):
        raise ModelFileError(f"{path}: each entry of the weights manifest should be a dict with an int 'index'")
    by_index = {entry.get("index"): entry for entry in entries}
    named = {entry.get("name"): entry for entry in entries if entry.get("name") is not None}
    pairs = []
    for index, layer in enumerate(model.layers):
        if not (layer.params or layer.buffers):
            continue
        entry = named.get(layer.name) if by_name and layer.name is not None else None
        entry = entry or by_index.get(index)
        label = f"layer {index} ({layer.describe()})"
        if entry is None:
            raise ModelFileError(f"{path}: the file has no weights for {label}")
        if entry.get("class_name") != type(layer).__name__:
            raise ModelFileError(f"{path}: {label} would receive the weights of a {entry.get('class_name')} "
                                 f"layer (file layer {entry.get('index')})")
        pairs.append((layer, entry, label))
    if len({id(entry) for _, entry, _ in pairs}) != len(entries):
        raise ModelFileError(f"{path}: the file has weights for {len(entries)} layers, the model has "
                             f"{len(pairs)} layers with weights")
    return pairs


def _load_layer_arrays(archive, model, manifest, path, by_name):
    """Read every array the model owns from the archive, then copy them in (all or nothing)."""
    loaded = []
    for layer, entry, label in _match_layers(model, manifest, path, by_name):
        for kind in _ARRAY_KINDS:
            targets, saved = getattr(layer, kind), entry.get(kind)
            if not isinstance(saved, dict) or set(saved) != set(targets):
                raise ModelFileError(f"{path}: {label} has {kind} {sorted(targets)}, the file has "
                                     f"{sorted(saved) if isinstance(saved, dict) else saved!r}")
            for name, target in targets.items():
                array = read_array(archive, _member(entry["index"], kind, name), target.shape, target.dtype, path)
                loaded.append((target, array))
    for target, array in loaded:
        target[...] = namespace(target).asarray(array)              # the file's host array -> the model's device


def _restore_compile(archive, model, config, path):
    settings = _field(config, "compile", dict, path)
    with problems(path, "the compile settings in config.json are not valid"):
        saved = settings["loss"]
        loss = [losses.deserialize(item) for item in saved] if isinstance(saved, list) else losses.deserialize(saved)
        block = _field(config, "optimizer", dict, path)
        names = settings.get("metrics", [])
        for name in _flat_metrics(names):
            metrics.get(name)
        extra = {"loss_weights": settings["loss_weights"]} if settings.get("loss_weights") is not None else {}
        model.compile(loss=loss, optimizer=optim.from_config(block), metrics=names,
                      from_logits=bool(settings.get("from_logits")), **extra)
    _restore_optimizer_state(archive, model, block, path)


def _restore_optimizer_state(archive, model, block, path):
    """Slots are read against the parameter they belong to: same shape (or a scalar), a float dtype."""
    params = [param for param, _ in model.parameters()]
    described = block.get("slots")
    if not isinstance(described, list) or len(described) not in (0, len(params)):
        raise ModelFileError(f"{path}: the optimizer state should hold slots for 0 or {len(params)} "
                             f"parameters, got {described!r:.80}")
    slots = []
    for index, (param, slot) in enumerate(zip(params, described)):
        if not isinstance(slot, dict):
            raise ModelFileError(f"{path}: optimizer slot {index} should be a dict, got {slot!r:.80}")
        arrays = {}
        for name, spec in slot.items():
            shape = tuple(spec.get("shape", ())) if isinstance(spec, dict) else None
            dtype = spec.get("dtype") if isinstance(spec, dict) else None
            if shape not in (param.shape, ()) or dtype not in ("float32", "float64"):
                raise ModelFileError(f"{path}: optimizer slot {index} {name!r} should have shape {param.shape} "
                                     f"or () and a float dtype, got {spec!r:.80}")
            arrays[name] = read_array(archive, _slot_member(index, name), shape, dtype, path)
        slots.append(arrays)
    with problems(path, "the optimizer state in config.json is not valid"):
        model.optimizer.load_state_dict({**block.get("state", {}), "slots": slots})


def _generator(state, path):
    """A numpy Generator restored from a saved bit-generator state (only numpy's own bit generators)."""
    if state is None:
        return None
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in BIT_GENERATORS:
        raise ModelFileError(f"{path}: rng_state should name one of {BIT_GENERATORS}, got {name!r:.80}")
    bit_generator = getattr(np.random, name)()
    with problems(path, "rng_state is not a valid generator state"):
        bit_generator.state = state
    return np.random.Generator(bit_generator)


def _layer_generators(model, states, path):
    """(layer, Generator) for the layers that drew from a generator of their own, not the model's."""
    if not isinstance(states, dict):
        raise ModelFileError(f"{path}: layer_rng_states should be a dict, got {type(states).__name__}")
    pairs = []
    for index, state in states.items():
        if not index.isdigit() or int(index) >= len(model.layers):
            raise ModelFileError(f"{path}: layer_rng_states names layer {index!r}, the model has "
                                 f"{len(model.layers)} layers")
        pairs.append((model.layers[int(index)], _generator(state, path)))
    return pairs


def _set_generator(model, rng):
    """Point the model, and every layer that drew from the model's generator, at the restored one."""
    if rng is None:
        return
    for layer in model.layers:
        if getattr(layer, "rng", None) is model.rng:
            layer.rng = rng
    model.rng = rng
