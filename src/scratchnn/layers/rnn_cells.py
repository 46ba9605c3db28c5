"""SimpleRNN, LSTM and GRU: each cell's step and its backward side by side (the loop is in recurrent.py).

Keras's names, defaults and weight layouts: kernel (features, k * units), recurrent_kernel (units, k * units),
the k blocks of ``units`` columns in Keras's gate order (LSTM: i, f, c, o; GRU: z, r, h), so that weights load
from a Keras model as they are. ``xw_t`` is step t's row of x @ kernel + bias, computed for all steps before
the loop; ``h_rec`` is h_{t-1} after recurrent dropout (h_{t-1} itself without it).
"""
from __future__ import annotations

from ..backend import namespace
from .base import register
from .recurrent import RNN


def _tanh(x):
    return namespace(x).tanh(x)


def _sigmoid(x):
    """s(x) = (1 + tanh(x / 2)) / 2, the logistic function: stable (tanh saturates, nothing overflows) and one
    tanh where backend.special.sigmoid takes exp, where and a division. The gates are most of an LSTM step's
    time outside its matrix product (benchmarks/lstm.py prints the split)."""
    return 0.5 * namespace(x).tanh(0.5 * x) + 0.5


def _relu(x):
    return namespace(x).maximum(x, 0)


# name: (f, f' written from the output y = f(z)), as scikit-learn's DERIVATIVES
ACTIVATIONS = {
    "tanh": (_tanh, lambda y: 1 - y * y),
    "sigmoid": (_sigmoid, lambda y: y * (1 - y)),
    "relu": (_relu, lambda y: y > 0),
    "linear": (lambda z: z, lambda y: 1),
}


