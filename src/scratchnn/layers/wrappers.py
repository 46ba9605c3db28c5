"""Layers that wrap a layer: Bidirectional (a recurrent layer both ways) and TimeDistributed (a layer per step).

A wrapper's ``params`` are its inner layers' arrays themselves (the same objects, so an optimizer step or
set_weights on the wrapper moves the inner layers); its backward runs the inner backward with the inner
gradients zeroed and adds them into its own ``grads``, so the tape rule (used twice: the sum) holds.
"""
from __future__ import annotations

from ..backend import namespace
from ..registry import layer_class
from .base import Layer, register, shape_str

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _layer_config(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def _layer_from_config(entry):
    return entry if isinstance(entry, Layer) else layer_class(entry["class_name"]).from_config(entry["config"])


class Wrapper(Layer):
    def __init__(self, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.inner: dict[str, Layer] = {}          # prefix of the parameter names -> layer

    def build_inner(self, input_shape):
        for prefix, layer in self.inner.items():
            layer.dtype = self.dtype
            layer.build(input_shape, self.rng)
            for key, value in layer.params.items():
                self.params[prefix + key] = value
                self.grads[prefix + key] = namespace(value).zeros_like(value)

    def sync(self):
        """Point the inner layers at the wrapper's arrays and generator (which loading a model file may have
        replaced: the dropout draws then continue from the saved state)."""
        for prefix, layer in self.inner.items():
            layer.rng = self.rng
            for key in layer.params:
                layer.params[key] = self.params[prefix + key]

    def inner_backward(self, prefix, grad_out, input_grad):
        layer = self.inner[prefix]
        layer.zero_grad()
        grad_in = layer.backward(grad_out, input_grad=input_grad)
        for key, grad in layer.grads.items():
            self.accumulate(prefix + key, grad)
        return grad_in

    def clear_cache(self):
        super().clear_cache()
        for layer in self.inner.values():
            layer.clear_cache()


@register
class Bidirectional(Wrapper):
    """A recurrent layer run forwards and a copy of it run backwards in time, their outputs merged.

    Args:
        layer: an unbuilt SimpleRNN, LSTM or GRU (the forward direction).
        merge_mode: "concat" (default; (N, ..., 2 units)), "sum", "mul", "ave", or None (a list of both).
        backward_layer: optional, the backward direction's layer; by default a copy of ``layer``'s config
            with go_backwards flipped. Its sequence output is put back in time order before merging.

    Parameters: ``forward_kernel``, ``forward_recurrent_kernel``, ``forward_bias``, then ``backward_...``
    (Keras's weight order). With return_state the outputs are [merged, *forward states, *backward states].
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", backward_layer=None, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"Bidirectional: merge_mode must be one of {MERGE_MODES}, got {merge_mode!r}")
        self.merge_mode = merge_mode
        forward = _layer_from_config(layer)
        if not hasattr(forward, "go_backwards"):
            raise ValueError(f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU), got "
                             f"{type(forward).__name__}")
        if backward_layer is None:
            config = {**forward.get_config(), "go_backwards": not forward.go_backwards,
                      "name": "backward_" + forward.name}
            backward = type(forward).from_config(config)
            forward.name = "forward_" + forward.name
        else:
            backward = _layer_from_config(backward_layer)
        self.forward_layer, self.backward_layer = forward, backward
        self.return_sequences, self.return_state = forward.return_sequences, forward.return_state
        for inner in (forward, backward):
            inner.zero_output_for_mask = self.return_sequences           # Keras: padded steps output 0
        self.inner = {"forward_": forward, "backward_": backward}
        self._custom_backward = backward_layer is not None

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        if self.merge_mode == "concat":
            return (*shape[:-1], 2 * shape[-1])
        return tuple(shape)

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        self.build_inner(input_shape)
        return self.output_shape

    def __call__(self, x, training=False, mask=None, initial_state=None):
        if mask is None and initial_state is None:          # also a call on a symbolic tensor (a functional model)
            return super().__call__(x, training=training)
        if not self.built:
            self.build(tuple(x.shape[1:]))
        return self.forward(x, training=training, mask=mask, initial_state=initial_state)

    def forward(self, x, training=False, mask=None, initial_state=None):
        """initial_state: the forward layer's states then the backward layer's."""
        self.check_input(x)
        self.sync()
        xp = namespace(x)
        half = len(self.forward_layer.state_names)
        states = (None, None) if initial_state is None else (initial_state[:half], initial_state[half:])
        y_f = self.forward_layer.forward(x, training=training, mask=mask, initial_state=states[0])
        y_b = self.backward_layer.forward(x, training=training, mask=mask, initial_state=states[1])
        states_f = states_b = []
        if self.return_state:
            (y_f, *states_f), (y_b, *states_b) = y_f, y_b
        if self.return_sequences:
            y_b = xp.flip(y_b, axis=1)                                       # back in time order
        self.remember(training, y_f, y_b, initial_state is not None)
        if self.merge_mode == "concat":
            y = xp.concatenate([y_f, y_b], axis=-1)
        elif self.merge_mode == "sum":
            y = y_f + y_b
        elif self.merge_mode == "mul":
            y = y_f * y_b
        elif self.merge_mode == "ave":
            y = (y_f + y_b) / 2
        else:
            y = [y_f, y_b]
        return [*(y if self.merge_mode is None else [y]), *states_f, *states_b] if self.return_state else y

    def backward(self, grad_out, input_grad=True):
        y_f, y_b, had_initial_state = self.recall()
        xp = namespace(y_f)
        half = len(self.forward_layer.state_names)
        outputs = 2 if self.merge_mode is None else 1
        grad_states = [None] * (2 * half)
        if self.return_state:
            grad_out, grad_states = list(grad_out[:outputs]), list(grad_out[outputs:])
            grad_out = grad_out if self.merge_mode is None else grad_out[0]
        if self.merge_mode == "concat":
            units = y_f.shape[-1]
            grad_f, grad_b = grad_out[..., :units], grad_out[..., units:]
        elif self.merge_mode == "sum":
            grad_f = grad_b = grad_out
        elif self.merge_mode == "mul":
            grad_f, grad_b = grad_out * y_b, grad_out * y_f                   # d(y_f y_b)
        elif self.merge_mode == "ave":
            grad_f = grad_b = grad_out / 2
        else:
            grad_f, grad_b = grad_out
        if self.return_sequences and grad_b is not None:
            grad_b = xp.flip(grad_b, axis=1)
        if self.return_state:
            grad_f, grad_b = [grad_f, *grad_states[:half]], [grad_b, *grad_states[half:]]
        back = self.inner_backward("backward_", grad_b, input_grad)          # the later forward call first
        front = self.inner_backward("forward_", grad_f, input_grad)
        if had_initial_state:
            (front, *states_f), (back, *states_b) = front, back
        grad_x = None if not input_grad else front + back                   # x feeds both directions
        return [grad_x, *states_f, *states_b] if had_initial_state else grad_x

    def compute_mask(self, x, mask=None):
        return mask if self.return_sequences else None

    def get_config(self):
        config = {**super().get_config(), "layer": _layer_config(self.forward_layer), "merge_mode": self.merge_mode}
        config["layer"]["config"]["name"] = self.forward_layer.name.removeprefix("forward_")
        if self._custom_backward:
            config["backward_layer"] = _layer_config(self.backward_layer)
        return config


@register
class TimeDistributed(Wrapper):
    """The same layer applied to every time step: (N, T, ...) -> (N, T, *layer's output), one weight set.

    The steps are folded into the batch axis, (N T, ...), for one call of the inner layer: its forward and
    backward run once for all steps (the gradients summed over steps as over samples). Parameters: the
    inner layer's, under its names.
    """

    supports_masking = True

    def __init__(self, layer, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.layer = _layer_from_config(layer)
        self.inner = {"": self.layer}
        self.input_kind = self.layer.input_kind

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"TimeDistributed expected input of shape (N, timesteps, ...), got "
                             f"{shape_str(tuple(input_shape))}")
        return (input_shape[0], *self.layer.compute_output_shape(input_shape[1:]))

    def build(self, input_shape, rng=None):
        super().build(input_shape, rng)
        self.build_inner(input_shape[1:])
        return self.output_shape

    def forward(self, x, training=False, mask=None):
        self.check_input(x)
        self.sync()
        xp = namespace(x)
        n, steps = x.shape[0], x.shape[1]
        y = self.layer.forward(xp.reshape(x, (n * steps, *x.shape[2:])), training=training)   # steps as samples
        return xp.reshape(y, (n, steps, *y.shape[1:]))

    def backward(self, grad_out, input_grad=True):
        xp = namespace(grad_out)
        n, steps = grad_out.shape[0], grad_out.shape[1]
        grad_in = self.inner_backward("", xp.reshape(grad_out, (n * steps, *grad_out.shape[2:])), input_grad)
        return None if grad_in is None else xp.reshape(grad_in, (n, steps, *grad_in.shape[1:]))

    def compute_mask(self, x, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), "layer": _layer_config(self.layer)}
