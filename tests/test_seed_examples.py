"""Every seed program in examples/ reproduces the numbers its seed prints."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from scratchnn import datasets
from scratchnn.tutorial import TrainableNeuralNetwork

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quiet(*args):
    pass


def test_neuron_example_prints_the_seed_values(capsys):
    results = example("seed000_neuron").main()
    assert capsys.readouterr().out.split() == ["0.9990889488055994", "0.7216325609518421", "0.5"]
    assert (results["neuron"], results["network"], results["mse"]) == (0.9990889488055994, 0.7216325609518421, 0.5)


def test_partial_derivative_three_ways_agree():
    results = example("seed000_partial_derivative").main(print_fn=quiet)
    assert results["by_hand"] == {"h1": 0.0474, "y_pred": 0.524, "d_L_d_ypred": -0.952, "d_ypred_d_h1": 0.249,
                                  "d_h1_d_w1": -0.0904, "d_L_d_w1": 0.0214}
    chain_rule = results["terms"]["d_L_d_w1"]
    assert round(chain_rule, 4) == 0.0215
    assert abs(results["library"] - chain_rule) <= 1e-15 * chain_rule
    assert abs(results["numerical"] - chain_rule) <= 1e-8 * chain_rule
    assert max(results["errors"].values()) < 1e-7


def test_gender_example_and_its_library_twin():
    lines = []
    results = example("seed000_gender").main(seed=0, print_fn=lines.append)
    assert lines[0] == "Epoch 0 loss: 0.292" and lines[99] == "Epoch 990 loss: 0.002"
    assert lines[100:102] == ["Emily: 0.949", "Frank: 0.040"]
    assert results["largest_difference"] <= 1e-12
    assert (round(results["library_emily"], 3), round(results["library_frank"], 3)) == (0.949, 0.040)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_library_follows_the_hand_derived_trajectory(seed):
    data, all_y_trues = datasets.gender(dtype="float64")
    initial = TrainableNeuralNetwork(seed=seed).parameters()
    worst, model, network = example("seed000_gender").library_trajectory(initial, data, all_y_trues)
    assert worst <= 1e-12
    assert network.feedforward([-7, -3]) > 0.94 and network.feedforward([20, 2]) < 0.06


def test_library_trajectory_check_can_fail():
    data, all_y_trues = datasets.gender(dtype="float64")
    initial = TrainableNeuralNetwork(seed=0).parameters()
    module = example("seed000_gender")
    network = TrainableNeuralNetwork(parameters=initial)
    model = network.to_sequential()
    model.compile(loss="mse", optimizer="sgd")                              # lr 0.01 instead of 0.1
    network.train(data, all_y_trues, epochs=1, print_every=0)
    model.fit(data, all_y_trues, epochs=1, batch_size=1, shuffle=False, verbose=0)
    assert module.largest_difference(model, network) > 1e-6


def test_exam_scores_example():
    results = example("seed002_exam_scores").main(seed=0, print_fn=quiet)
    shown = results["illustration"]
    assert np.round(shown["hidden"], 4).tolist() == [0.9995, 0.9994, 0.9985]
    assert round(shown["output"], 3) == 0.858
    np.testing.assert_allclose(shown["listed_sums"], [7.6, 3.9, 6.5], rtol=1e-15)
    assert len(results["losses"]) == 1000 and results["losses"][-1] < results["losses"][0] / 100
    assert results["seed_scaled"].tolist() == [0.5, 1.0]
    np.testing.assert_allclose(results["right_scaled"], [4 / 3, 8 / 9], rtol=1e-15)
    network = results["network"]
    assert results["seed_score"] == float(network.forward(np.array([0.5, 1.0]))[0])
    assert results["right_score"] == float(network.forward(np.array([4 / 3, 8 / 9]))[0])


def test_xor_example_prints_the_seed_lines():
    lines = []
    results = example("seed004_xor").main(print_fn=lines.append)
    assert lines[4:7] == ["epoch 998/1000   error=0.000243", "epoch 999/1000   error=0.000242",
                          "epoch 1000/1000   error=0.000242"]
    np.testing.assert_allclose(results["outputs"], [0, 0.977, 0.979, 0], atol=2e-3)
    assert abs(results["stalled_errors"][-1] - 0.279) < 1e-3
    np.testing.assert_allclose(results["stalled_outputs"], 0.52, atol=0.01)


@pytest.mark.parametrize("seed", [3, 5, 6, 8])
def test_xor_converges_for_several_seeds(seed):
    _, errors, outputs = example("seed004_xor").train(seed)
    assert errors[0] > 0.3 and errors[-1] < 4e-4
    np.testing.assert_allclose(outputs, [0, 1, 1, 0], atol=0.03)


@pytest.mark.slow
def test_mnist_fc_example_error_curve_and_accuracy():
    results = example("seed004_mnist_fc").main(print_fn=quiet)
    errors = results["errors"]
    assert len(errors) == 35 and errors[0] > 0.2 and errors[-1] < 0.011
    assert all(later < earlier for earlier, later in zip(errors, errors[1:]))
    assert results["accuracy"] >= 0.78
    assert np.array_equal(results["predicted"].argmax(axis=1), results["true"].argmax(axis=1))


@pytest.mark.slow
def test_seed001_network_reaches_90_percent():
    module = example("seed001_digits")
    model, log, _ = module.train_seed_network(module.load(), lr=0.1, epochs=2, every=8000, print_fn=quiet)
    assert [seen for seen, _, _ in log] == [8000, 16000]
    assert log[-1][1] >= 0.90
