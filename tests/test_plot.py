"""Figures checked on content: circles and connections of the neuron drawing, series of the training
curves, counts of the confusion matrix, titles of samples, shapes of the heat maps."""
import numpy as np
import pytest

import scratchnn as snn
from conftest import require
from scratchnn import callbacks, explain, layers, plot

matplotlib = require("matplotlib")
matplotlib.use("Agg")
pyplot = require("matplotlib.pyplot")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    pyplot.close("all")


def circles(ax):
    return [p for p in ax.patches if isinstance(p, matplotlib.patches.Circle)]


def connections(ax):
    return [c for c in ax.collections if isinstance(c, matplotlib.collections.LineCollection)]


def seed_network(inputs=3):
    return snn.Sequential([layers.Dense(4, activation="relu"), layers.Dropout(0.2), layers.Dense(2, activation="relu"),
                           layers.Dense(1, activation="sigmoid")], input_shape=(inputs,), seed=0)


def test_neuron_drawing_has_a_circle_per_neuron_and_a_line_per_connection():
    figure = plot.plot_model(seed_network())
    ax = figure.axes[0]
    assert len(circles(ax)) == 3 + 4 + 4 + 2 + 1
    lines = connections(ax)
    assert [len(c.get_segments()) for c in lines] == [3 * 4, 4, 4 * 2, 2 * 1]
    colors = [tuple(c.get_facecolor()) for c in circles(ax)]
    green, blue, red = (matplotlib.colors.to_rgba(plot.KIND_COLORS[k]) for k in ("input", "hidden", "dropout"))
    assert colors == [green] * 3 + [blue] * 4 + [red] * 4 + [blue] * 2 + [green]
    texts = [t.get_text() for t in ax.texts]
    assert "$X_{3}$" in texts and "$H_{4}$" in texts and "$y_{1}$" in texts
    assert "DENSE\nrelu(Σ3[X·w] + b)\n= 4 out" in texts and "DENSE\nsigmoid(Σ2[X·w] + b)\n= 1 y" in texts


def test_connection_colour_and_width_follow_the_trained_weight():
    model = seed_network()
    kernel = model.layers[0].params["kernel"]
    kernel[...] = np.arange(-6, 6).reshape(3, 4)
    first = connections(plot.plot_model(model).axes[0])[0]
    expected = [matplotlib.colors.to_rgba(plot.POSITIVE if w >= 0 else plot.NEGATIVE, 0.6) for w in kernel.ravel()]
    np.testing.assert_allclose(first.get_colors(), expected)
    np.testing.assert_allclose(first.get_linewidths(), 0.2 + 2.3 * np.abs(kernel.ravel()) / 6)


def test_wide_layers_are_drawn_with_a_gap_and_their_true_size():
    model = snn.Sequential([layers.Dense(40, activation="relu"), layers.Dense(10)], input_shape=(784,), seed=0)
    ax = plot.plot_model(model, style="neurons", max_neurons=16).axes[0]
    assert len(circles(ax)) == 15 + 15 + 10
    assert [len(c.get_segments()) for c in connections(ax)] == [15 * 15, 15 * 10]
    texts = [t.get_text() for t in ax.texts]
    assert "⋮ 784" in texts and "⋮ 40" in texts and "$X_{784}$" in texts and "$H_{33}$" not in texts


def test_layer_diagram_for_convolutional_networks():
    model = snn.Sequential([layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                            layers.Dense(10)], input_shape=(8, 8, 1), seed=0)
    ax = plot.plot_model(model).axes[0]
    texts = [t.get_text() for t in ax.texts if not isinstance(t, matplotlib.text.Annotation)]
    assert texts[0::2] == ["Input", "Conv2D + relu", "MaxPooling2D", "Flatten", "Dense"]
    assert texts[1::2] == ["(N, 8, 8, 1)", "(N, 6, 6, 4)   40 params", "(N, 3, 3, 4)", "(N, 36)",
                           "(N, 10)   370 params"]
    with pytest.raises(ValueError, match="style='neurons' draws networks of Dense"):
        plot.plot_model(model, style="neurons")


