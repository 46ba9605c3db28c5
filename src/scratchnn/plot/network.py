"""The network: neurons and connections (seed 004's drawing) or a diagram of its layers."""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..backend.namespace import to_numpy
from ..layers.base import snake_case
from ..validation import check_int
from ._common import KIND_COLORS, NEGATIVE, POSITIVE, activation_names, axes, finish, matplotlib_modules


def plot_model(model, style: str = "auto", describe: bool = True, weights: bool = True, max_neurons: int = 32,
               input_names: Sequence[str] | None = None, ax=None, path=None):
    """Draw a model: neurons and connections (seed 004's drawing) or a diagram of its layers.

    style: "neurons" draws a circle per neuron (inputs and outputs green, hidden blue, Dropout red,
        labels X_i / H_i / y_i) and a line per connection, coloured by the sign of the trained weight
        (blue positive, orange negative) and as wide as its size, thinner between layers of more than 12
        drawn neurons (``weights=False``: the seed's colours);
        layers wider than ``max_neurons`` are drawn with a gap and their true size.
        "layers" draws a box per layer (type, output shape, parameters), like Keras's plot_model; for a
        functional ``Model`` ("auto" or "layers") a box per input and layer call, arrows with the shapes.
        "auto" picks "neurons" for networks of up to 8 Dense and Dropout layers (with their activations)
        on 1-D inputs, none wider than ``max_neurons`` (inputs included), else "layers": a 784-256-256-10
        MLP is a column of boxes, not hundreds of crossing lines.
    describe: write "activation(Σ in[X·w] + b) = n out" above each layer of neurons.
    Returns the matplotlib Figure (drawn into ``ax`` when given, written to ``path`` when given).
    """
    if not getattr(model, "built", False):
        raise ValueError("plot_model needs a built model: pass input_shape=... to Sequential or call build()")
    if style not in ("auto", "neurons", "layers"):
        raise ValueError(f"plot_model: style must be 'auto', 'neurons' or 'layers', got {style!r}")
    max_neurons = check_int("max_neurons", max_neurons, "plot_model", 3)
    if hasattr(model, "nodes") and style != "neurons":      # a functional Model: its graph (plot/graph.py)
        from .graph import draw_graph
        return finish(draw_graph(model, ax), path)
    columns = _neuron_columns(model)
    if style == "neurons" and columns is None:
        raise ValueError("plot_model: style='neurons' draws networks of Dense, activation and Dropout layers "
                         f"on 1-D inputs; this model has {[type(layer).__name__ for layer in model.layers]}: "
                         "use style='layers'")
    if input_names is not None and columns is not None and len(input_names) != columns[0]["size"]:
        raise ValueError(f"plot_model: {columns[0]['size']} inputs but {len(input_names)} input_names")
    too_big = columns is not None and (len(columns) > 9 or max(c["size"] for c in columns) > max_neurons)
    if style == "layers" or columns is None or (style == "auto" and too_big):
        return finish(_draw_layer_boxes(model, ax), path)
    return finish(_draw_neurons(model, columns, describe, weights, max_neurons, input_names, ax), path)


def _layer_title(layer):
    """The name a user gave the layer, in capitals; for an automatic name (dense, dense_3) its type."""
    kind = type(layer).__name__
    name = getattr(layer, "name", None)
    if not name or re.fullmatch(re.escape(snake_case(kind)) + r"(_\d+)?", name):
        return kind.upper()
    return name.upper()


def _neuron_columns(model):
    """One dict per column of neurons (input, Dense + its activation, Dropout), or None if not drawable."""
    if len(model.input_shape) != 1:
        return None
    names = activation_names()
    columns = [{"kind": "input", "size": model.input_shape[0], "title": "INPUT"}]
    for layer in model.layers:
        kernel = layer.params.get("kernel")
        if kernel is not None and kernel.ndim == 2:
            columns.append({"kind": "hidden", "size": kernel.shape[1], "kernel": kernel, "inputs": kernel.shape[0],
                            "bias": "bias" in layer.params, "activation": "linear", "title": _layer_title(layer)})
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
    mpl = matplotlib_modules()
    gap_x, radius = 4.0, 0.32
    shown = [_shown_neurons(column["size"], max_neurons) for column in columns]
    tallest = max(len(s) for s in shown)
    figure, ax = axes(ax, (1.2 + 1.6 * len(columns), 1.6 + 0.4 * tallest))
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
        values = to_numpy(column["kernel"])[np.ix_(drawn_in, drawn_out)].ravel()     # the same order as pairs
        size = np.abs(values) / max(np.abs(values).max(), 1e-12)
        colors = [POSITIVE if v >= 0 else NEGATIVE for v in values]
        crowd = min(1.0, 12 / max(len(drawn_in), len(drawn_out)))     # wide layers: thinner lines, still legible
        widths = (0.2 + 2.3 * size) * crowd
    else:
        colors, widths = KIND_COLORS[column["kind"]], 0.8
    ax.add_collection(mpl.collections.LineCollection(segments, colors=colors, linewidths=widths, alpha=0.6,
                                                     zorder=2, label=f"connections {column['title']}"))


def _layer_rows(model):
    """(title, output shape, parameter count, kind) per box; activation layers join the box before them."""
    names = activation_names()
    rows = [["Input", model.input_shape, 0, "input"]]
    for layer in model.layers:
        name = type(layer).__name__
        if type(layer) in names and len(rows) > 1 and rows[-1][3] == "param":
            rows[-1][0] += f" + {names[type(layer)]}"
            continue
        kind = "param" if layer.params else ("dropout" if name == "Dropout" else "shape")
        rows.append([name, layer.output_shape, layer.count_params(), kind])
    rows[-1][3] = "output"
    return rows


def _draw_layer_boxes(model, ax):
    mpl = matplotlib_modules()
    rows = _layer_rows(model)
    colors = {"input": "#c7e9c0", "output": "#c7e9c0", "param": "#c6dbef", "dropout": "#fcbba1", "shape": "#e0e0e0"}
    step, height, width = 1.3, 0.9, 6.0
    figure, ax = axes(ax, (4.6, 0.55 + 0.62 * len(rows)))
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
