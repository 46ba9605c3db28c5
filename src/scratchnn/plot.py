"""Figures with matplotlib (the optional extra ``scratchnn[plot]``): networks, training curves, results, attributions.

Every function returns the matplotlib Figure, draws into ``ax=`` when given (a sequence of Axes for the
figures made of several panels) and writes the figure to ``path=`` when given.
"""
import math
from types import SimpleNamespace

import numpy as np

POSITIVE, NEGATIVE = "#1f77b4", "#ff7f0e"           # weight signs, as TensorFlow Playground draws them
SHAP_POSITIVE, SHAP_NEGATIVE = "#ff0051", "#008bfb"   # attribution signs, as shap draws them
KIND_COLORS = {"input": "limegreen", "output": "limegreen", "hidden": "royalblue", "dropout": "red"}


def _matplotlib():
    try:
        import matplotlib.pyplot as pyplot
        from matplotlib import collections, lines, patches
    except ImportError as error:
        raise ImportError("scratchnn.plot needs matplotlib: pip install 'scratchnn[plot]'") from error
    return SimpleNamespace(pyplot=pyplot, collections=collections, lines=lines, patches=patches)


def _axes(ax, figsize):
    if ax is None:
        figure, ax = _matplotlib().pyplot.subplots(figsize=figsize)
        return figure, ax
    return ax.figure, ax


def _axes_grid(ax, count, cols, panel_size):
    """count Axes: the ones given, or a new grid of ceil(count / cols) rows (spare panels hidden)."""
    if ax is not None:
        axes = list(np.ravel(ax))
        if len(axes) < count:
            raise ValueError(f"expected at least {count} Axes in ax, got {len(axes)}")
        return axes[0].figure, axes[:count]
    cols = max(1, min(cols, count))
    rows = math.ceil(count / cols)
    figure, grid = _matplotlib().pyplot.subplots(rows, cols, figsize=(panel_size * cols, panel_size * rows),
                                                 squeeze=False)
    for spare in grid.ravel()[count:]:
        spare.axis("off")
    return figure, list(grid.ravel()[:count])


def _finish(figure, path, dpi=110):
    if path is not None:
        figure.savefig(path, dpi=dpi, bbox_inches="tight")
    return figure


# ---- the network -----------------------------------------------------------------------------------
def plot_model(model, style="auto", describe=True, weights=True, max_neurons=16, input_names=None,
               ax=None, path=None):
    """Draw a model: neurons and connections (seed 004's drawing) or a diagram of its layers.

    style: "neurons" draws a circle per neuron (inputs and outputs green, hidden blue, Dropout red,
        labels X_i / H_i / y_i) and a line per connection, coloured by the sign of the trained weight
        (blue positive, orange negative) and as wide as its size (``weights=False``: the seed's colours);
        layers wider than ``max_neurons`` are drawn with a gap and their true size.
        "layers" draws a box per layer (type, output shape, parameters), like Keras's plot_model.
        "auto" picks "neurons" for networks of up to 8 Dense and Dropout layers (with their activations)
        on 1-D inputs, else "layers".
    describe: write "activation(Σ in[X·w] + b) = n out" above each layer of neurons.
    """
    if not getattr(model, "built", False):
        raise ValueError("plot_model needs a built model: pass input_shape=... to Sequential or call build()")
    if style not in ("auto", "neurons", "layers"):
        raise ValueError(f"plot_model: style must be 'auto', 'neurons' or 'layers', got {style!r}")
    columns = _neuron_columns(model)
    if style == "neurons" and columns is None:
        raise ValueError("plot_model: style='neurons' draws networks of Dense, activation and Dropout layers "
                         f"on 1-D inputs; this model has {[type(layer).__name__ for layer in model.layers]}: "
                         "use style='layers'")
    if input_names is not None and columns is not None and len(input_names) != columns[0]["size"]:
        raise ValueError(f"plot_model: {columns[0]['size']} inputs but {len(input_names)} input_names")
    if style == "layers" or columns is None or (style == "auto" and len(columns) > 9):
        return _finish(_draw_layer_boxes(model, ax), path)
    return _finish(_draw_neurons(model, columns, describe, weights, max_neurons, input_names, ax), path)