def test_history_plot_has_one_point_per_epoch_for_every_series():
    history = callbacks.History()
    for epoch in range(4):
        history.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "accuracy": 0.5 + 0.1 * epoch,
                                     "val_loss": 1.2 / (epoch + 1), "val_accuracy": 0.4 + 0.1 * epoch})
    figure = plot.plot_history(history)
    loss, accuracy = figure.axes
    assert (loss.get_title(), accuracy.get_title()) == ("loss", "accuracy")
    np.testing.assert_allclose(loss.lines[0].get_ydata(), history.history["loss"])
    np.testing.assert_allclose(loss.lines[0].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(accuracy.lines[1].get_ydata(), history.history["val_accuracy"])
    with pytest.raises(ValueError, match=r"no recorded values for \['f1'\]"):
        plot.plot_history(history, metrics=["f1"])
    single = plot.plot_history({"loss": [0.9, 0.4, 0.2], "mae": [0.8, 0.5, 0.3]})
    assert [ax.get_title() for ax in single.axes] == ["loss", "mae"]       # one panel per quantity
    np.testing.assert_allclose(single.axes[1].lines[0].get_ydata(), [0.8, 0.5, 0.3])


def test_confusion_matrix_counts():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    probabilities = np.eye(3)[[0, 1, 1, 2, 0, 2]]
    figure = plot.plot_confusion_matrix(y_true, probabilities, class_names=["a", "b", "c"])
    np.testing.assert_array_equal(figure.axes[0].images[0].get_array(), [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert figure.axes[0].get_title() == "Accuracy 66.67% on 6 samples"
    np.testing.assert_array_equal(plot.confusion_counts([1, 0, 1], np.array([[0.9], [0.2], [0.4]])), [[1, 0], [1, 1]])
    with pytest.raises(ValueError, match=r"2 class names for labels up to 2: expected labels in \[0, 2\)"):
        plot.plot_confusion_matrix(y_true, probabilities, class_names=["a", "b"])


def test_samples_mark_the_mistakes(rng):
    images = rng.random((3, 784))
    figure = plot.plot_samples(images, y_true=[7, 2, 1], y_pred=np.eye(10)[[7, 3, 1]], cols=2)
    titles = [(ax.get_title(), ax.title.get_color()) for ax in figure.axes[:3]]
    assert titles == [("7", "black"), ("3 (true 2)", "red"), ("1", "black")]
    assert figure.axes[0].images[0].get_array().shape == (28, 28)
    assert not figure.axes[3].axison


def test_filters_and_feature_maps(rng):
    model = snn.Sequential([layers.Conv2D(3, 3, activation="relu"), layers.Flatten(), layers.Dense(2)],
                           input_shape=(6, 6, 1), seed=0)
    image = rng.random((6, 6, 1))
    figure = plot.plot_filters(model, image=image)
    kernel = model.layers[0].params["kernel"]
    np.testing.assert_allclose(figure.axes[1].images[0].get_array(), kernel[:, :, 0, 1])
    expected = np.maximum(model.layers[0].forward(image[None].astype("float32"))[0], 0)
    np.testing.assert_allclose(figure.axes[3 + 2].images[0].get_array(), expected[..., 2], rtol=1e-6)


def test_decision_boundary_shades_the_predicted_probability(rng):
    model = snn.Sequential([layers.Dense(1, activation="sigmoid")], input_shape=(2,), seed=0)
    x = rng.standard_normal((20, 2))
    figure = plot.plot_decision_boundary(model, x, (x[:, 0] > 0).astype(int), resolution=30)
    assert len(figure.axes[0].collections[-1].get_offsets()) == 20
    with pytest.raises(ValueError, match=r"expected 2-D points of shape \(N, 2\), got \(20, 3\)"):
        plot.plot_decision_boundary(model, np.zeros((20, 3)), np.zeros(20))


def test_attribution_heat_map_and_bars(rng):
    model = snn.Sequential([layers.Flatten(), layers.Dense(3)], input_shape=(5, 4, 1), seed=0)
    x = rng.random((2, 5, 4, 1))
    attributions = explain.integrated_gradients(model, x, target=1)
    assert attributions.shape == x.shape
    heat = plot.plot_attributions(attributions[0], image=x[0]).axes[0].images[1].get_array()
    np.testing.assert_allclose(heat, attributions[0, ..., 0])
    values = np.array([0.5, -2.0, 0.1, 1.0])
    bars = plot.plot_attributions(values, feature_names=list("abcd"), top=3).axes[0]
    assert [t.get_text() for t in bars.get_yticklabels()] == ["b", "d", "a", "1 other features"]
    waterfall = plot.plot_attributions(values, base_value=0.25, top=3).axes[0]
    lefts = [p.get_x() for p in waterfall.patches]
    np.testing.assert_allclose(lefts, [0.35 + 0.5 + 1.0, 0.35 + 0.5, 0.35, 0.25])
    assert waterfall.get_xlabel().endswith("E[f(X)] + Σ attributions = -0.150")


def test_plot_model_choices_and_errors():
    deep = snn.Sequential([layers.Dense(3, activation="relu") for _ in range(9)] + [layers.Dense(1, use_bias=False)],
                          input_shape=(2,), seed=0)
    assert circles(plot.plot_model(deep).axes[0]) == []                  # more than 8 layers: boxes
    ax = plot.plot_model(deep, style="neurons", input_names=["a", "b"]).axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "a" in texts and "DENSE\nlinear(Σ3[X·w])\n= 1 y" in texts
    with pytest.raises(ValueError, match="2 inputs but 3 input_names"):
        plot.plot_model(deep, input_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="plot_model needs a built model"):
        plot.plot_model(snn.Sequential([layers.Dense(2)]))
    with pytest.raises(ValueError, match="style must be 'auto', 'neurons' or 'layers', got 'graph'"):
        plot.plot_model(deep, style="graph")


def test_missing_matplotlib_is_named_with_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'scratchnn\[plot\]'"):
        plot.plot_history({"loss": [1.0, 0.5]})


def test_figures_are_written_atomically(tmp_path, monkeypatch):
    history = {"loss": [0.9, 0.5], "accuracy": [0.6, 0.8]}
    target = tmp_path / "history.png"
    plot.plot_history(history, path=target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot.plot_history(history, path=str(tmp_path / "history.svg"))
    assert b"<svg" in (tmp_path / "history.svg").read_bytes()[:1000]
    plot.plot_history(history, path=tmp_path / "no_extension")                # matplotlib's rule: add .png
    assert (tmp_path / "no_extension.png").read_bytes()[:4] == b"\x89PNG"
    before = target.read_bytes()

    def crash_half_way(self, stream, **kwargs):
        stream.write(b"\x89PNG half an image")
        raise RuntimeError("killed while writing")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", crash_half_way)
    with pytest.raises(RuntimeError, match="killed while writing"):
        plot.plot_history(history, path=target)
    assert target.read_bytes() == before                                     # the old figure, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.png", "history.svg", "no_extension.png"]


def test_an_unknown_figure_format_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"'xyz' is not a figure format; use one of \[.*'png'"):
        plot.plot_history({"loss": [1.0, 0.5]}, path=tmp_path / "curves.xyz")
    assert list(tmp_path.iterdir()) == []


def test_figure_to_an_open_stream():
    import io
    stream = io.BytesIO()
    plot.plot_confusion_matrix([0, 1, 1], [0, 1, 0], path=stream)
    assert stream.getvalue()[:4] == b"\x89PNG"


def test_importing_scratchnn_does_not_import_matplotlib():
    import subprocess
    import sys
    code = ("import sys, scratchnn\n"
            "assert 'matplotlib' not in sys.modules and 'scratchnn.plot' not in sys.modules\n"
            "assert callable(scratchnn.plot.plot_model)\n"                 # loaded on first use
            "from scratchnn import plot\n"
            "assert 'matplotlib' not in sys.modules, 'scratchnn.plot imported matplotlib'\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    with pytest.raises(AttributeError, match="module 'scratchnn' has no attribute 'plots'"):
        snn.plots


def test_labels_are_read_by_the_one_label_decoder():
    np.testing.assert_array_equal(plot.confusion_counts([1.0, 0.0, 1.0], [[0.3], [0.4], [0.8]]), [[1, 0], [1, 1]])
    with pytest.raises(ValueError, match=r"y_pred: expected whole class labels >= 0 or probabilities in \[0, 1\]"):
        plot.confusion_counts([0, 1], [-0.3, 2.5])                           # logits: apply a sigmoid first
    with pytest.raises(ValueError, match="y_true: the labels contain NaN"):
        plot.plot_samples(np.zeros((2, 4, 4)), y_true=[0.0, np.nan])


def test_package_layout_and_docstring_examples():
    import doctest
    from scratchnn.plot import history, network, results
    assert plot.plot_model is network.plot_model and plot.plot_history is history.plot_history
    for module in (history, results):
        assert doctest.testmod(module, raise_on_error=True).attempted >= 1
