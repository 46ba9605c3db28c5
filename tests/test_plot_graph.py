"""plot_model of functional models: a box per input and layer call, an arrow per tensor with its shape."""
import numpy as np
import pytest

import scratchnn as snn
from conftest import require
from scratchnn import layers, plot
from scratchnn.plot.graph import graph_boxes

matplotlib = require("matplotlib")
matplotlib.use("Agg")
pyplot = require("matplotlib.pyplot")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    pyplot.close("all")


def residual_model():
    x = snn.Input(shape=(8, 8, 1), name="image")
    h = layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    y = layers.BatchNormalization()(layers.Conv2D(4, 3, padding="same")(h))
    h = layers.ReLU()(layers.Add()([h, y]))
    return snn.Model(x, layers.Dense(3)(layers.GlobalAveragePooling2D()(h)), name="resnet", seed=0)


def boxes(ax):
    return [p for p in ax.patches if isinstance(p, matplotlib.patches.FancyBboxPatch)]


def texts(ax):
    return [t.get_text() for t in ax.texts]


def test_a_residual_graph_has_a_box_per_call_and_shapes_on_its_edges(tmp_path):
    model = residual_model()
    figure = plot.plot_model(model, path=tmp_path / "resnet.png")
    ax = figure.axes[0]
    assert len(boxes(ax)) == 1 + len(model.nodes) == 8
    words = texts(ax)
    for title in ("image (Input)", "Conv2D + relu", "Conv2D", "BatchNormalization", "Add", "ReLU",
                  "GlobalAveragePooling2D", "Dense"):
        assert title in words
    edges = [a for a in ax.texts if isinstance(a, matplotlib.text.Annotation)]
    assert len(edges) == 8                                        # the Add reads two tensors
    assert words.count("(N, 8, 8, 4)") == 6 + 2 and words.count("(N, 8, 8, 1)") == 1 + 1   # 6 edges, Add, ReLU
    assert "(N, 8, 8, 4)   40 params" in words and "(N, 3)   15 params" in words
    skip = [a for a in edges if a.arrow_patch.get_connectionstyle().rad != 0]
    assert len(skip) == 1                                         # the skip connection, bent beside the block
    assert ax.get_title() == f"resnet: {model.count_params():,} parameters"
    with open(tmp_path / "resnet.png", "rb") as stream:
        assert stream.read(8) == b"\x89PNG\r\n\x1a\n"


def test_rows_follow_the_graph():
    model = residual_model()
    drawn, edges = graph_boxes(model)
    rows = {box["title"]: box["row"] for box in drawn}
    assert rows["image (Input)"] == 0 and rows["Add"] == 4 and rows["Dense"] == 7
    assert all(drawn[target]["row"] > drawn[source]["row"] for source, target, _ in edges)


def test_several_inputs_outputs_and_a_shared_layer_are_named():
    image, side = snn.Input(shape=(4,), name="image"), snn.Input(shape=(2,), name="side")
    shared = layers.Dense(4, name="shared")
    a, b = shared(image), shared(layers.Dense(4)(image))
    joined = layers.Concatenate()([a, b])
    outputs = {"score": layers.Dense(1)(joined), "code": layers.Add()([layers.Dense(4)(layers.ReLU()(b)),
                                                                   layers.Dense(4)(side)])}
    model = snn.Model([image, side], outputs, seed=0)
    ax = plot.plot_model(model).axes[0]
    words = texts(ax)
    assert "shared: Dense" in words and "shared[1]: Dense" in words
    assert "(N, 4)   20 params" in words and "(N, 4)   shared" in words
    assert "'score' = Dense" in words and "'code' = Add" in words
    assert "side (Input)" in words and len(boxes(ax)) == 2 + len(model.nodes)
    drawn, _ = graph_boxes(model)
    side_row = next(box["row"] for box in drawn if box["title"] == "side (Input)")
    assert side_row > 0                                           # beside its reader, not at the top


def test_drawn_into_given_axes_and_neurons_refused_for_a_merge():
    model = residual_model()
    figure, ax = pyplot.subplots()
    assert plot.plot_model(model, ax=ax) is figure and len(boxes(ax)) == 8
    with pytest.raises(ValueError, match="style='neurons' draws networks of Dense"):
        plot.plot_model(model, style="neurons")
    x = snn.Input(shape=(3,))
    chain = snn.Model(x, layers.Dense(2)(layers.Dense(4, activation="relu")(x)), seed=0)
    ax = plot.plot_model(chain, style="neurons").axes[0]
    assert len([p for p in ax.patches if isinstance(p, matplotlib.patches.Circle)]) == 3 + 4 + 2
    assert np.isfinite(ax.get_xlim()).all()
