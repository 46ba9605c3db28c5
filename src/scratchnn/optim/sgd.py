"""Stochastic gradient descent: seeds 000-004's  w <- w - lr dL/dw, with momentum and weight decay."""
from __future__ import annotations

from typing import Any

from ..backend import kernels_cpu, kernels_optim
from ..backend.namespace import namespace
from .base import LearningRate, Optimizer, _check_fraction


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, Nesterov momentum and L2 weight decay.

    g' = g + weight_decay * p;  v <- momentum * v + g';  d = g' + momentum * v if nesterov else v
    (d = g' without momentum);  p <- p - lr * d.   (torch.optim.SGD with dampening 0; see the package
    docstring for Keras's momentum form.)  Plain SGD is seeds 000-004's  w <- w - lr dL/dw.
    """

    def __init__(self, learning_rate: LearningRate = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, **kwargs) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        self.momentum = _check_fraction("SGD", "momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("SGD: nesterov=True needs a momentum > 0, got momentum=0")

    staged = True                                                            # see Optimizer.step
    work_buffers = 0                                                         # the new parameter is enough

    def create_slots(self, param) -> dict[str, Any]:
        return {"momentum": namespace(param).zeros_like(param)} if self.momentum else {}

    def update(self, param, grad, slots, lr, scratch) -> None:
        xp = namespace(param)
        out = scratch.param
        grad = self.l2_gradient(param, grad, scratch.work)
        direction = grad
        if self.momentum:
            velocity = scratch.slots["momentum"]
            xp.multiply(slots["momentum"], self.momentum, out=velocity)      # v = mu v + g
            velocity += grad
            direction = velocity
            if self.nesterov:
                xp.multiply(velocity, self.momentum, out=out)                # d = g + mu v
                out += grad
                direction = out
        xp.multiply(direction, lr, out=out)                                  # p = p - lr d
        xp.subtract(param, out, out=out)

    def in_place_calls(self, params, grads, lr):
        """The fast path: this step as BLAS calls in place (backend/kernels_optim.py), the same values as
        ``update`` to rounding; None (arrays not NumPy's, a value not proven finite, the "sgd" kernel off
        in ``kernels_cpu.disabled``) runs the staged ``update`` above."""
        if not kernels_cpu.enabled("sgd"):
            return None
        velocities = [slots.get("momentum") for slots in self.slots]
        return kernels_optim.sgd_calls(params, grads, velocities, lr, self.momentum, self.nesterov,
                                       self.weight_decay)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
