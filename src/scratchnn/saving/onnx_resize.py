"""ONNX forms of the layers that change an image's height and width, both directions: UpSampling2D (Resize;
the older Upsample imports too), ZeroPadding2D (Pad) and Cropping2D (Slice).

Export: all three run channels-first, like the convolutions around them, so a graph whose image input is
not first transposed to NCHW is an NCHW graph (torch's), as the importer takes it. Import maps each ONNX axis to
ours (``importer.onnx_axis_to_ours``), so a Pad or Slice in NCHW or NHWC order both import, and refuses
anything that touches the batch or channel axes, or is not what the layer computes (a Pad of another mode or
value, a Slice with steps, a Resize whose coordinate rule is not the layer's).
"""
from __future__ import annotations

import numpy as np

from ..registry import layer_class
from .onnx_registry import onnx_exporter, onnx_importer

ROWS, COLUMNS = 1, 2                                                  # our axes (batch included): N, H, W, C


# ---- export ------------------------------------------------------------------------------------------------
@onnx_exporter("UpSampling2D")
def _export_upsampling(builder, layer, x, hint):
    """Resize by the integer factors: nearest as "asymmetric" + "floor" (x[floor(i / s)]), bilinear as "linear"
    with half-pixel centres (PyTorch's align_corners=False)."""
    x = builder.channels(x, 4, first=True)
    scales = builder.constant(f"{hint}_scales", [1.0, 1.0, *map(float, layer.size)], dtype=np.float32)
    if layer.interpolation == "nearest":
        modes = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        modes = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    return builder.node("Resize", [x, "", scales], hint, **modes)


@onnx_exporter("ZeroPadding2D")
def _export_zero_padding(builder, layer, x, hint):
    """Pad with zeros, NCHW: pads [begin of each axis..., end of each axis...] (int64 input, opset 11+)."""
    (top, bottom), (left, right) = layer.padding
    x = builder.channels(x, 4, first=True)
    pads = builder.constant(f"{hint}_pads", [0, 0, top, left, 0, 0, bottom, right], dtype=np.int64)
    return builder.node("Pad", [x, pads], hint, mode="constant")


@onnx_exporter("Cropping2D")
def _export_cropping(builder, layer, x, hint):
    """Slice [top, top + out_h) x [left, left + out_w) along the height and width axes (2, 3 of NCHW)."""
    (top, _), (left, _) = layer.cropping
    out_h, out_w, _ = layer.output_shape
    x = builder.channels(x, 4, first=True)
    starts = builder.constant(f"{hint}_starts", [top, left], dtype=np.int64)
    ends = builder.constant(f"{hint}_ends", [top + out_h, left + out_w], dtype=np.int64)
    axes = builder.constant(f"{hint}_axes", [2, 3], dtype=np.int64)
    return builder.node("Slice", [x, starts, ends, axes], hint)


# ---- import ------------------------------------------------------------------------------------------------
def _text(value, default):
    value = default if value is None else value
    return value.decode() if isinstance(value, bytes) else value


def _image_axes(importer, node, axes):
    """Our axes (batch included) of the ONNX ``axes`` of a 4-D tensor; refuses anything but a 4-D one."""
    if len(importer.shape) != 3:
        importer.fail(f"{node.op_type} node {node.name!r} needs an image tensor (4 axes), got "
                      f"{len(importer.shape) + 1} axes")
    if any(not -4 <= int(a) < 4 for a in axes):
        importer.fail(f"{node.op_type} node {node.name!r}: axes {list(axes)} out of range for 4 axes")
    return [importer.onnx_axis_to_ours(int(a)) for a in axes]


