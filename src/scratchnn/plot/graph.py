"""The graph of a functional Model: a box per input and layer call, an arrow per tensor with its shape on it.

The boxes are those of the Sequential's layer diagram (network.py): type and activation in bold, output
shape and parameters below, coloured by kind (inputs and outputs green, layers with weights blue, Dropout
red, merges yellow, the rest grey). A box's row is its depth, the longest path from an input, moved down to
just above its first reader; within a row, boxes are ordered by where their inputs sit (one barycentre
pass). An arrow to the next row is straight; a longer one (a skip connection) leaves from the box's side and
bends past the boxes between. A box's title carries the layer's name when it was given or the layer is
called more than once (``name[k]`` for its call k > 0, "shared" in place of its parameter count), and the
output's name for a model of several (or named) outputs.
"""
from __future__ import annotations

import re
from collections import Counter

from ..layers.base import snake_case
from ._common import activation_names, axes, matplotlib_modules

__all__ = ["draw_graph", "graph_boxes"]

COLORS = {"input": "#c7e9c0", "output": "#c7e9c0", "param": "#c6dbef", "dropout": "#fcbba1", "shape": "#e0e0e0",
          "merge": "#fdf3b0"}
STEP_X, STEP_Y, WIDTH, HEIGHT = 6.6, 2.0, 5.6, 0.9
UNITS_PER_INCH = 2.2


def _shape(shape) -> str:
    return "(N, " + ", ".join(map(str, shape)) + ")"


def graph_boxes(model) -> tuple[list[dict], list[tuple[int, int, tuple]]]:
    """(boxes, edges): a dict per input and layer call (title, detail, kind, row, column), and the edges as
    (source box, target box, shape of the tensor)."""
    names = activation_names()
    boxes, index_of = [], {}
    outputs = {id(t): key for t, key in zip(model.outputs, model.output_names)}
    for t in model.inputs:
        index_of[id(t)] = len(boxes)
        boxes.append({"title": f"{t.name} (Input)", "detail": _shape(t.shape[1:]), "kind": "input", "row": 0,
                      "sources": []})
    calls, seen = {}, set()
    shared_count = Counter(id(node.layer) for node in model.nodes)
    edges = []
    for node in model.nodes:
        layer = node.layer
        call = calls.get(id(layer), 0)
        calls[id(layer)] = call + 1
        kind_name = type(layer).__name__
        activation = getattr(layer, "activation", None)
        title = kind_name + (f" + {names.get(type(activation), type(activation).__name__)}" if activation else "")
        if shared_count[id(layer)] > 1 or not re.fullmatch(re.escape(snake_case(kind_name)) + r"(_\d+)?", layer.name):
            title = f"{layer.name}{f'[{call}]' if call else ''}: {title}"      # a name given, or a shared layer
        params = layer.count_params()
        if id(layer) in seen:
            detail_params = "   shared" if params else ""
        else:
            detail_params = f"   {params:,} params" if params else ""
        seen.add(id(layer))
        kind = ("merge" if node.multiple else "param" if layer.params else
                "dropout" if kind_name == "Dropout" else "shape")
        sources = [index_of[id(t)] for t in node.inputs]
        box = {"title": title, "detail": _shape(node.output.shape[1:]) + detail_params, "kind": kind,
               "row": 1 + max(boxes[s]["row"] for s in sources), "sources": sources}
        if id(node.output) in outputs:
            box["kind"] = "output"
            if (len(outputs) > 1 or model._output_kind == "dict") and outputs[id(node.output)] != layer.name:
                box["title"] = f"{outputs[id(node.output)]!r} = {box['title']}"       # the output's name
        index_of[id(node.output)] = len(boxes)
        edges += [(s, len(boxes), t.shape[1:]) for s, t in zip(sources, node.inputs)]
        boxes.append(box)
    _place(boxes)
    return boxes, edges


