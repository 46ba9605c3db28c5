"""Optimizers: update (param, grad) pairs in place, keeping their state per parameter.

An optimizer is handed ``model.parameters()`` (a list of (param, grad) pairs, always in the same order)
at every step. ``slots[i]`` holds the state arrays of parameter i (momentum, moments, ...), created on
the first step; ``iterations`` counts the steps taken. Both go into the model file (``state_dict``).

Names and defaults are Keras's; the arithmetic is torch.optim's (2.13), so that the same gradients give
the same parameters to 1e-10 in float64. Where the two differ:
- Adam, Nadam, RMSprop, Adagrad: epsilon is added to the bias-corrected sqrt(v) (torch), not to the raw
  sqrt(v) (Keras's "epsilon hat"); RMSprop and Adagrad add it outside the square root, Keras inside.
- SGD momentum: v = momentum * v + g; p -= lr * v (torch). Keras keeps v = momentum * v - lr * g;
  p += v. The two agree while the learning rate is constant and differ when a schedule changes it.
- weight_decay adds weight_decay * p to the gradient (torch's L2 form) in SGD, Adam, RMSprop, Adagrad and
  Nadam; AdamW decays the parameter itself, p -= lr * weight_decay * p (torch and Keras alike).
- Nadam: torch's momentum schedule mu_t = beta_1 * (1 - 0.5 * 0.96 ** (t * momentum_decay)) with
  momentum_decay = 0.004 (Dozat's paper, Keras 2); Keras 3 uses 0.96 ** t, i.e. momentum_decay = 1.
- Clipping: clipnorm scales each gradient by min(1, clipnorm / (norm + 1e-6)) and global_clipnorm all
  of them by min(1, global_clipnorm / (global norm + 1e-6)), as torch.nn.utils.clip_grad_norm_ does
  (Keras has no 1e-6); clipvalue clamps to [-clipvalue, clipvalue]. Only one of the three may be set
  (Keras's rule). Clipping rewrites the gradient arrays in place, as torch's clip functions do.

The learning rate is a float (a plain attribute a callback may set) or a schedule from
``scratchnn.schedules``, evaluated at ``iterations`` before each step.
"""
import math
import numbers

import numpy as np

from . import schedules


def _check_lr(owner, learning_rate):
    if callable(learning_rate):
        return learning_rate
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) or not learning_rate > 0:
        raise ValueError(f"{owner}: learning_rate must be a positive number or a schedule, got {learning_rate!r}")
    return float(learning_rate)


