"""The loop over time that SimpleRNN, LSTM and GRU share (their cells are in rnn_cells.py).

Backpropagation through time, written plainly. Inputs are channels-last, x of shape (N, T, features). The
forward pass is

    xw = x @ kernel + bias                          one matrix product for all T steps, before the loop
    for t in 0 .. T-1:                              (T-1 .. 0 with go_backwards)
        carry, y_t = step(carry, xw_t)              the cell: h (and c for an LSTM) from h_{t-1}, xw_t

and the backward pass walks the same steps in reverse order, each step's ``step_backward`` beside its
``step``:

    for t in T-1 .. 0:
        grad_carry, grad_xw_t, grad_hu_t = step_backward(saved_t, grad_carry + dLoss/dy_t)
    d kernel = x^T grad_xw,  d recurrent_kernel = h_{t-1}^T grad_hu     one product each, after the loop
    dx = grad_xw @ kernel^T                                            one product for all steps

``hu`` is the recurrent product h_{t-1} @ recurrent_kernel (+ the recurrent bias of a GRU). With a mask
(N, T) of booleans, a padded step (mask False) keeps the carry as it was, ``carry = where(mask_t, new,
old)``, so it gets zero gradient and its output is the carried h (or 0 under ``zero_output_for_mask``,
which Bidirectional sets when it returns sequences, as Keras does). Dropout draws one mask per sample for
the inputs and one for the recurrent state, the same at every step (Keras's recurrent dropout, Gal and
Ghahramani 2016).
"""
from __future__ import annotations

from .. import backend, initializers
from ..backend import namespace
from ..validation import check_number
from .base import Layer, check_positive_int, shape_str