def _nearest_sources(size, scale, mode, rounding):
    """The input index each output index reads under ONNX Resize's coordinate rule and nearest rounding."""
    out = np.arange(size * scale, dtype=np.float64)
    coordinate = {"half_pixel": (out + 0.5) / scale - 0.5, "asymmetric": out / scale,
                  "pytorch_half_pixel": (out + 0.5) / scale - 0.5 if size * scale > 1 else 0 * out,
                  "tf_half_pixel_for_nn": (out + 0.5) / scale,
                  "align_corners": out * (size - 1) / max(size * scale - 1, 1)}.get(mode)
    if coordinate is None:
        return None
    index = {"round_prefer_floor": np.ceil(coordinate - 0.5), "round_prefer_ceil": np.floor(coordinate + 0.5),
             "floor": np.floor(coordinate), "ceil": np.ceil(coordinate)}.get(rounding)
    return None if index is None else np.clip(index, 0, size - 1)


@onnx_importer("Resize", "Upsample")
def _import_resize(importer, node):
    """UpSampling2D by integer factors: nearest where each output pixel reads input pixel floor(i / s) under
    the node's coordinate rule and rounding, bilinear for "linear" with half-pixel centres. Upsample (opset 7
    to 9) and opset 10's two-input Resize scale "asymmetric"-ally, as the attribute-free rule below."""
    attributes = importer.attributes(node)
    legacy = node.op_type == "Upsample" or len(node.input) == 2       # (X, scales): no roi, no rule attributes
    scales = importer.constant(node, 1 if legacy else 2, required=False)
    sizes = None if legacy else importer.constant(node, 3, required=False)
    if legacy and scales is None and "scales" in attributes:          # Upsample-7 keeps them as an attribute
        scales = np.asarray(attributes["scales"])
    axes = attributes.get("axes", range(4))
    ours = _image_axes(importer, node, axes)
    by_size = sizes is not None and np.size(sizes) > 0
    values = np.reshape(sizes if by_size else scales if scales is not None else [], -1)
    if (scales is not None and np.size(scales) > 0) == by_size or values.size != len(ours):
        importer.fail(f"{node.op_type} node {node.name!r}: give one value per axis in scales or in sizes (not both)")
    dims = (importer.batch or 1, *importer.shape)                          # ours, batch included
    factors = [1.0] * 4
    for axis, value in zip(ours, values):
        factors[axis] = float(value) / dims[axis] if by_size else float(value)
    if factors[0] != 1 or factors[3] != 1 or any(f < 1 or f != int(f) for f in factors[ROWS:COLUMNS + 1]):
        importer.fail(f"{node.op_type} node {node.name!r}: scales {factors} (in N, H, W, C order) must be whole "
                      "factors of the height and width only")
    size = (int(factors[ROWS]), int(factors[COLUMNS]))
    mode = _text(attributes.get("mode"), "nearest")
    if legacy:
        rule, rounding = "asymmetric", "floor" if mode == "nearest" else None
    else:
        rule = _text(attributes.get("coordinate_transformation_mode"), "half_pixel")
        rounding = _text(attributes.get("nearest_mode"), "round_prefer_floor")
        policy = _text(attributes.get("keep_aspect_ratio_policy"), "stretch")
        if policy != "stretch" and by_size:
            importer.fail(f"{node.op_type} node {node.name!r}: keep_aspect_ratio_policy={policy} is not supported")
    if mode == "nearest":
        for length, factor in zip(importer.shape[:2], size):
            sources = _nearest_sources(length, factor, rule, rounding)
            if sources is None or not np.array_equal(sources, np.arange(length * factor) // factor):
                importer.fail(f"{node.op_type} node {node.name!r}: nearest with coordinate_transformation_mode="
                              f"{rule} and nearest_mode={rounding} does not repeat each pixel (UpSampling2D)")
        return importer.add(layer_class("UpSampling2D")(size, interpolation="nearest"))
    if mode != "linear" or legacy or rule not in ("half_pixel", "pytorch_half_pixel") or \
            attributes.get("exclude_outside", 0):
        importer.fail(f"{node.op_type} node {node.name!r}: mode={mode} with coordinate_transformation_mode={rule} is "
                      "not supported (UpSampling2D is nearest, or linear with half_pixel)")
    importer.add(layer_class("UpSampling2D")(size, interpolation="bilinear"))


def _margins(importer, node, axes, begins, ends, what):
    """((top, bottom), (left, right)) from per-axis begins and ends; the batch and channel axes must be 0."""
    margins = {axis: (0, 0) for axis in range(4)}
    for axis, begin, end in zip(_image_axes(importer, node, axes), begins, ends):
        margins[axis] = (int(begin), int(end))
    if margins[0] != (0, 0) or margins[3] != (0, 0):
        importer.fail(f"{node.op_type} node {node.name!r}: {what} the batch or channel axis ({margins[0]} on N, "
                      f"{margins[3]} on C) is not supported")
    return margins[ROWS], margins[COLUMNS]


@onnx_importer("Pad")
def _import_pad(importer, node):
    """ZeroPadding2D: mode "constant" with value 0 (pads as an input from opset 11, an attribute before)."""
    attributes = importer.attributes(node)
    mode = _text(attributes.get("mode"), "constant")
    value = importer.constant(node, 2, required=False) if len(node.input) > 2 else attributes.get("value", 0.0)
    if mode != "constant":
        importer.fail(f"Pad node {node.name!r}: mode={mode} is not supported (ZeroPadding2D pads with zeros)")
    if value is not None and np.size(value) and np.any(np.asarray(value) != 0):
        importer.fail(f"Pad node {node.name!r}: constant_value {np.asarray(value).tolist()} is not supported "
                      "(ZeroPadding2D pads with zeros)")
    pads = np.reshape(importer.constant(node, 1) if len(node.input) > 1 else attributes.get("pads", []), -1)
    axes = importer.constant(node, 3, required=False) if len(node.input) > 3 else None
    axes = list(range(4)) if axes is None else [int(a) for a in np.reshape(axes, -1)]
    if pads.size != 2 * len(axes) or np.any(pads < 0):
        importer.fail(f"Pad node {node.name!r}: pads {pads.tolist()} must be one non-negative begin and end per axis")
    padding = _margins(importer, node, axes, pads[:len(axes)], pads[len(axes):], "padding")
    importer.add(layer_class("ZeroPadding2D")(padding))


@onnx_importer("Slice")
def _import_slice(importer, node):
    """Cropping2D: starts and ends (clamped as ONNX does) with steps of 1, on the height and width only."""
    attributes = importer.attributes(node)
    if len(node.input) > 1:                                          # opset 10 on: inputs
        starts, ends = importer.constant(node, 1), importer.constant(node, 2)
        axes = importer.constant(node, 3, required=False) if len(node.input) > 3 else None
        steps = importer.constant(node, 4, required=False) if len(node.input) > 4 else None
    else:
        starts, ends, axes, steps = attributes.get("starts"), attributes.get("ends"), attributes.get("axes"), None
    starts, ends = np.reshape(starts, -1).astype(np.int64), np.reshape(ends, -1).astype(np.int64)
    axes = list(range(len(starts))) if axes is None else [int(a) for a in np.reshape(axes, -1)]
    if steps is not None and np.any(np.reshape(steps, -1) != 1):
        importer.fail(f"Slice node {node.name!r}: steps {np.reshape(steps, -1).tolist()} are not supported (only 1)")
    if not len(starts) == len(ends) == len(axes):
        importer.fail(f"Slice node {node.name!r}: starts, ends and axes differ in length")
    dims = (None, *importer.shape)
    begins, ends_cut = [], []
    for axis, start, end in zip(_image_axes(importer, node, axes), starts, ends):
        if axis == 0:                                                 # the batch: only the whole of it
            whole = start == 0 and end >= np.iinfo(np.int32).max
            begins.append(0 if whole else 1)
            ends_cut.append(0)
            continue
        size = dims[axis]
        start, end = (int(np.clip(v + size if v < 0 else v, 0, size)) for v in (start, end))
        begins.append(start)
        ends_cut.append(size - max(end, start))
    cropping = _margins(importer, node, axes, begins, ends_cut, "cropping")
    try:
        layer = layer_class("Cropping2D")(cropping)
        layer.compute_output_shape(importer.shape)
    except ValueError as error:
        importer.fail(f"Slice node {node.name!r}: {error}")
    importer.add(layer)