def _check_fraction(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{owner}: {name} must be in [0, 1), got {value!r}")
    return float(value)


def _check_non_negative(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{owner}: {name} must be a number >= 0, got {value!r}")
    return float(value)


def _clip_coefficient(norm, max_norm):
    return min(1.0, max_norm / (norm + 1e-6))          # torch: max_norm / (norm + 1e-6), at most 1


class Optimizer:
    """Base class: clipping, the learning rate (a float or a schedule of the step) and the state.

    A subclass writes ``create_slots(param)`` (its state arrays for one parameter) and
    ``update(param, grad, slots, lr, scratch)``, which changes ``param`` in place; ``scratch`` holds
    ``work_buffers`` preallocated arrays shaped like param (plus one for the L2 weight-decay gradient),
    so that a step allocates no parameter-sized temporaries.
    """

    work_buffers = 1
    decoupled_weight_decay = False

    def __init__(self, learning_rate=0.01, clipnorm=None, clipvalue=None, global_clipnorm=None, weight_decay=0.0):
        owner = type(self).__name__
        self.learning_rate = _check_lr(owner, learning_rate)
        clipping = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        for name, value in clipping.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real) or
                                      not value > 0):
                raise ValueError(f"{owner}: {name} must be a positive number or None, got {value!r}")
        chosen = [name for name, value in clipping.items() if value is not None]
        if len(chosen) > 1:
            raise ValueError(f"{owner}: set at most one of clipnorm, clipvalue and global_clipnorm, got {chosen}")
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.weight_decay = _check_non_negative(owner, "weight_decay", weight_decay)
        self.iterations = 0
        self.slots = []
        self._scratch = []

    def current_learning_rate(self):
        lr = self.learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    def clip(self, grads):
        """Clip the gradients in place (clipvalue, clipnorm per parameter or global_clipnorm); return them."""
        if self.clipvalue is not None:
            for grad in grads:
                np.clip(grad, -self.clipvalue, self.clipvalue, out=grad)
        elif self.clipnorm is not None:
            for grad in grads:
                coefficient = _clip_coefficient(float(np.linalg.norm(grad)), self.clipnorm)
                if coefficient < 1.0:
                    grad *= coefficient                                   # g <- g * clipnorm / (||g|| + 1e-6)
        elif self.global_clipnorm is not None:
            total = math.sqrt(sum(float(np.linalg.norm(grad)) ** 2 for grad in grads))
            coefficient = _clip_coefficient(total, self.global_clipnorm)
            if coefficient < 1.0:
                for grad in grads:
                    grad *= coefficient                                   # g <- g * clip / (sqrt(sum ||g||^2) + 1e-6)
        return grads

    def step(self, parameters):
        """One update of every (param, grad) pair, in place."""
        parameters = list(parameters)
        params = [p for p, _ in parameters]
        grads = self.clip([g for _, g in parameters])
        if not self.slots:
            self.slots = [self.create_slots(p) for p in params]
        count = self.work_buffers + (self.weight_decay > 0 and not self.decoupled_weight_decay)
        if len(self._scratch) != len(params) or any(len(buffers) != count for buffers in self._scratch[:1]):
            self._check_slots(params)
            self._scratch = [np.empty((count, *p.shape), dtype=p.dtype) for p in params]
        lr = self.current_learning_rate()
        self.begin_step()
        for param, grad, slots, scratch in zip(params, grads, self.slots, self._scratch):
            self.update(param, grad, slots, lr, scratch)
        self.iterations += 1

    def _check_slots(self, params):
        owner = type(self).__name__
        if len(self.slots) != len(params):
            raise ValueError(f"{owner} holds state for {len(self.slots)} parameters but was given {len(params)}: "
                             "an optimizer steps the parameters of one model; create a new one for another")
        for i, (param, slots) in enumerate(zip(params, self.slots)):
            expected = sorted(self.create_slots(np.empty(0, param.dtype)))
            if sorted(slots) != expected:
                raise ValueError(f"{owner}: the state of parameter {i} holds {sorted(slots)}, but this optimizer "
                                 f"keeps {expected}: load the state of an optimizer with the same settings")
            for name, array in slots.items():
                if array.shape != param.shape:
                    raise ValueError(f"{owner}: state {name!r} of parameter {i} has shape {array.shape}, "
                                     f"but the parameter has shape {param.shape}")
                slots[name] = array.astype(param.dtype, copy=False)

    def begin_step(self):
        """Hook for state shared by all parameters (Nadam's momentum product)."""

    def create_slots(self, param):
        return {}

    def update(self, param, grad, slots, lr, scratch):
        raise NotImplementedError

    def l2_gradient(self, param, grad, scratch):
        """g + weight_decay * p in the last scratch buffer (torch's weight_decay), or g itself."""
        if self.weight_decay == 0 or self.decoupled_weight_decay:
            return grad
        decayed = scratch[-1]
        np.multiply(param, self.weight_decay, out=decayed)                  # g' = g + wd * p
        decayed += grad
        return decayed

    def get_config(self):
        """The constructor arguments; a schedule as {"class_name", "config"} (a plain function stays as is)."""
        lr = self.learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        return {"learning_rate": lr, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
                "weight_decay": self.weight_decay}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def state_dict(self):
        """{"iterations": int, "slots": [{name: array}, ...]} (copies), plus any shared state."""
        return {"iterations": self.iterations, "slots": [{k: a.copy() for k, a in s.items()} for s in self.slots]}

    def load_state_dict(self, state):
        self.iterations = int(state["iterations"])
        self.slots = [{k: np.array(a, copy=True) for k, a in s.items()} for s in state["slots"]]
        self._scratch = []

    def __repr__(self):
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()) + ")"