def _activation_names():
    from .layers.activations import ACTIVATIONS
    return {cls: name for name, cls in ACTIVATIONS.items()}


def _neuron_columns(model):
    """One dict per column of neurons (input, Dense + its activation, Dropout), or None if not drawable."""
    if len(model.input_shape) != 1:
        return None
    names = _activation_names()
    columns = [{"kind": "input", "size": model.input_shape[0], "title": "INPUT"}]
    for layer in model.layers:
        kernel = layer.params.get("kernel")
        if kernel is not None and kernel.ndim == 2:
            columns.append({"kind": "hidden", "size": kernel.shape[1], "kernel": kernel, "inputs": kernel.shape[0],
                            "bias": "bias" in layer.params, "activation": "linear",
                            "title": (layer.name or type(layer).__name__).upper()})
        elif type(layer) in names and columns[-1].get("kernel") is not None:
            columns[-1]["activation"] = names[type(layer)]
        elif type(layer).__name__ == "Dropout":
            columns.append({"kind": "dropout", "size": columns[-1]["size"], "rate": layer.rate, "title": "DROPOUT"})
        else:
            return None
    if columns[-1].get("kernel") is None:
        return None
    columns[-1]["kind"] = "output"
    return columns


def _shown_neurons(size, max_neurons):
    """Indices of the neurons drawn, with None for the gap of a layer wider than max_neurons."""
    if size <= max_neurons:
        return list(range(size))
    top = max_neurons // 2
    bottom = max_neurons - top - 1
    return list(range(top)) + [None] + list(range(size - bottom, size))


