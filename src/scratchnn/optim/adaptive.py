"""Adaptive optimizers: Adam, AdamW, RMSprop, Adagrad and Nadam, each as torch.optim computes it.

Each keeps per-parameter moving statistics of the gradient (``slots``) and divides the step by a root of
the second moment. Every update is in place, into the slots and the preallocated ``scratch`` buffers, with
the array module of the parameter (``xp = namespace(param)``). All are staged: they write the new
values into the ``Staging`` that ``Optimizer.step`` passes as ``scratch`` (see its docstring).
"""
from __future__ import annotations

import math
from typing import Any

from ..backend.namespace import namespace
from .base import LearningRate, Optimizer, _check_fraction, _check_non_negative


def update_moments(grad, m, v, work, beta_1, beta_2, new_m=None, new_v=None):
    """Adam's and Nadam's moving moments, into new_m and new_v (in place when not given; work is a
    scratch array of grad's shape)."""
    xp = namespace(grad)
    new_m = m if new_m is None else new_m
    new_v = v if new_v is None else new_v
    xp.subtract(grad, m, out=work)                                           # m = m + (1 - b1)(g - m)
    work *= 1.0 - beta_1
    xp.add(m, work, out=new_m)
    xp.multiply(v, beta_2, out=new_v)                                        # v = b2 v + (1 - b2) g^2
    xp.multiply(grad, grad, out=work)
    work *= 1.0 - beta_2
    new_v += work


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2014), as torch.optim.Adam computes it; ``amsgrad`` keeps the running max of v.

    m <- beta_1 m + (1 - beta_1) g;   v <- beta_2 v + (1 - beta_2) g^2   (g + weight_decay * p if set)
    p <- p - lr / (1 - beta_1^t) * m / (sqrt(v) / sqrt(1 - beta_2^t) + epsilon),  t = iterations + 1.
    """

    staged = True                                                            # see Optimizer.step

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, weight_decay: float = 0.0, **kwargs) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        owner = type(self).__name__
        self.beta_1 = _check_fraction(owner, "beta_1", beta_1)
        self.beta_2 = _check_fraction(owner, "beta_2", beta_2)
        self.epsilon = _check_non_negative(owner, "epsilon", epsilon)
        self.amsgrad = bool(amsgrad)

    def create_slots(self, param) -> dict[str, Any]:
        xp = namespace(param)
        slots = {"m": xp.zeros_like(param), "v": xp.zeros_like(param)}
        if self.amsgrad:
            slots["v_max"] = xp.zeros_like(param)
        return slots

    def update(self, param, grad, slots, lr, scratch) -> None:
        xp = namespace(param)
        t = self.iterations + 1
        out, work = scratch.param, scratch.work[0]
        if self.decoupled_weight_decay and self.weight_decay:
            xp.multiply(param, 1.0 - lr * self.weight_decay, out=out)        # p = p (1 - lr wd)   (AdamW)
            old = out
        else:
            old = param
        grad = self.l2_gradient(param, grad, scratch.work)
        m, v = scratch.slots["m"], scratch.slots["v"]
        update_moments(grad, slots["m"], slots["v"], work, self.beta_1, self.beta_2, m, v)
        if self.amsgrad:
            v = xp.maximum(slots["v_max"], v, out=scratch.slots["v_max"])   # v_max = max(v_max, v)
        xp.sqrt(v, out=work)                                                 # denom = sqrt(v)/sqrt(1-b2^t) + eps
        work /= math.sqrt(1.0 - self.beta_2 ** t)
        work += self.epsilon
        xp.divide(m, work, out=work)                                         # p = p - lr/(1-b1^t) m / denom
        work *= lr / (1.0 - self.beta_1 ** t)
        xp.subtract(old, work, out=out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): p <- p (1 - lr weight_decay), then Adam.

    As torch.optim.AdamW and Keras's AdamW; the default weight_decay is Keras's 0.004 (torch's is 0.01).
    """

    decoupled_weight_decay = True

    def __init__(self, learning_rate: LearningRate = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, **kwargs) -> None:
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                         weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), as torch.optim.RMSprop computes it (torch calls rho ``alpha``).

    s <- rho s + (1 - rho) g^2;  centered: a <- rho a + (1 - rho) g, denom = sqrt(s - a^2) + epsilon,
    else denom = sqrt(s) + epsilon;  momentum: b <- momentum b + g / denom, p <- p - lr b;
    else p <- p - lr g / denom.  (Keras puts epsilon inside the square root and lr inside b.)
    """

    staged = True                                                            # see Optimizer.step

    def __init__(self, learning_rate: LearningRate = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, weight_decay: float = 0.0, **kwargs) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        self.rho = _check_fraction("RMSprop", "rho", rho)
        self.momentum = _check_fraction("RMSprop", "momentum", momentum)
        self.epsilon = _check_non_negative("RMSprop", "epsilon", epsilon)
        self.centered = bool(centered)

    def create_slots(self, param) -> dict[str, Any]:
        xp = namespace(param)
        slots = {"square_avg": xp.zeros_like(param)}
        if self.centered:
            slots["grad_avg"] = xp.zeros_like(param)
        if self.momentum:
            slots["momentum"] = xp.zeros_like(param)
        return slots

    def update(self, param, grad, slots, lr, scratch) -> None:
        xp = namespace(param)
        grad = self.l2_gradient(param, grad, scratch.work)
        square_avg, work = scratch.slots["square_avg"], scratch.work[0]
        xp.multiply(slots["square_avg"], self.rho, out=square_avg)          # s = rho s + (1 - rho) g^2
        xp.multiply(grad, grad, out=work)
        work *= 1.0 - self.rho
        square_avg += work
        if self.centered:
            grad_avg = scratch.slots["grad_avg"]
            xp.subtract(grad, slots["grad_avg"], out=work)                   # a = a + (1 - rho)(g - a)
            work *= 1.0 - self.rho
            xp.add(slots["grad_avg"], work, out=grad_avg)
            xp.multiply(grad_avg, grad_avg, out=work)                        # denom = sqrt(s - a^2) + eps
            xp.subtract(square_avg, work, out=work)
            xp.sqrt(work, out=work)
        else:
            xp.sqrt(square_avg, out=work)                                    # denom = sqrt(s) + eps
        work += self.epsilon
        xp.divide(grad, work, out=work)
        if self.momentum:
            buffer = scratch.slots["momentum"]
            xp.multiply(slots["momentum"], self.momentum, out=buffer)        # b = mu b + g / denom
            buffer += work
            xp.multiply(buffer, lr, out=work)                                # p = p - lr b
        else:
            work *= lr                                                       # p = p - lr g / denom
        xp.subtract(param, work, out=scratch.param)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011), as torch.optim.Adagrad (lr_decay 0) computes it.

    s <- s + g^2 (s starts at initial_accumulator_value);  p <- p - lr g / (sqrt(s) + epsilon).
    Keras's defaults (lr 0.001, initial_accumulator_value 0.1, epsilon 1e-7); Keras adds epsilon inside
    the square root.
    """

    staged = True                                                            # see Optimizer.step

    def __init__(self, learning_rate: LearningRate = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, weight_decay: float = 0.0, **kwargs) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        self.initial_accumulator_value = _check_non_negative("Adagrad", "initial_accumulator_value",
                                                             initial_accumulator_value)
        self.epsilon = _check_non_negative("Adagrad", "epsilon", epsilon)

    def create_slots(self, param) -> dict[str, Any]:
        xp = namespace(param)
        return {"accumulator": xp.full_like(param, self.initial_accumulator_value)}

    def update(self, param, grad, slots, lr, scratch) -> None:
        xp = namespace(param)
        grad = self.l2_gradient(param, grad, scratch.work)
        accumulator, work = scratch.slots["accumulator"], scratch.work[0]
        xp.multiply(grad, grad, out=work)                                    # s = s + g^2
        xp.add(slots["accumulator"], work, out=accumulator)
        xp.sqrt(accumulator, out=work)                                       # p = p - lr g / (sqrt(s) + eps)
        work += self.epsilon
        xp.divide(grad, work, out=work)
        work *= lr
        xp.subtract(param, work, out=scratch.param)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat, 2016), as torch.optim.NAdam computes it.

    mu_t = beta_1 (1 - 0.5 * 0.96^(t momentum_decay)), mu_prod_t = mu_1 ... mu_t,  t = iterations + 1;
    m, v as in Adam;  denom = sqrt(v / (1 - beta_2^t)) + epsilon;
    p <- p - lr (1 - mu_t) / (1 - mu_prod_t) g / denom - lr mu_{t+1} / (1 - mu_prod_t mu_{t+1}) m / denom.
    momentum_decay=0.004 is torch's default and Dozat's; Keras 3's Nadam is momentum_decay=1.
    """

    staged = True                                                            # see Optimizer.step

    work_buffers = 2

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, momentum_decay: float = 0.004, weight_decay: float = 0.0,
                 **kwargs) -> None:
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        self.beta_1 = _check_fraction("Nadam", "beta_1", beta_1)
        self.beta_2 = _check_fraction("Nadam", "beta_2", beta_2)
        self.epsilon = _check_non_negative("Nadam", "epsilon", epsilon)
        self.momentum_decay = _check_non_negative("Nadam", "momentum_decay", momentum_decay)
        self.mu_product = 1.0

    def _mu(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))

    def begin_step(self) -> None:
        self.mu_product *= self._mu(self.iterations + 1)                     # mu_prod_t = mu_prod_{t-1} mu_t

    def create_slots(self, param) -> dict[str, Any]:
        xp = namespace(param)
        return {"m": xp.zeros_like(param), "v": xp.zeros_like(param)}

    def update(self, param, grad, slots, lr, scratch) -> None:
        xp = namespace(param)
        t = self.iterations + 1
        mu, mu_next = self._mu(t), self._mu(t + 1)
        grad = self.l2_gradient(param, grad, scratch.work)
        m, v, denom, work = scratch.slots["m"], scratch.slots["v"], scratch.work[0], scratch.work[1]
        update_moments(grad, slots["m"], slots["v"], work, self.beta_1, self.beta_2, m, v)
        xp.divide(v, 1.0 - self.beta_2 ** t, out=denom)                      # denom = sqrt(v / (1-b2^t)) + eps
        xp.sqrt(denom, out=denom)
        denom += self.epsilon
        xp.divide(grad, denom, out=work)                                     # p -= lr (1-mu_t)/(1-prod_t) g/denom
        work *= lr * (1.0 - mu) / (1.0 - self.mu_product)
        xp.subtract(param, work, out=scratch.param)
        xp.divide(m, denom, out=work)                                        # p -= lr mu_t+1/(1-prod_t+1) m/denom
        work *= lr * mu_next / (1.0 - self.mu_product * mu_next)
        xp.subtract(scratch.param, work, out=scratch.param)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "momentum_decay": self.momentum_decay}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "mu_product": self.mu_product}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.mu_product = float(state["mu_product"]) if "mu_product" in state else \
            math.prod(self._mu(t) for t in range(1, self.iterations + 1))
        if not 0 <= self.mu_product <= 1:                     # a product of momenta in [0, 1); NaN fails too
            raise ValueError(f"Nadam: mu_product must be in [0, 1], got {state.get('mu_product')!r}")
