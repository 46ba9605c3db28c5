"""Seed 000, the worked partial derivative dL/dw1 for Alice, computed three ways that agree.

All weights 1, all biases 0, Alice = (-2, -1) with y_true = 1, L = (y_true - y_pred)^2:
  1. the seed's chain rule, term by term (scratchnn.tutorial.TrainableNeuralNetwork.backprop), next to
     the seed's arithmetic on paper, which rounds as it goes: that is why the seed finds dL/dypred = -0.952
     and dL/dw1 = 0.0214 where the unrounded values are -0.9526 and 0.02147;
  2. the library: Dense(2, sigmoid), Dense(1, sigmoid), MSE, one backward pass (kernel[0, 0] is w1);
  3. central finite differences (scratchnn.gradcheck).

Run: python examples/seed000_partial_derivative.py
"""
import numpy as np

import scratchnn as snn
from scratchnn import gradcheck, layers
from scratchnn.tutorial import PARAMETER_NAMES, TrainableNeuralNetwork, deriv_sigmoid, sigmoid

ALICE, ALICE_Y = np.array([-2.0, -1.0]), 1.0


def chain_rule():
    """The seed's terms, from the hand-derived network with every weight 1 and every bias 0."""
    network = TrainableNeuralNetwork(parameters={name: 1.0 if name[0] == "w" else 0.0 for name in PARAMETER_NAMES})
    return network.backprop(ALICE, ALICE_Y)


def by_hand(terms):
    """The seed's arithmetic on paper: each step starts from the previous step's rounded value."""
    h1 = round(terms["h1"], 4)
    y_pred = round(sigmoid(h1 + h1), 3)
    d_L_d_ypred = round(-2 * (1 - y_pred), 3)
    d_ypred_d_h1 = round(deriv_sigmoid(h1 + h1), 3)
    d_h1_d_w1 = round(ALICE[0] * deriv_sigmoid(-3.0), 4)
    return {"h1": h1, "y_pred": y_pred, "d_L_d_ypred": d_L_d_ypred, "d_ypred_d_h1": d_ypred_d_h1,
            "d_h1_d_w1": d_h1_d_w1, "d_L_d_w1": round(d_L_d_ypred * d_ypred_d_h1 * d_h1_d_w1, 4)}


def library_model():
    """The same network from library layers, float64, kernels all 1 and biases all 0."""
    model = snn.Sequential([layers.Dense(2, activation="sigmoid"), layers.Dense(1, activation="sigmoid")],
                           input_shape=(2,), dtype="float64")
    model.set_weights([np.ones((2, 2)), np.zeros(2), np.ones((2, 1)), np.zeros(1)])
    model.compile(loss="mse")
    return model


def library_gradient(model):
    """dL/dkernel of the first Dense layer from one forward and backward pass."""
    y_pred = model.forward(ALICE[None], training=True)
    model.loss.forward(y_pred, np.array([[ALICE_Y]]))
    model.backward(model.loss.backward())
    return model.layers[0].grads["kernel"].copy()


def numerical_gradient(model):
    """dL/dkernel of the first Dense layer by central differences."""
    loss = lambda: model.loss.forward(model.forward(ALICE[None]), np.array([[ALICE_Y]]))
    return gradcheck.numerical_gradient(loss, model.layers[0].params["kernel"])


def main(print_fn=print):
    terms = chain_rule()
    model = library_model()
    by_library = library_gradient(model)[0, 0]
    by_differences = numerical_gradient(model)[0, 0]
    errors = gradcheck.check_model(model, ALICE[None], np.array([[ALICE_Y]]))
    paper = by_hand(terms)
    print_fn(f"{'':12}{'by hand (seed)':>16}{'exact':>16}")
    for name, label in (("h1", "h1 = h2"), ("y_pred", "o1 = y_pred"), ("d_L_d_ypred", "dL/dypred"),
                        ("d_ypred_d_h1", "dypred/dh1"), ("d_h1_d_w1", "dh1/dw1"), ("d_L_d_w1", "dL/dw1")):
        print_fn(f"{label:12}{paper[name]:16g}{terms[name]:16.6f}")
    print_fn(f"dL/dw1 by the chain rule          {terms['d_L_d_w1']:.12f}")
    print_fn(f"dL/dw1 by the library (backward)  {by_library:.12f}")
    print_fn(f"dL/dw1 by finite differences      {by_differences:.12f}")
    print_fn("gradcheck relative errors, every array: " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    return {"terms": terms, "by_hand": paper, "library": by_library, "numerical": by_differences, "errors": errors}


if __name__ == "__main__":
    main()