def activation_pair(name, owner):
    if name not in ACTIVATIONS:
        raise ValueError(f"{owner}: activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


class _GatedRNN(RNN):
    """LSTM and GRU: a recurrent activation (default sigmoid) for the gates."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", **options):
        super().__init__(units, activation=activation, **options)
        self.recurrent_activation_name = recurrent_activation
        self.gate_fn, self.gate_grad = activation_pair(recurrent_activation, type(self).__name__)

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": self.recurrent_activation_name}


@register
class SimpleRNN(RNN):
    """The Elman network: h_t = activation(x_t W + h_{t-1} U + b).

    Args: units; activation ("tanh"); use_bias; kernel_initializer ("glorot_uniform"), recurrent_initializer
    ("orthogonal"), bias_initializer ("zeros"); dropout and recurrent_dropout (fractions of the inputs and of
    h_{t-1} dropped, one mask per sample for all steps); return_sequences (every h_t, (N, T, units), rather
    than the last, (N, units)); return_state (also return the final h); go_backwards (read the steps in
    reverse). Call with ``mask=`` (N, T) booleans and ``initial_state=[h0]``.

    Shapes: kernel (features, units), recurrent_kernel (units, units), bias (units,).
    """

    def step(self, carry, xw_t, recurrent_mask):
        (h_prev,) = carry
        h_rec = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        h = self.activation_fn(xw_t + h_rec @ self.params["recurrent_kernel"])  # h_t = f(x_t W + b + h_{t-1} U)
        return (h,), h, (h_rec, h)

    def step_backward(self, saved, grad_carry, recurrent_mask):
        h_rec, h = saved
        (grad_h,) = grad_carry
        grad_z = grad_h * self.activation_grad(h)                           # dz = dh f'(z)
        grad_h_prev = grad_z @ self.params["recurrent_kernel"].T            # dh_{t-1} = dz U^T
        if recurrent_mask is not None:
            grad_h_prev = grad_h_prev * recurrent_mask
        return (grad_h_prev,), grad_z, grad_z


@register
class LSTM(_GatedRNN):
    r"""Long short-term memory (Hochreiter and Schmidhuber 1997), Keras's gate order i, f, c, o:

        z = x_t W + h_{t-1} U + b                       (N, 4 units), the blocks z_i, z_f, z_c, z_o
        i = s(z_i)   f = s(z_f)   g = a(z_c)   o = s(z_o)       s: recurrent_activation, a: activation
        c_t = f * c_{t-1} + i * g
        h_t = o * a(c_t)

    and, from dh_t and dc_t (what the later steps and the loss send back),

        do = dh_t a(c_t)          dc = dc_t + dh_t o a'(c_t)
        di = dc g   df = dc c_{t-1}   dg = dc i   dc_{t-1} = dc f
        dz = [di s'(z_i), df s'(z_f), dg a'(z_c), do s'(z_o)]      dh_{t-1} = dz U^T

    Args as SimpleRNN's, plus recurrent_activation ("sigmoid") and unit_forget_bias (True: the forget gate's
    bias starts at 1, Jozefowicz et al. 2015, as in Keras). States: [h, c].
    Shapes: kernel (features, 4 units), recurrent_kernel (units, 4 units), bias (4 units,).

    Example::

        >>> import numpy as np
        >>> lstm = LSTM(8, return_sequences=True); lstm.build((5, 3), rng=0)
        (5, 8)
        >>> lstm(np.ones((2, 5, 3), dtype="float32")).shape
        (2, 5, 8)
    """

    gates = 4
    state_names = ("h", "c")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True, **options):
        super().__init__(units, activation, recurrent_activation, **options)
        self.unit_forget_bias = bool(unit_forget_bias)

    def initial_bias(self):
        bias = super().initial_bias()
        if self.unit_forget_bias:
            bias[self.units:2 * self.units] = 1                               # b_f = 1
        return bias

    def step(self, carry, xw_t, recurrent_mask):
        h_prev, c_prev = carry
        u = self.units
        h_rec = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        z = h_rec @ self.params["recurrent_kernel"]
        z += xw_t                                                            # z = x_t W + b + h_{t-1} U
        input_forget = self.gate_fn(z[:, :2 * u])                    # i, f = s(z_i), s(z_f)
        i, f = input_forget[:, :u], input_forget[:, u:]
        g = self.activation_fn(z[:, 2 * u:3 * u])                               # g = a(z_c)
        o = self.gate_fn(z[:, 3 * u:])                               # o = s(z_o)
        c = f * c_prev + i * g                                               # c_t = f c_{t-1} + i g
        a_c = self.activation_fn(c)
        h = o * a_c                                                          # h_t = o a(c_t)
        return (h, c), h, (h_rec, i, f, g, o, c_prev, a_c)

    def step_backward(self, saved, grad_carry, recurrent_mask):
        h_rec, i, f, g, o, c_prev, a_c = saved
        grad_h, grad_c = grad_carry
        u = self.units
        grad_z = namespace(grad_h).empty((grad_h.shape[0], 4 * u), dtype=grad_h.dtype)
        grad_o = grad_h * a_c                                                # do = dh a(c_t)
        grad_c = grad_c + grad_h * o * self.activation_grad(a_c)            # dc = dc_t + dh o a'(c_t)
        grad_z[:, :u] = grad_c * g * self.gate_grad(i)            # dz_i = dc g s'(z_i)
        grad_z[:, u:2 * u] = grad_c * c_prev * self.gate_grad(f)  # dz_f = dc c_{t-1} s'(z_f)
        grad_z[:, 2 * u:3 * u] = grad_c * i * self.activation_grad(g)        # dz_c = dc i a'(z_c)
        grad_z[:, 3 * u:] = grad_o * self.gate_grad(o)            # dz_o = do s'(z_o)
        grad_h_prev = grad_z @ self.params["recurrent_kernel"].T             # dh_{t-1} = dz U^T
        if recurrent_mask is not None:
            grad_h_prev = grad_h_prev * recurrent_mask
        return (grad_h_prev, grad_c * f), grad_z, grad_z                     # dc_{t-1} = dc f

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@register
class GRU(_GatedRNN):
    r"""Gated recurrent unit (Cho et al. 2014) with reset_after=True (Keras's default, cuDNN's and PyTorch's
    form), Keras's gate order z, r, h:

        x_z, x_r, x_h = x_t W + b_in          h_z, h_r, h_h = h_{t-1} U + b_rec       (N, units) each
        z = s(x_z + h_z)   r = s(x_r + h_r)   n = a(x_h + r * h_h)
        h_t = z * h_{t-1} + (1 - z) * n

    and, from dh_t,

        dz = dh_t (h_{t-1} - n)   dn = dh_t (1 - z)   dn_z = dn a'(n)   dr = dn_z h_h
        d(xw) = [dz s'(z), dr s'(r), dn_z]      d(hu) = [dz s'(z), dr s'(r), dn_z r]
        dh_{t-1} = dh_t z + d(hu) U^T

    Args as SimpleRNN's, plus recurrent_activation ("sigmoid") and reset_after (only True: the reset gate
    applied after the recurrent product). States: [h].
    Shapes: kernel (features, 3 units), recurrent_kernel (units, 3 units), bias (2, 3 units): row 0 the input
    bias b_in, row 1 the recurrent bias b_rec (PyTorch's bias_ih and bias_hh, reordered).
    """

    gates = 3
    separate_recurrent_grad = True

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", reset_after=True, **options):
        if reset_after is not True:
            raise ValueError("GRU: only reset_after=True is implemented (Keras's default, PyTorch's and cuDNN's "
                             "form); got reset_after=False")
        super().__init__(units, activation, recurrent_activation, **options)
        self.reset_after = True

    def initial_bias(self):
        return self.bias_initializer((2, 3 * self.units), self.rng, self.dtype)

    def input_bias(self):
        return self.params["bias"][0] if self.use_bias else None

    def step(self, carry, xw_t, recurrent_mask):
        (h_prev,) = carry
        u = self.units
        h_rec = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        hu = h_rec @ self.params["recurrent_kernel"]                         # h_{t-1} U + b_rec
        if self.use_bias:
            hu += self.params["bias"][1]
        update_reset = self.gate_fn(xw_t[:, :2 * u] + hu[:, :2 * u])  # z, r = s(x_z + h_z), s(x_r + h_r)
        z, r = update_reset[:, :u], update_reset[:, u:]
        h_h = hu[:, 2 * u:]
        n = self.activation_fn(xw_t[:, 2 * u:] + r * h_h)                       # n = a(x_h + r h_h)
        h = z * h_prev + (1 - z) * n                                         # h_t = z h_{t-1} + (1 - z) n
        return (h,), h, (h_rec, z, r, n, h_h, h_prev)

    def step_backward(self, saved, grad_carry, recurrent_mask):
        h_rec, z, r, n, h_h, h_prev = saved
        (grad_h,) = grad_carry
        u = self.units
        xp = namespace(grad_h)
        grad_xw = xp.empty((grad_h.shape[0], 3 * u), dtype=grad_h.dtype)
        grad_n = grad_h * (1 - z) * self.activation_grad(n)                  # dn_z = dh (1 - z) a'(n)
        grad_xw[:, :u] = grad_h * (h_prev - n) * self.gate_grad(z)  # dz s'(z)
        grad_xw[:, u:2 * u] = grad_n * h_h * self.gate_grad(r)    # dr s'(r) = dn_z h_h s'(r)
        grad_xw[:, 2 * u:] = grad_n
        grad_hu = xp.empty_like(grad_xw)
        grad_hu[:, :2 * u] = grad_xw[:, :2 * u]
        grad_hu[:, 2 * u:] = grad_n * r                                      # d h_h = dn_z r
        grad_h_rec = grad_hu @ self.params["recurrent_kernel"].T             # d(hu) U^T
        if recurrent_mask is not None:
            grad_h_rec = grad_h_rec * recurrent_mask
        return (grad_h * z + grad_h_rec,), grad_xw, grad_hu                  # dh_{t-1} = dh z + d(hu) U^T

    def bias_grad(self, xp, grad_xw, grad_hu):
        return xp.stack([xp.sum(grad_xw, axis=(0, 1)), xp.sum(grad_hu, axis=(0, 1))])  # [db_in, db_rec]

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}
