"""Figures a person can read: big networks as layer diagrams, one axis per curve pair with whole-number
epochs, colour bars on every map, long class names that do not overlap, and `evaluate --plot`."""
import io

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import callbacks, layers, plot
from scratchnn.cli import main
from conftest import require

matplotlib = require("matplotlib")
matplotlib.use("Agg")
import matplotlib.collections  # noqa: E402
import matplotlib.colorbar  # noqa: E402
import matplotlib.image  # noqa: E402
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def png_bytes(figure):
    stream = io.BytesIO()
    plot._common.finish(figure, stream)
    return stream.getvalue()


def mlp(*widths, inputs):
    hidden = [layers.Dense(w, activation="relu") for w in widths[:-1]]
    return snn.Sequential(hidden + [layers.Dense(widths[-1])], input_shape=(inputs,), seed=0)


def circles(figure):
    return [p for p in figure.axes[0].patches if isinstance(p, matplotlib.patches.Circle)]


def lines(figure):
    return [c for c in figure.axes[0].collections if isinstance(c, matplotlib.collections.LineCollection)]


def test_a_784_256_256_10_mlp_is_drawn_as_a_small_layer_diagram():
    model = snn.Sequential([layers.Dense(256, activation="relu"), layers.Dropout(0.2),
                            layers.Dense(256, activation="relu"), layers.Dropout(0.2), layers.Dense(10)],
                           input_shape=(784,), seed=0)
    figure = plot.plot_model(model)
    assert circles(figure) == [] and lines(figure) == []                    # boxes, not thousands of lines
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert "Dense + relu" in texts and "(N, 256)   200,960 params" in texts
    assert len(png_bytes(figure)) < 100_000                                 # 621 KB as neurons


def test_networks_up_to_32_units_wide_are_drawn_neuron_by_neuron():
    assert len(circles(plot.plot_model(mlp(32, 16, 1, inputs=30)))) == 30 + 32 + 16 + 1
    assert circles(plot.plot_model(mlp(33, 1, inputs=4))) == []            # one layer too wide: boxes
    assert circles(plot.plot_model(mlp(4, 1, inputs=40))) == []            # the inputs count too
    assert len(circles(plot.plot_model(mlp(33, 1, inputs=4), max_neurons=40))) == 4 + 33 + 1
    with pytest.raises(ValueError, match="plot_model: max_neurons must be an integer >= 3, got 2"):
        plot.plot_model(mlp(4, 1, inputs=4), max_neurons=2)


def test_wide_layers_get_thinner_lines_so_that_the_weights_stay_visible():
    narrow, wide = (plot.plot_model(mlp(width, 1, inputs=4)) for width in (4, 24))
    assert max(lines(wide)[0].get_linewidths()) < 0.6 * max(lines(narrow)[0].get_linewidths())


def history(epochs=3, validation=True):
    record = callbacks.History()
    for epoch in range(epochs):
        logs = {"loss": 1.0 / (epoch + 1), "accuracy": 0.5 + 0.1 * epoch}
        if validation:
            logs.update(val_loss=1.3 / (epoch + 1), val_accuracy=0.45 + 0.1 * epoch)
        record.on_epoch_end(epoch, logs)
    return record


def test_history_puts_training_and_validation_of_one_metric_on_one_axis():
    figure = plot.plot_history(history())
    assert [axis.get_title() for axis in figure.axes] == ["loss", "accuracy"]   # no second y axis anywhere
    for axis, name in zip(figure.axes, ("loss", "accuracy")):
        assert [line.get_label() for line in axis.lines] == ["training", "validation"]
        np.testing.assert_allclose(axis.lines[1].get_ydata(), history().history["val_" + name])
        assert [t.get_text() for t in axis.get_legend().get_texts()] == ["training", "validation"]
        assert axis.get_xlabel() == "epoch" and axis.get_ylabel() == name
    only_training = plot.plot_history(history(validation=False))
    assert [len(axis.lines) for axis in only_training.axes] == [1, 1]


def test_history_ticks_are_whole_epochs():
    figure = plot.plot_history(history(epochs=3))
    figure.canvas.draw()
    for axis in figure.axes:
        assert isinstance(axis.xaxis.get_major_locator(), matplotlib.ticker.MaxNLocator)
        ticks = [t for t in axis.get_xticks() if 1 <= t <= 3]
        assert ticks == [1.0, 2.0, 3.0]                                       # not 1.25, 1.5, ...