def _draw_neurons(model, columns, describe, weights, max_neurons, input_names, ax):
    mpl = _matplotlib()
    gap_x, radius = 4.0, 0.32
    shown = [_shown_neurons(column["size"], max_neurons) for column in columns]
    tallest = max(len(s) for s in shown)
    figure, ax = _axes(ax, (1.2 + 1.6 * len(columns), 1.6 + 0.4 * tallest))
    centres = [{index: (c * gap_x, (len(s) - 1) / 2 - row) for row, index in enumerate(s)} for c, s in enumerate(shown)]
    for c, column in enumerate(columns[1:], start=1):
        _draw_connections(ax, mpl, column, centres[c - 1], centres[c], weights)
    for c, column in enumerate(columns):
        color = KIND_COLORS[column["kind"]]
        for index, (x, y) in centres[c].items():
            if index is None:
                ax.text(x, y, f"⋮ {column['size']}", ha="center", va="center", fontsize=8, zorder=5,
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"})
                continue
            ax.add_patch(mpl.patches.Circle((x, y), radius, facecolor=color, edgecolor="black", zorder=4))
            _label_neuron(ax, column, index, x, y, radius, input_names)
        if describe:
            ax.text(c * gap_x, (tallest - 1) / 2 + 0.7, _describe_column(column), ha="center", va="bottom",
                    fontsize=8, color="darkgreen" if column["kind"] in ("input", "output") else color)
    if weights:
        ax.legend(handles=[mpl.lines.Line2D([], [], color=POSITIVE, label="positive weight"),
                           mpl.lines.Line2D([], [], color=NEGATIVE, label="negative weight")],
                  loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False, fontsize=8)
    ax.set_xlim(-1.6, (len(columns) - 1) * gap_x + 1.6)
    ax.set_ylim(-(tallest - 1) / 2 - 0.8, (tallest - 1) / 2 + (2.4 if describe else 0.8))
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(model.name)
    return figure


def _label_neuron(ax, column, index, x, y, radius, input_names):
    if column["kind"] == "input":
        text = input_names[index] if input_names is not None else f"$X_{{{index + 1}}}$"
        ax.text(x - radius - 0.15, y, text, ha="right", va="center", fontsize=8)
    elif column["kind"] == "output":
        ax.text(x + radius + 0.15, y, f"$y_{{{index + 1}}}$", ha="left", va="center", fontsize=9)
    elif column["kind"] == "hidden":
        ax.text(x, y, f"$H_{{{index + 1}}}$", ha="center", va="center", fontsize=6.5, color="white", zorder=5)


def _describe_column(column):
    if column["kind"] == "input":
        return f"INPUT\n{column['size']} features"
    if column["kind"] == "dropout":
        return f"DROPOUT\nrate {column['rate']:g}"
    out = "y" if column["kind"] == "output" else "out"
    bias = " + b" if column["bias"] else ""
    return f"{column['title']}\n{column['activation']}(Σ{column['inputs']}[X·w]{bias})\n= {column['size']} {out}"


def _draw_connections(ax, mpl, column, sources, targets, weights):
    """One segment per connection between drawn neurons: all pairs for Dense, one to one for Dropout."""
    if column["kind"] == "dropout":
        pairs = [(i, i) for i in sources if i is not None]
    else:
        pairs = [(i, j) for i in sources if i is not None for j in targets if j is not None]
    segments = [(sources[i], targets[j]) for i, j in pairs]
    if column["kind"] == "dropout":
        colors, widths = KIND_COLORS["dropout"], 0.8
    elif weights:
        drawn_in, drawn_out = ([i for i in ends if i is not None] for ends in (sources, targets))
        values = column["kernel"][np.ix_(drawn_in, drawn_out)].ravel()      # the same order as pairs
        size = np.abs(values) / max(np.abs(values).max(), 1e-12)
        colors = [POSITIVE if v >= 0 else NEGATIVE for v in values]
        widths = 0.2 + 2.3 * size
    else:
        colors, widths = KIND_COLORS[column["kind"]], 0.8
    ax.add_collection(mpl.collections.LineCollection(segments, colors=colors, linewidths=widths, alpha=0.6,
                                                     zorder=2, label=f"connections {column['title']}"))


def _layer_rows(model):
    """(title, output shape, parameter count, kind) per box; activation layers join the box before them."""
    activation_names = _activation_names()
    rows = [["Input", model.input_shape, 0, "input"]]
    for layer in model.layers:
        name = type(layer).__name__
        if type(layer) in activation_names and len(rows) > 1 and rows[-1][3] == "param":
            rows[-1][0] += f" + {activation_names[type(layer)]}"
            continue
        kind = "param" if layer.params else ("dropout" if name == "Dropout" else "shape")
        rows.append([name, layer.output_shape, layer.count_params(), kind])
    rows[-1][3] = "output"
    return rows


def _draw_layer_boxes(model, ax):
    mpl = _matplotlib()
    rows = _layer_rows(model)
    colors = {"input": "#c7e9c0", "output": "#c7e9c0", "param": "#c6dbef", "dropout": "#fcbba1", "shape": "#e0e0e0"}
    step, height, width = 1.3, 0.9, 6.0
    figure, ax = _axes(ax, (4.6, 0.55 + 0.62 * len(rows)))
    for i, (title, shape, params, kind) in enumerate(rows):
        top = -i * step
        ax.add_patch(mpl.patches.FancyBboxPatch((-width / 2, top - height), width, height,
                                                boxstyle="round,pad=0.02,rounding_size=0.12",
                                                facecolor=colors[kind], edgecolor="black", linewidth=0.8))
        ax.text(0, top - 0.3, title, ha="center", va="center", fontsize=9, fontweight="bold")
        detail = "(N, " + ", ".join(map(str, shape)) + ")" + (f"   {params:,} params" if params else "")
        ax.text(0, top - 0.66, detail, ha="center", va="center", fontsize=8, family="monospace")
        if i:
            ax.annotate("", xy=(0, top), xytext=(0, top + step - height),
                        arrowprops={"arrowstyle": "->", "color": "black", "lw": 0.8})
    ax.set_xlim(-width / 2 - 0.1, width / 2 + 0.1)
    ax.set_ylim(-(len(rows) - 1) * step - height - 0.1, 0.1)
    ax.axis("off")
    ax.set_title(f"{model.name}: {model.count_params():,} parameters", fontsize=10)
    return figure


# ---- training -----------------------------------------------------------------------------------------
def plot_history(history, metrics=None, ax=None, path=None):
    """Seed 004's training curves: a Training and a Validation panel, the loss in black on the left
    axis and the metrics (``metrics``, default all recorded) on a second axis on the right."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or "loss" not in logs:
        raise ValueError(f"plot_history expected a History or a dict with a 'loss' list, got {type(history).__name__}"
                         + (f" with keys {sorted(logs)}" if isinstance(logs, dict) else ""))
    if metrics is None:
        metrics = [k for k in logs if k != "loss" and not k.startswith("val_")]
    missing = [m for m in metrics if m not in logs]
    if missing:
        raise ValueError(f"plot_history: no recorded values for {missing}; recorded: {sorted(logs)}")
    panels = [("Training", "")] + ([("Validation", "val_")] if "val_loss" in logs else [])
    if ax is None:
        figure, axes = _matplotlib().pyplot.subplots(1, len(panels), figsize=(6.5 * len(panels), 3.2), squeeze=False)
        axes = list(axes.ravel())
    else:
        figure, axes = _axes_grid(ax, len(panels), len(panels), 0)
    first = getattr(history, "epoch", [0])[:1] or [0]
    for axis, (title, prefix) in zip(axes, panels):
        epochs = np.arange(len(logs[prefix + "loss"])) + first[0] + 1
        handles = axis.plot(epochs, logs[prefix + "loss"], color="black", label="loss")
        axis.set(title=title, xlabel="Epochs")
        axis.set_ylabel("Loss", color="black")
        scores = [m for m in metrics if prefix + m in logs]
        if scores:
            twin = axis.twinx()
            for metric in scores:
                handles += twin.plot(epochs, logs[prefix + metric], label=metric)
            twin.set_ylabel("Score", color="steelblue")
        axis.legend(handles=handles, loc="center right", fontsize=8)
    figure.tight_layout()
    return _finish(figure, path)


# ---- results ------------------------------------------------------------------------------------------
def _class_labels(y, name):
    """Integer labels from labels, one-hot rows, probabilities (N, K) or probabilities of class 1."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    y = y.reshape(len(y))
    if y.dtype.kind == "f" and np.any(y != np.round(y)):
        return (y >= 0.5).astype(np.intp)
    if y.dtype.kind not in "biuf" or np.any(y < 0):
        raise ValueError(f"{name} must be class labels, one-hot rows or probabilities, got {y.dtype} values "
                         f"in [{y.min()}, {y.max()}]")
    return y.astype(np.intp)


def confusion_counts(y_true, y_pred, classes=None):
    """counts[i, j]: samples of true class i predicted as class j."""
    true, pred = _class_labels(y_true, "y_true"), _class_labels(y_pred, "y_pred")
    if len(true) != len(pred):
        raise ValueError(f"y_true and y_pred must have the same length, got {len(true)} and {len(pred)}")
    largest = int(max(true.max(), pred.max()))
    if classes is not None and largest >= classes:
        raise ValueError(f"{classes} class names for labels up to {largest}: expected labels in [0, {classes})")
    classes = classes or largest + 1
    return np.bincount(true * classes + pred, minlength=classes * classes).reshape(classes, classes)


def plot_confusion_matrix(y_true, y_pred, class_names=None, normalize=False, ax=None, path=None):
    """Counts of (true, predicted) classes; ``normalize=True`` shows each true class's row as fractions."""
    counts = confusion_counts(y_true, y_pred, None if class_names is None else len(class_names))
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    figure, ax = _axes(ax, (2.4 + 0.45 * len(counts), 2.0 + 0.45 * len(counts)))
    image = ax.imshow(shown, cmap="Blues")
    for (i, j), value in np.ndenumerate(shown):
        text = f"{value:.2f}" if normalize else f"{value:d}"
        ax.text(j, i, text, ha="center", va="center", fontsize=8,
                color="white" if value > 0.6 * shown.max() else "black")
    names = class_names if class_names is not None else [str(i) for i in range(len(counts))]
    ax.set(xticks=range(len(counts)), yticks=range(len(counts)), xticklabels=names, yticklabels=names,
           xlabel="Predicted", ylabel="True",
           title=f"Accuracy {np.trace(counts) / max(counts.sum(), 1):.2%} on {counts.sum():,} samples")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return _finish(figure, path)


def _as_images(images):
    images = np.asarray(images)
    if images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise ValueError(f"plot_samples expected images (N, H, W[, C]) or flat square images, got {images.shape}")
        images = images.reshape(len(images), side, side)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4):
        raise ValueError(f"expected images of shape (N, H, W), (N, H, W, C) or (N, H*W), got {images.shape}")
    return images