class RNN(Layer):
    """Base of SimpleRNN, LSTM and GRU: the loop, masks, dropout, states. A subclass gives ``gates`` (how
    many blocks of ``units`` columns the kernels have), ``state_names`` and its cell: ``step``,
    ``step_backward`` and the bias shape."""

    gates = 1
    state_names: tuple[str, ...] = ("h",)
    supports_masking = True

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, name=None, dtype=None,
                 trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        owner = type(self).__name__
        self.units = check_positive_int("units", units, owner)
        from .rnn_cells import activation_pair
        self.activation_name = activation
        self.activation_fn, self.activation_grad = activation_pair(activation, owner)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dropout = check_number("dropout", dropout, owner, 0, 1, high_open=True)
        self.recurrent_dropout = check_number("recurrent_dropout", recurrent_dropout, owner, 0, 1, high_open=True)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.zero_output_for_mask = False

    # ---- shapes and weights --------------------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{type(self).__name__} expected input of shape (N, timesteps, features), got "
                             f"{shape_str(tuple(input_shape))}" + (": add a feature axis, x[..., None]"
                                                                   if len(input_shape) == 1 else ""))
        steps = input_shape[0]
        if steps < 1:
            raise ValueError(f"{type(self).__name__} needs at least one time step, got (N, 0, {input_shape[1]})")
        return (steps, self.units) if self.return_sequences else (self.units,)

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        width = self.gates * self.units
        self.add_param("kernel", self.kernel_initializer((input_shape[-1], width), self.rng, self.dtype))
        self.add_param("recurrent_kernel", self.recurrent_initializer((self.units, width), self.rng, self.dtype))
        if self.use_bias:
            self.add_param("bias", self.initial_bias())
        return self.output_shape

    def check_input(self, x):
        """Any number of steps (a model built for T steps can read one step at a time); the features fixed."""
        if x.ndim != 3 or x.shape[2] != self.input_shape[1] or x.shape[1] < 1:
            raise ValueError(f"{self.describe()} expected input of shape (N, timesteps, {self.input_shape[1]}), "
                             f"got {shape_str(tuple(x.shape[1:]))}")

    def initial_bias(self):
        return self.bias_initializer((self.gates * self.units,), self.rng, self.dtype)

    def input_bias(self):
        """The bias added to x @ kernel (all of it, but for GRU's reset_after recurrent half)."""
        return self.params["bias"] if self.use_bias else None

    # ---- forward and backward ------------------------------------------------------------------------
    def __call__(self, x, training=False, mask=None, initial_state=None):
        if mask is None and initial_state is None:          # also a call on a symbolic tensor (a functional model)
            return super().__call__(x, training=training)
        if not self.built:
            self.build(tuple(x.shape[1:]), backend.make_rng(None))
        return self.forward(x, training=training, mask=mask, initial_state=initial_state)

    def dropout_mask(self, xp, shape, rate, dtype):
        keep = self.rng.random(shape, dtype=dtype) >= rate                  # mask ~ Bernoulli(1 - rate)
        return xp.asarray(keep * dtype.type(1 / (1 - rate)), dtype=dtype)   # inverted dropout: / (1 - rate)

    def forward(self, x, training=False, mask=None, initial_state=None):
        """x (N, T, features) -> the last h (N, units), or every h (N, T, units) with return_sequences; with
        return_state, the list [output, *final states]. mask: (N, T) booleans (False: a padded step).
        initial_state: a list of (N, units) arrays (h, and c for an LSTM); zeros when not given."""
        self.check_input(x)
        xp = namespace(x)
        n, steps = x.shape[0], x.shape[1]
        dtype = x.dtype
        input_mask = recurrent_mask = None
        if training and self.dropout > 0:
            input_mask = self.dropout_mask(xp, (n, x.shape[2]), self.dropout, dtype)
            x = x * input_mask[:, None, :]                                  # the same dropped features each step
        if training and self.recurrent_dropout > 0:
            recurrent_mask = self.dropout_mask(xp, (n, self.units), self.recurrent_dropout, dtype)
        x_time = xp.moveaxis(x, 1, 0)                                        # (T, N, features): step t is x_time[t]
        keep = None if mask is None else xp.moveaxis(xp.asarray(mask, dtype=bool), 1, 0)[..., None]
        if self.go_backwards:
            x_time = xp.flip(x_time, axis=0)
            keep = None if keep is None else xp.flip(keep, axis=0)
        xw = x_time @ self.params["kernel"]                                  # xw = x @ W for every step at once
        bias = self.input_bias()
        if bias is not None:
            xw += bias
        carry = self.initial_carry(xp, n, dtype, initial_state)
        outputs = xp.empty((steps, n, self.units), dtype=dtype) if self.return_sequences else None
        saved = []
        for t in range(steps):
            new_carry, y_t, cache = self.step(carry, xw[t], recurrent_mask)
            if keep is not None:                                             # a padded step keeps the carry
                new_carry = tuple(xp.where(keep[t], new, old) for new, old in zip(new_carry, carry))
                y_t = xp.where(keep[t], y_t, 0 if self.zero_output_for_mask else new_carry[0])
            saved.append(cache)
            carry = new_carry
            if outputs is not None:
                outputs[t] = y_t
        self.remember(training, x_time, keep, saved, input_mask, recurrent_mask, initial_state is not None)
        output = xp.moveaxis(outputs, 0, 1) if outputs is not None else carry[0]
        return [output, *carry] if self.return_state else output

    def initial_carry(self, xp, n, dtype, initial_state):
        if initial_state is None:
            return tuple(xp.zeros((n, self.units), dtype=dtype) for _ in self.state_names)
        states = [initial_state] if not isinstance(initial_state, (list, tuple)) else list(initial_state)
        if len(states) != len(self.state_names) or any(tuple(s.shape) != (n, self.units) for s in states):
            raise ValueError(f"{self.describe()}: initial_state should be {len(self.state_names)} array(s) "
                             f"({', '.join(self.state_names)}) of shape ({n}, {self.units}), got "
                             f"{[tuple(s.shape) for s in states]}")
        return tuple(xp.asarray(s, dtype=dtype) for s in states)

    def backward(self, grad_out, input_grad=True):
        """grad_out: dLoss/doutput, or with return_state a list [d output, *d states] (None for zeros).
        Returns dLoss/dx, or [dLoss/dx, *dLoss/dinitial_state] when the forward was given initial_state."""
        x_time, keep, saved, input_mask, recurrent_mask, had_initial_state = self.recall()
        if self.return_state:
            grad_out, *grad_states = grad_out
        else:
            grad_states = [None] * len(self.state_names)
        xp = namespace(x_time)
        steps, n = x_time.shape[0], x_time.shape[1]
        dtype = x_time.dtype
        grad_carry = tuple(xp.zeros((n, self.units), dtype=dtype) if g is None else xp.asarray(g, dtype=dtype)
                           for g in grad_states)
        grad_y = None if grad_out is None else xp.moveaxis(xp.asarray(grad_out, dtype=dtype), 1, 0) \
            if self.return_sequences else grad_out
        if grad_y is not None and not self.return_sequences:              # only the last output: dLoss/dh_T
            grad_carry = (grad_carry[0] + grad_y, *grad_carry[1:])
        width = self.gates * self.units
        grad_xw = xp.empty((steps, n, width), dtype=dtype)
        grad_hu = xp.empty((steps, n, width), dtype=dtype) if self.separate_recurrent_grad else grad_xw
        h_recurrent = xp.empty((steps, n, self.units), dtype=dtype)
        for t in range(steps - 1, -1, -1):
            if grad_y is not None and self.return_sequences:
                g_y = grad_y[t] if keep is None or not self.zero_output_for_mask else grad_y[t] * keep[t]
                grad_carry = (grad_carry[0] + g_y, *grad_carry[1:])
            if keep is not None:                                             # a padded step passes it straight on
                passed = tuple(xp.where(keep[t], 0, g) for g in grad_carry)
                grad_carry = tuple(xp.where(keep[t], g, 0) for g in grad_carry)
            grad_prev, grad_xw[t], grad_hu_t = self.step_backward(saved[t], grad_carry, recurrent_mask)
            h_recurrent[t] = saved[t][0]                                     # what multiplied the recurrent kernel
            if grad_hu is not grad_xw:
                grad_hu[t] = grad_hu_t
            grad_carry = grad_prev if keep is None else tuple(a + b for a, b in zip(grad_prev, passed))
        rows_x = xp.reshape(x_time, (steps * n, x_time.shape[2]))
        self.accumulate("kernel", rows_x.T @ xp.reshape(grad_xw, (steps * n, width)))      # dW = x^T dxw
        self.accumulate("recurrent_kernel", xp.reshape(h_recurrent, (steps * n, self.units)).T
                        @ xp.reshape(grad_hu, (steps * n, width)))                          # dU = h_{t-1}^T dhu
        if self.use_bias:
            self.accumulate("bias", self.bias_grad(xp, grad_xw, grad_hu))
        grad_x = None
        if input_grad:
            grad_x = grad_xw @ self.params["kernel"].T                       # dx = dxw @ W^T, every step at once
            if self.go_backwards:
                grad_x = xp.flip(grad_x, axis=0)
            grad_x = xp.moveaxis(grad_x, 0, 1)
            if input_mask is not None:
                grad_x = grad_x * input_mask[:, None, :]
            grad_x = xp.ascontiguousarray(grad_x)
        return [grad_x, *grad_carry] if had_initial_state else grad_x

    separate_recurrent_grad = False       # True where d(hu) differs from d(xw) (GRU with reset_after)

    def bias_grad(self, xp, grad_xw, grad_hu):
        return xp.sum(grad_xw, axis=(0, 1))                                  # db = sum over steps and samples

    def compute_mask(self, x, mask=None):
        """The mask of the output: the input's for sequences, none for the last step only."""
        return mask if self.return_sequences else None

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation_name,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
            if key in config:
                config[key] = initializers.deserialize(config[key])
        return cls(**config)