def update_moments(grad, m, v, work, beta_1, beta_2):
    """Adam's and Nadam's moving moments, in place (work is a scratch array of grad's shape)."""
    np.subtract(grad, m, out=work)                                           # m = m + (1 - b1)(g - m)
    work *= 1.0 - beta_1
    m += work
    v *= beta_2                                                              # v = b2 v + (1 - b2) g^2
    np.multiply(grad, grad, out=work)
    work *= 1.0 - beta_2
    v += work


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, Nesterov momentum and L2 weight decay.

    g' = g + weight_decay * p;  v <- momentum * v + g';  d = g' + momentum * v if nesterov else v
    (d = g' without momentum);  p <- p - lr * d.   (torch.optim.SGD with dampening 0; see the module
    docstring for Keras's momentum form.)  Plain SGD is seeds 000-004's  w <- w - lr dL/dw.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        self.momentum = _check_fraction("SGD", "momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("SGD: nesterov=True needs a momentum > 0, got momentum=0")

    def create_slots(self, param):
        return {"momentum": np.zeros_like(param)} if self.momentum else {}

    def update(self, param, grad, slots, lr, scratch):
        work = scratch[0]
        grad = self.l2_gradient(param, grad, scratch)
        direction = grad
        if self.momentum:
            velocity = slots["momentum"]
            velocity *= self.momentum                                        # v = mu v + g
            velocity += grad
            direction = velocity
            if self.nesterov:
                np.multiply(velocity, self.momentum, out=work)               # d = g + mu v
                work += grad
                direction = work
        np.multiply(direction, lr, out=work)                                 # p = p - lr d
        param -= work

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2014), as torch.optim.Adam computes it; ``amsgrad`` keeps the running max of v.

    m <- beta_1 m + (1 - beta_1) g;   v <- beta_2 v + (1 - beta_2) g^2   (g + weight_decay * p if set)
    p <- p - lr / (1 - beta_1^t) * m / (sqrt(v) / sqrt(1 - beta_2^t) + epsilon),  t = iterations + 1.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=0.0, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        owner = type(self).__name__
        self.beta_1 = _check_fraction(owner, "beta_1", beta_1)
        self.beta_2 = _check_fraction(owner, "beta_2", beta_2)
        self.epsilon = _check_non_negative(owner, "epsilon", epsilon)
        self.amsgrad = bool(amsgrad)

    def create_slots(self, param):
        slots = {"m": np.zeros_like(param), "v": np.zeros_like(param)}
        if self.amsgrad:
            slots["v_max"] = np.zeros_like(param)
        return slots

    def update(self, param, grad, slots, lr, scratch):
        t = self.iterations + 1
        if self.decoupled_weight_decay and self.weight_decay:
            param *= 1.0 - lr * self.weight_decay                            # p = p (1 - lr wd)   (AdamW)
        grad = self.l2_gradient(param, grad, scratch)
        m, v, work = slots["m"], slots["v"], scratch[0]
        update_moments(grad, m, v, work, self.beta_1, self.beta_2)
        if self.amsgrad:
            v = np.maximum(slots["v_max"], v, out=slots["v_max"])           # v_max = max(v_max, v)
        np.sqrt(v, out=work)                                                 # denom = sqrt(v)/sqrt(1-b2^t) + eps
        work /= math.sqrt(1.0 - self.beta_2 ** t)
        work += self.epsilon
        np.divide(m, work, out=work)                                         # p = p - lr/(1-b1^t) m / denom
        work *= lr / (1.0 - self.beta_1 ** t)
        param -= work

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): p <- p (1 - lr weight_decay), then Adam.

    As torch.optim.AdamW and Keras's AdamW; the default weight_decay is Keras's 0.004 (torch's is 0.01).
    """

    decoupled_weight_decay = True

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                         weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), as torch.optim.RMSprop computes it (torch calls rho ``alpha``).

    s <- rho s + (1 - rho) g^2;  centered: a <- rho a + (1 - rho) g, denom = sqrt(s - a^2) + epsilon,
    else denom = sqrt(s) + epsilon;  momentum: b <- momentum b + g / denom, p <- p - lr b;
    else p <- p - lr g / denom.  (Keras puts epsilon inside the square root and lr inside b.)
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=0.0, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        self.rho = _check_fraction("RMSprop", "rho", rho)
        self.momentum = _check_fraction("RMSprop", "momentum", momentum)
        self.epsilon = _check_non_negative("RMSprop", "epsilon", epsilon)
        self.centered = bool(centered)

    def create_slots(self, param):
        slots = {"square_avg": np.zeros_like(param)}
        if self.centered:
            slots["grad_avg"] = np.zeros_like(param)
        if self.momentum:
            slots["momentum"] = np.zeros_like(param)
        return slots

    def update(self, param, grad, slots, lr, scratch):
        grad = self.l2_gradient(param, grad, scratch)
        square_avg, work = slots["square_avg"], scratch[0]
        square_avg *= self.rho                                               # s = rho s + (1 - rho) g^2
        np.multiply(grad, grad, out=work)
        work *= 1.0 - self.rho
        square_avg += work
        if self.centered:
            grad_avg = slots["grad_avg"]
            np.subtract(grad, grad_avg, out=work)                            # a = a + (1 - rho)(g - a)
            work *= 1.0 - self.rho
            grad_avg += work
            np.multiply(grad_avg, grad_avg, out=work)                        # denom = sqrt(s - a^2) + eps
            np.subtract(square_avg, work, out=work)
            np.sqrt(work, out=work)
        else:
            np.sqrt(square_avg, out=work)                                    # denom = sqrt(s) + eps
        work += self.epsilon
        np.divide(grad, work, out=work)
        if self.momentum:
            buffer = slots["momentum"]
            buffer *= self.momentum                                          # b = mu b + g / denom
            buffer += work
            np.multiply(buffer, lr, out=work)                                # p = p - lr b
        else:
            work *= lr                                                       # p = p - lr g / denom
        param -= work

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011), as torch.optim.Adagrad (lr_decay 0) computes it.

    s <- s + g^2 (s starts at initial_accumulator_value);  p <- p - lr g / (sqrt(s) + epsilon).
    Keras's defaults (lr 0.001, initial_accumulator_value 0.1, epsilon 1e-7); Keras adds epsilon inside
    the square root.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=0.0,
                 **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        self.initial_accumulator_value = _check_non_negative("Adagrad", "initial_accumulator_value",
                                                             initial_accumulator_value)
        self.epsilon = _check_non_negative("Adagrad", "epsilon", epsilon)

    def create_slots(self, param):
        return {"accumulator": np.full_like(param, self.initial_accumulator_value)}

    def update(self, param, grad, slots, lr, scratch):
        grad = self.l2_gradient(param, grad, scratch)
        accumulator, work = slots["accumulator"], scratch[0]
        np.multiply(grad, grad, out=work)                                    # s = s + g^2
        accumulator += work
        np.sqrt(accumulator, out=work)                                       # p = p - lr g / (sqrt(s) + eps)
        work += self.epsilon
        np.divide(grad, work, out=work)
        work *= lr
        param -= work

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat, 2016), as torch.optim.NAdam computes it.

    mu_t = beta_1 (1 - 0.5 * 0.96^(t momentum_decay)), mu_prod_t = mu_1 ... mu_t,  t = iterations + 1;
    m, v as in Adam;  denom = sqrt(v / (1 - beta_2^t)) + epsilon;
    p <- p - lr (1 - mu_t) / (1 - mu_prod_t) g / denom - lr mu_{t+1} / (1 - mu_prod_t mu_{t+1}) m / denom.
    momentum_decay=0.004 is torch's default and Dozat's; Keras 3's Nadam is momentum_decay=1.
    """

    work_buffers = 2

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, momentum_decay=0.004,
                 weight_decay=0.0, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)
        self.beta_1 = _check_fraction("Nadam", "beta_1", beta_1)
        self.beta_2 = _check_fraction("Nadam", "beta_2", beta_2)
        self.epsilon = _check_non_negative("Nadam", "epsilon", epsilon)
        self.momentum_decay = _check_non_negative("Nadam", "momentum_decay", momentum_decay)
        self.mu_product = 1.0

    def _mu(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))

    def begin_step(self):
        self.mu_product *= self._mu(self.iterations + 1)                     # mu_prod_t = mu_prod_{t-1} mu_t

    def create_slots(self, param):
        return {"m": np.zeros_like(param), "v": np.zeros_like(param)}

    def update(self, param, grad, slots, lr, scratch):
        t = self.iterations + 1
        mu, mu_next = self._mu(t), self._mu(t + 1)
        grad = self.l2_gradient(param, grad, scratch)
        m, v, denom, work = slots["m"], slots["v"], scratch[0], scratch[1]
        update_moments(grad, m, v, work, self.beta_1, self.beta_2)
        np.divide(v, 1.0 - self.beta_2 ** t, out=denom)                      # denom = sqrt(v / (1-b2^t)) + eps
        np.sqrt(denom, out=denom)
        denom += self.epsilon
        np.divide(grad, denom, out=work)                                     # p -= lr (1-mu_t)/(1-prod_t) g/denom
        work *= lr * (1.0 - mu) / (1.0 - self.mu_product)
        param -= work
        np.divide(m, denom, out=work)                                        # p -= lr mu_t+1/(1-prod_t+1) m/denom
        work *= lr * mu_next / (1.0 - self.mu_product * mu_next)
        param -= work

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "momentum_decay": self.momentum_decay}

    def state_dict(self):
        return {**super().state_dict(), "mu_product": self.mu_product}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.mu_product = float(state["mu_product"]) if "mu_product" in state else \
            math.prod(self._mu(t) for t in range(1, self.iterations + 1))