def plot_samples(images, y_true=None, y_pred=None, class_names=None, cols=8, ax=None, path=None):
    """A grid of images titled with their labels; with y_pred, mistakes are titled and framed in red
    ("pred (true)"). Labels may be ints, one-hot rows or predicted probabilities."""
    images = _as_images(images)
    true = None if y_true is None else _class_labels(y_true, "y_true")
    pred = None if y_pred is None else _class_labels(y_pred, "y_pred")
    figure, axes = _axes_grid(ax, len(images), cols, 1.3)
    name = (lambda k: str(class_names[k])) if class_names is not None else str
    for i, axis in enumerate(axes):
        axis.imshow(images[i], cmap="gray_r" if images.ndim == 3 else None)
        axis.set_xticks([])
        axis.set_yticks([])
        wrong = pred is not None and true is not None and pred[i] != true[i]
        if pred is not None:
            title = f"{name(pred[i])} (true {name(true[i])})" if wrong else name(pred[i])
        else:
            title = "" if true is None else name(true[i])
        axis.set_title(title, fontsize=9, color="red" if wrong else "black")
        for spine in axis.spines.values():
            spine.set_color("red" if wrong else "black")
            spine.set_linewidth(2.0 if wrong else 0.5)
    return _finish(figure, path)


def plot_filters(model, image=None, layer=None, max_filters=16, ax=None, path=None):
    """Kernels of a Conv2D layer (averaged over input channels) and, given one image, its feature maps.

    ``model`` is a Sequential or a Conv2D layer; ``layer`` picks the convolution by index or name
    (default: the first one).
    """
    layers_ = getattr(model, "layers", [model])
    index = _conv_index(layers_, layer)
    kernel = layers_[index].params["kernel"]
    count = min(max_filters, kernel.shape[-1])
    maps = None
    if image is not None:
        if not hasattr(model, "layers"):
            raise ValueError("plot_filters draws feature maps from a model; got a single layer")
        maps = _feature_maps(model, image, index)
    rows = 1 if maps is None else 2
    figure, axes = _axes_grid(ax, rows * count, count, 1.1)
    filters = kernel.mean(axis=2)
    limit = np.abs(filters[..., :count]).max()
    for f in range(count):
        axes[f].imshow(filters[..., f], cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[f].set_title(f"filter {f}", fontsize=8)
        if maps is not None:
            axes[count + f].imshow(maps[..., f], cmap="viridis")
            axes[count + f].set_title(f"map {f}", fontsize=8)
    for axis in axes:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(f"layer {index} ({type(layers_[index]).__name__}): {kernel.shape[0]}x{kernel.shape[1]} kernels"
                    + (f", mean over {kernel.shape[2]} input channels" if kernel.shape[2] > 1 else "")
                    + ("; below, the feature maps of the image" if maps is not None else ""), fontsize=9)
    if ax is None:
        figure.tight_layout(rect=(0, 0, 1, 0.93))
    return _finish(figure, path)


def _conv_index(layers_, layer):
    convs = [i for i, l in enumerate(layers_) if getattr(l, "params", {}).get("kernel") is not None
             and l.params["kernel"].ndim == 4]
    if not convs:
        raise ValueError(f"plot_filters needs a Conv2D layer; got {[type(l).__name__ for l in layers_]}")
    if layer is None:
        return convs[0]
    for i in convs:
        if layer == i or layer == layers_[i].name:
            return i
    raise ValueError(f"plot_filters: layer {layer!r} is not a convolution; convolutions at {convs}")


def _feature_maps(model, image, index):
    """The output of layer ``index`` (and of the activation right after it) for one image."""
    x = np.asarray(image, dtype=model.dtype).reshape(1, *model.input_shape)
    stop = index + 2 if index + 1 < len(model.layers) and type(model.layers[index + 1]) in _activation_names() \
        else index + 1
    try:
        for layer in model.layers[:stop]:
            x = layer.forward(x, training=False)
    finally:
        for layer in model.layers:
            layer.clear_cache()
    return x[0]


def plot_decision_boundary(model, x, y, resolution=200, class_names=None, ax=None, path=None):
    """Regions a model assigns to each class over a 2-D input plane, with the samples on top.

    One output: the probability of class 1 as shading and the 0.5 contour; several: the argmax class.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary expected 2-D points of shape (N, 2), got {x.shape}")
    labels = _class_labels(y, "y")
    low, high = x.min(axis=0), x.max(axis=0)
    pad = 0.1 * (high - low) + 1e-9
    u = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    v = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    grid_u, grid_v = np.meshgrid(u, v)
    scores = model.predict(np.column_stack([grid_u.ravel(), grid_v.ravel()]).astype(model.dtype))
    scores = scores.reshape(len(scores), -1)
    figure, ax = _axes(ax, (5, 4.2))
    if scores.shape[1] == 1:
        surface = scores[:, 0].reshape(grid_u.shape)
        ax.contourf(grid_u, grid_v, surface, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.5,
                    extend="both")
        ax.contour(grid_u, grid_v, surface, levels=[0.5], colors="black", linewidths=1)
    else:
        regions = scores.argmax(axis=1).reshape(grid_u.shape)
        ax.contourf(grid_u, grid_v, regions, levels=np.arange(scores.shape[1] + 1) - 0.5, cmap="tab10",
                    vmin=0, vmax=9, alpha=0.35)
    cmap = "RdBu_r" if scores.shape[1] == 1 else "tab10"
    points = ax.scatter(x[:, 0], x[:, 1], c=labels, cmap=cmap, vmin=0, vmax=1 if scores.shape[1] == 1 else 9,
                        edgecolors="black", linewidths=0.5, s=18)
    classes = np.unique(labels)
    names = [str(class_names[c]) if class_names is not None else str(c) for c in classes]
    ax.legend(points.legend_elements()[0], names, title="class", fontsize=8, loc="best")
    ax.set(xlim=(u[0], u[-1]), ylim=(v[0], v[-1]), xlabel="$x_1$", ylabel="$x_2$")
    return _finish(figure, path)


# ---- attributions --------------------------------------------------------------------------------------
def plot_attributions(attributions, image=None, feature_names=None, features=None, base_value=None,
                      kind="auto", top=10, title=None, colorbar=True, ax=None, path=None):
    """Attributions as a heat map over an image, or as bars / a waterfall for tabular features.

    Images: (H, W) or (H, W, C) attributions (summed over channels), red for evidence for the target and
    blue against, over ``image`` in grey, the colour scale symmetric about 0.
    Tabular: ``kind="bar"`` the ``top`` largest by size; ``kind="waterfall"`` (the default when
    ``base_value`` is given) steps from the expected output ``base_value`` to E[f(X)] + the sum of the
    attributions, one feature at a time, the rest summed; ``features`` adds each feature's value to its name.
    """
    values = np.asarray(attributions, dtype=float)
    if kind == "auto":
        kind = "image" if values.ndim >= 2 else ("waterfall" if base_value is not None else "bar")
    if kind not in ("image", "bar", "waterfall"):
        raise ValueError(f"plot_attributions: kind must be 'auto', 'image', 'bar' or 'waterfall', got {kind!r}")
    if kind == "image":
        if values.ndim not in (2, 3):
            raise ValueError(f"plot_attributions: a heat map needs (H, W) or (H, W, C) values, got {values.shape}")
        return _finish(_draw_heat_map(values, image, title, colorbar, ax), path)
    if values.ndim != 1:
        raise ValueError(f"plot_attributions: bars need one value per feature (1-D), got shape {values.shape}")
    if feature_names is not None and len(feature_names) != len(values):
        raise ValueError(f"plot_attributions: {len(values)} values but {len(feature_names)} feature names")
    names = list(feature_names) if feature_names is not None else [f"$X_{{{i + 1}}}$" for i in range(len(values))]
    if features is not None:
        names = [f"{n} = {v:.3g}" for n, v in zip(names, np.asarray(features, dtype=float))]
    if kind == "waterfall" and base_value is None:
        raise ValueError("plot_attributions: kind='waterfall' needs base_value (the expected output)")
    return _finish(_draw_bars(values, names, top, kind, base_value, title, ax), path)


def _draw_heat_map(values, image, title, colorbar, ax):
    heat = values.sum(axis=-1) if values.ndim == 3 else values
    figure, ax = _axes(ax, (3.2, 3.0))
    if image is not None:
        picture = np.asarray(image, dtype=float)
        ax.imshow(picture[..., 0] if picture.ndim == 3 and picture.shape[-1] == 1 else picture, cmap="gray_r")
    limit = max(np.abs(heat).max(), 1e-12)
    shown = ax.imshow(heat, cmap="bwr", vmin=-limit, vmax=limit, alpha=0.65 if image is not None else 1.0)
    if colorbar:
        figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return figure


def _draw_bars(values, names, top, kind, base_value, title, ax):
    order = np.argsort(-np.abs(values))
    shown = order[:top]
    rest = order[top:]
    labels = [names[i] for i in shown] + ([f"{len(rest)} other features"] if len(rest) else [])
    heights = list(values[shown]) + ([values[rest].sum()] if len(rest) else [])
    figure, ax = _axes(ax, (6.5, 0.9 + 0.36 * len(labels)))
    rows = np.arange(len(labels))[::-1]
    colors = [SHAP_POSITIVE if h >= 0 else SHAP_NEGATIVE for h in heights]
    if kind == "bar":
        ax.barh(rows, heights, color=colors)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel("attribution")
    else:
        ends = base_value + np.cumsum(heights[::-1])[::-1]        # the bottom row starts at base_value
        starts = ends - np.array(heights)
        ax.barh(rows, heights, left=starts, color=colors)
        for row, start, height in zip(rows, starts, heights):
            ax.text(start + height, row, f" {height:+.3f} ", va="center", fontsize=7, zorder=3,
                    ha="left" if height >= 0 else "right", bbox={"pad": 0, "facecolor": "white", "edgecolor": "none"})
        ax.axvline(base_value, color="grey", linestyle=":", linewidth=1, zorder=1)
        prediction = base_value + float(np.sum(heights))
        ax.axvline(prediction, color="black", linestyle="--", linewidth=1, zorder=1)
        ax.set_xlabel(f"output: E[f(X)] = {base_value:.3f} → E[f(X)] + Σ attributions = {prediction:.3f}")
        span = max(abs(e) for e in np.concatenate([ends, starts]) - base_value)
        ax.set_xlim(min(starts.min(), ends.min()) - 0.2 * span, max(starts.max(), ends.max()) + 0.2 * span)
    ax.set_yticks(rows)
    ax.set_yticklabels(labels, fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    figure.tight_layout()
    return figure
