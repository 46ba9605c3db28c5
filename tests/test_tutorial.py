"""scratchnn.tutorial: the seeds' numbers, the hand-derived derivatives against finite differences and the library."""
import numpy as np
import pytest

from scratchnn import datasets, gradcheck, optim
from scratchnn.tutorial import (PARAMETER_NAMES, Neural_Network, Neuron, OurNeuralNetwork, TrainableNeuralNetwork,
                                deriv_sigmoid, init_random_params, mse_loss, sigmoid, split_bias_rows)

ALICE = np.array([-2.0, -1.0])


def test_neuron_network_and_mse_give_the_seed_numbers():
    assert Neuron(np.array([0, 1]), 4).feedforward(np.array([2, 3])) == 0.9990889488055994
    assert OurNeuralNetwork().feedforward(np.array([2, 3])) == 0.7216325609518421
    assert mse_loss(np.array([1, 0, 0, 1]), np.array([0, 0, 0, 0])) == 0.5


def test_sigmoid_is_stable_and_keeps_the_dtype():
    x = np.array([-1000.0, -3.0, 0.0, 3.0, 1000.0])
    with np.errstate(over="raise"):
        y = sigmoid(x)
    np.testing.assert_allclose(y, [0.0, 0.04742587317756678, 0.5, 0.9525741268224334, 1.0], rtol=1e-15)
    assert sigmoid(x.astype(np.float32)).dtype == np.float32
    assert deriv_sigmoid(0.0) == 0.25
    np.testing.assert_allclose(deriv_sigmoid(x[1:4]), (sigmoid(x[1:4] + 1e-6) - sigmoid(x[1:4] - 1e-6)) / 2e-6,
                               rtol=1e-8)


def test_backprop_matches_central_differences(rng):
    network = TrainableNeuralNetwork(seed=3)
    x, y_true = rng.standard_normal(2), 1.0
    derivatives = network.backprop(x, y_true)
    for name in PARAMETER_NAMES:
        value = getattr(network, name)
        losses = []
        for shifted in (value + 1e-6, value - 1e-6):
            setattr(network, name, shifted)
            losses.append((y_true - network.feedforward(x)) ** 2)
        setattr(network, name, value)
        numeric = (losses[0] - losses[1]) / 2e-6
        assert gradcheck.relative_error(derivatives[f"d_L_d_{name}"], numeric) < 1e-8, name


def test_worked_partial_derivative_to_the_printed_precision():
    network = TrainableNeuralNetwork(parameters={name: float(name[0] == "w") for name in PARAMETER_NAMES})
    t = network.backprop(ALICE, 1.0)
    assert (round(t["h1"], 4), round(t["h2"], 4), round(t["y_pred"], 3)) == (0.0474, 0.0474, 0.524)
    assert (round(t["d_ypred_d_h1"], 3), round(t["d_h1_d_w1"], 4)) == (0.249, -0.0904)
    assert round(-2 * (1 - round(t["y_pred"], 3)), 3) == -0.952          # the seed's step from o1 = 0.524
    assert round(t["d_L_d_w1"], 5) == 0.02147                              # the seed's 0.0214 is rounded factors


def test_library_network_holds_the_same_function_and_gradients(rng):
    network = TrainableNeuralNetwork(seed=5)
    model = network.to_sequential()
    data = rng.standard_normal((6, 2)) * 5
    np.testing.assert_allclose(model.predict(data)[:, 0], network.feedforward(data), rtol=1e-14)
    model.compile(loss="mse", optimizer=optim.SGD(0.1))
    model.loss.forward(model.forward(ALICE[None], training=True), np.array([[1.0]]))
    model.backward(model.loss.backward())
    derivatives = network.backprop(ALICE, 1.0)
    kernel1, bias1, kernel2, bias2 = (g for _, g in model.parameters())
    expected = TrainableNeuralNetwork(parameters={n: derivatives[f"d_L_d_{n}"] for n in PARAMETER_NAMES})
    for library, hand in zip((kernel1, bias1, kernel2, bias2), expected.dense_weights()):
        np.testing.assert_allclose(library, hand, rtol=1e-13)