OPTIMIZERS = {cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Nadam)}


def get(identifier):
    """An optimizer from a name ("sgd", "adam", ...) with its defaults, a serialized dict, or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return from_config(identifier)
    if isinstance(identifier, str) and identifier.lower() in OPTIMIZERS:
        return OPTIMIZERS[identifier.lower()]()
    raise ValueError(f"Unknown optimizer {identifier!r}; valid names: {sorted(OPTIMIZERS)}")


def serialize(optimizer):
    """{"class_name": "Adam", "config": {...}}: what ``from_config`` rebuilds (the state is state_dict())."""
    if type(optimizer) not in OPTIMIZERS.values():
        raise ValueError(f"Cannot serialize optimizer {optimizer!r}: use one of {sorted(OPTIMIZERS)}")
    config = optimizer.get_config()
    if callable(config["learning_rate"]):
        raise ValueError(f"Cannot serialize the learning rate {config['learning_rate']!r} of "
                         f"{type(optimizer).__name__}: use a float or a schedule from scratchnn.schedules "
                         f"({sorted(schedules.SCHEDULES)})")
    return {"class_name": type(optimizer).__name__, "config": config}


def from_config(config):
    """The optimizer described by ``serialize``'s output (a fresh one: load its state with load_state_dict)."""
    name = config.get("class_name") if isinstance(config, dict) else None
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer config {config!r}; valid class names: "
                         f"{sorted(cls.__name__ for cls in OPTIMIZERS.values())}")
    return OPTIMIZERS[name.lower()].from_config(config.get("config", {}))


deserialize = from_config