def test_history_draws_into_given_axes():
    figure, grid = plt.subplots(1, 2)
    assert plot.plot_history(history(), ax=grid) is figure
    with pytest.raises(ValueError, match="expected at least 2 Axes in ax, got 1"):
        plot.plot_history(history(), ax=grid[:1])


def colorbars(figure):
    return [image.colorbar for axis in figure.axes for image in axis.images if image.colorbar is not None]


def test_signed_attribution_maps_have_a_colour_bar_centred_at_zero(rng):
    values = rng.standard_normal((6, 5))
    figure = plot.plot_attributions(values, image=rng.random((6, 5)), label="attribution to the logit of class 2")
    [bar] = colorbars(figure)
    low, high = bar.mappable.get_clim()
    assert low == -high == -np.abs(values).max()
    assert bar.mappable.get_cmap().name == "bwr"
    assert bar.ax.get_ylabel() == "attribution to the logit of class 2"
    assert len(figure.axes) == 2                                              # the map and its colour bar


def test_attributions_that_are_never_negative_get_a_scale_from_zero(rng):
    figure = plot.plot_attributions(np.abs(rng.standard_normal((4, 4))))
    [bar] = colorbars(figure)
    assert bar.mappable.get_clim()[0] == 0 and bar.mappable.get_cmap().name == "Reds"
    assert colorbars(plot.plot_attributions(rng.standard_normal((4, 4)), colorbar=False)) == []


def test_feature_bars_name_what_they_attribute():
    figure = plot.plot_attributions(np.array([0.3, -0.1]), feature_names=["age", "income"],
                                    label="attribution to the probability of class 1")
    assert figure.axes[0].get_xlabel() == "attribution to the probability of class 1"


def test_filters_and_feature_maps_each_share_one_colour_bar(rng):
    model = snn.Sequential([layers.Conv2D(4, 3, activation="relu"), layers.Flatten(), layers.Dense(2)],
                           input_shape=(7, 7, 1), seed=0)
    figure = plot.plot_filters(model, image=rng.random((7, 7, 1)))
    kernels, maps = figure.axes[:4], figure.axes[4:8]
    assert len({axis.images[0].get_clim() for axis in kernels}) == 1
    assert len({axis.images[0].get_clim() for axis in maps}) == 1
    low, high = kernels[0].images[0].get_clim()
    assert low == -high                                                      # weights: centred at 0
    bars = [axis for axis in figure.axes if isinstance(getattr(axis, "_colorbar", None), matplotlib.colorbar.Colorbar)]
    assert [bar.get_ylabel() for bar in bars] == ["weight", "activation"]


def test_long_class_names_are_slanted_in_the_confusion_matrix():
    names = ["T-shirt/top", "Trouser", "Pullover"]
    figure = plot.plot_confusion_matrix([0, 1, 2, 2], [0, 1, 1, 2], class_names=names)
    assert {label.get_rotation() for label in figure.axes[0].get_xticklabels()} == {45.0}
    short = plot.plot_confusion_matrix([0, 1], [0, 1])
    assert {label.get_rotation() for label in short.axes[0].get_xticklabels()} == {0.0}


def test_evaluate_plot_writes_the_confusion_matrix(tmp_path, capsys):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 90)
    features = rng.standard_normal((90, 2)) + 2.0 * np.eye(3)[labels, :2]
    np.savetxt(tmp_path / "three.csv", np.column_stack([features, labels]), delimiter=",", fmt="%.5f")
    model = snn.Sequential([layers.Dense(3)], input_shape=(2,), seed=0)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer="adam", metrics=["accuracy"])
    model.save(tmp_path / "three.snn")
    out = tmp_path / "confusion.png"
    status = main(["evaluate", str(tmp_path / "three.snn"), "--data", f"csv:{tmp_path / 'three.csv'}",
                   "--class-names", "cat,dog,bird", "--plot", str(out)])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert printed.out.rstrip().endswith(f"confusion matrix drawn to {out}")
    picture = matplotlib.image.imread(out)
    assert picture.ndim == 3 and picture.shape[0] > 200 and picture.shape[1] > 200
    status = main(["evaluate", str(tmp_path / "three.snn"), "--data", f"csv:{tmp_path / 'three.csv'}",
                   "--plot", str(tmp_path / "absent" / "c.png")])
    assert status == 1
    assert "the folder" in capsys.readouterr().err