def test_train_prints_the_seed_lines_and_converges():
    data, all_y_trues = datasets.gender(dtype="float64")
    lines = []
    network = TrainableNeuralNetwork(seed=0)
    log = network.train(data, all_y_trues, print_fn=lines.append)
    assert len(lines) == 100 and lines[0] == "Epoch 0 loss: 0.292" and lines[-1] == "Epoch 990 loss: 0.002"
    assert [epoch for epoch, _ in log] == list(range(0, 1000, 10))
    assert round(float(network.feedforward([-7, -3])), 3) == 0.949
    assert round(float(network.feedforward([20, 2])), 3) == 0.040


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_gender_training_converges_for_several_seeds(seed):
    data, all_y_trues = datasets.gender(dtype="float64")
    network = TrainableNeuralNetwork(seed=seed)
    log = network.train(data, all_y_trues, print_every=10, print_fn=lambda line: None)
    assert 0.15 < log[0][1] < 0.6 and log[-1][1] < 0.003
    assert network.feedforward([-7, -3]) > 0.94 and network.feedforward([20, 2]) < 0.06


def test_trainable_network_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"expected parameters named \['w1'.*got \['w1'\]"):
        TrainableNeuralNetwork(parameters={"w1": 1.0})
    with pytest.raises(ValueError, match=r"data of shape \(n, 2\) and all_y_trues of shape \(n,\), got \(4, 3\)"):
        TrainableNeuralNetwork(seed=0).train(np.zeros((4, 3)), np.zeros(4))


def test_exam_network_forward_on_the_seed_weights():
    network = Neural_Network(W1=[[0.2, 0.6, 0.1], [0.8, 0.3, 0.7]], W2=[[0.4], [0.5], [0.9]])
    output = network.forward(np.array([[2.0, 9.0]]))
    np.testing.assert_allclose(network.z, [[7.6, 3.9, 6.5]], rtol=1e-15)
    assert np.round(sigmoid(np.array([7.6, 7.5, 6.5])), 9).tolist() == [0.999499799, 0.999447221, 0.998498818]
    assert round(float(output[0, 0]), 4) == 0.8567
    assert round(float(sigmoid(1.79832)), 10) == 0.8579443067                # the seed's last line


def test_exam_network_backward_is_gradient_descent_on_half_the_squared_error():
    x, y = datasets.exam_scores(dtype="float64")
    network = Neural_Network(seed=1)
    before = [network.W1.copy(), network.W2.copy()]
    network.train(x, y)
    for name, start, after in zip(("W1", "W2"), before, (network.W1, network.W2)):
        probe = Neural_Network(W1=before[0], W2=before[1])
        target = getattr(probe, name)
        half_sse = lambda: 0.5 * float(np.sum((y - probe.forward(x)) ** 2))
        numeric = gradcheck.numerical_gradient(half_sse, target)
        assert gradcheck.relative_error(start - after, numeric) < 1e-8, name


def test_exam_network_trains_and_saves_plain_text(tmp_path):
    x, y = datasets.exam_scores(dtype="float64")
    network = Neural_Network(seed=0)
    first = network.loss(x, y)
    for _ in range(1000):
        network.train(x, y)
    assert network.loss(x, y) < first / 100
    paths = network.saveWeights(tmp_path)
    assert [p.rsplit("/", 1)[-1] for p in map(str, paths)] == ["w1.txt", "w2.txt"]
    assert len(open(paths[0]).read().split()) == 6
    reloaded = Neural_Network.loadWeights(tmp_path)
    assert np.array_equal(reloaded.W1, network.W1) and np.array_equal(reloaded.W2, network.W2)
    with pytest.raises(ValueError, match=r"expected W2 of shape \(3, 1\), got \(3,\)"):
        Neural_Network(W1=np.zeros((2, 3)), W2=np.zeros(3))


def test_seed001_initialisation_and_its_dense_layout():
    weights = init_random_params([784, 500, 500, 10], seed=0)
    assert [w.shape for w in weights] == [(785, 500), (501, 500), (501, 10)]
    np.testing.assert_allclose(weights[0].std(), np.sqrt(2 / 1284), rtol=0.01)
    np.testing.assert_allclose(weights[1].std(), np.sqrt(2 / 1000), rtol=0.01)
    dense = split_bias_rows(weights)
    assert [a.shape for a in dense] == [(784, 500), (500,), (500, 500), (500,), (500, 10), (10,)]
    assert np.array_equal(dense[1], weights[0][0]) and np.array_equal(dense[0], weights[0][1:])
    np.testing.assert_array_equal(init_random_params([3, 2], seed=7)[0], init_random_params([3, 2], seed=7)[0])