def _place(boxes):
    """A row and a column per box. Rows: the longest path from an input, then each box moved down to just
    above its first reader (a side branch sits beside where it is used, not at the top). Columns: each row
    in the order of the mean column of its sources, centred."""
    readers: dict[int, list[int]] = {}
    for i, box in enumerate(boxes):
        for s in box["sources"]:
            readers.setdefault(s, []).append(i)
    for i in range(len(boxes) - 1, -1, -1):                  # reverse topological order
        if i in readers:
            boxes[i]["row"] = max(boxes[i]["row"], min(boxes[r]["row"] for r in readers[i]) - 1)
    rows: dict[int, list[int]] = {}
    for i, box in enumerate(boxes):
        rows.setdefault(box["row"], []).append(i)
    for row in sorted(rows):
        members = rows[row]
        if row:
            members.sort(key=lambda i: sum(boxes[s]["column"] for s in boxes[i]["sources"]) /
                         len(boxes[i]["sources"]) if boxes[i]["sources"] else float("inf"))   # inputs: right
        for k, i in enumerate(members):
            boxes[i]["column"] = k - (len(members) - 1) / 2


def draw_graph(model, ax=None):
    """The figure of a functional model's graph (what ``plot_model`` draws for a ``scratchnn.Model``)."""
    mpl = matplotlib_modules()
    boxes, edges = graph_boxes(model)
    rows = 1 + max(box["row"] for box in boxes)
    lefts = [box["column"] * STEP_X for box in boxes]
    margin = WIDTH / 2 + (2.2 if any(boxes[t]["row"] - boxes[s]["row"] > 1 for s, t, _ in edges) else 0.1)
    xlim = (min(lefts) - margin, max(lefts) + margin)
    ylim = (-(rows - 1) * STEP_Y - HEIGHT / 2 - 0.5, HEIGHT / 2 + 0.1)
    figure, ax = axes(ax, ((xlim[1] - xlim[0]) / UNITS_PER_INCH, 0.4 + (ylim[1] - ylim[0]) / UNITS_PER_INCH))

    def centre(box):
        return box["column"] * STEP_X, -box["row"] * STEP_Y

    for source, target, shape in edges:
        _draw_edge(ax, centre(boxes[source]), centre(boxes[target]), boxes[target]["row"] - boxes[source]["row"],
                   _shape(shape))
    for box in boxes:
        x, y = centre(box)
        ax.add_patch(mpl.patches.FancyBboxPatch((x - WIDTH / 2, y - HEIGHT / 2), WIDTH, HEIGHT, zorder=3,
                                                boxstyle="round,pad=0.02,rounding_size=0.12",
                                                facecolor=COLORS[box["kind"]], edgecolor="black", linewidth=0.8))
        ax.text(x, y + 0.18, box["title"], ha="center", va="center", fontsize=8, fontweight="bold", zorder=4)
        ax.text(x, y - 0.2, box["detail"], ha="center", va="center", fontsize=7, family="monospace", zorder=4)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")                         # the arcs are drawn on the screen: one scale on both axes
    ax.axis("off")
    ax.set_title(f"{model.name}: {model.count_params():,} parameters", fontsize=10)
    return figure


def _draw_edge(ax, source, target, span, label):
    """An arrow from the source box to the target box, the tensor's shape on it. Next rows: straight, bottom to
    top; farther (a skip connection): from side to side, bent outwards so that it passes beside the boxes."""
    (x0, y0), (x1, y1) = source, target
    if span <= 1:
        start, end, bend = (x0, y0 - HEIGHT / 2), (x1, y1 + HEIGHT / 2), 0.0
    else:
        side = 1 if x1 >= x0 else -1
        start, end = (x0 + side * WIDTH / 2, y0), (x1 + side * WIDTH / 2, y1)
        bend = side * 1.3                                   # how far the middle of the arc leaves the chord
    dx, dy = end[0] - start[0], end[1] - start[1]
    length = max((dx * dx + dy * dy) ** 0.5, 1e-9)
    rad = 2 * bend / length                                 # arc3: control point at rad x length off the middle
    ax.annotate("", xy=end, xytext=start, zorder=1,
                arrowprops={"arrowstyle": "->", "color": "black", "lw": 0.8, "shrinkA": 0, "shrinkB": 0,
                            "connectionstyle": f"arc3,rad={-rad if dy < 0 else rad}"})
    middle = ((start[0] + end[0]) / 2 - bend * dy / length, (start[1] + end[1]) / 2 + bend * dx / length)
    ax.text(*middle, label, ha="center", va="center", fontsize=6.5, family="monospace", color="dimgray", zorder=2,
            bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none"})
