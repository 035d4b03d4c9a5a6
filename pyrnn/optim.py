"""Optimisers (SGD, Adam, AdamW, RMSprop, Adagrad) that update parameters in place, gradient
clipping, and learning-rate schedules. Update rules are PyTorch's, formula for formula.

The parameter protocol. A *module* is any object with

* ``named_parameters()``: an iterable of ``(name, array)``; the arrays are live and the
  optimiser writes into them in place (so they must be writeable float arrays);
* ``grads``: a dict ``name -> ndarray`` with the parameter's shape, holding the
  accumulated gradients (pyrnn layers fill it in ``backward``).

An optimiser takes one module or a list/tuple of modules. With a list, parameter ``name``
of the i-th module is known to the optimiser as ``"{i}.{name}"`` (so two layers that both
own ``weight_ih_l0`` do not collide); with one module, names are used as they are. Both
are re-read at every ``step()``, so a layer may replace its arrays or its ``grads`` dict.
Every parameter must have a gradient in ``grads``.

Each ``step()``:

1. checks that every gradient is finite. If one is not, nothing is changed (parameters,
   optimiser state, step counter) and either ``FloatingPointError`` naming the parameter
   is raised (the default) or, with ``skip_nonfinite=True``, ``step()`` returns False --
   the usual "skip this batch" policy of mixed-precision loss scaling;
2. clips, if asked: ``clipvalue`` first (elementwise to ``[-clipvalue, clipvalue]``), then
   ``clipnorm`` on the GLOBAL norm of all gradients together (see
   :func:`clip_grad_norm_`). Clipping works on copies: ``module.grads`` is left as it was;
3. applies the update rule to every parameter in place and returns True.

``zero_grad()`` zeroes every ``grads`` array in place.

``state_dict()`` is flat, made of JSON-able scalars and NumPy arrays only, so it can be
written as JSON + safetensors::

    {"type": "Adam", "step": 12, "lr": 0.001, "beta1": 0.9, ..., "clipnorm": None,
     "m/weight_ih_l0": array, "v/weight_ih_l0": array, ...}

Scalars: ``type`` (class name), ``step`` (number of steps taken), ``lr``, every
hyperparameter of the class, ``clipnorm``, ``clipvalue``, ``skip_nonfinite``. Arrays are
keyed ``"<slot>/<parameter name>"`` and are copies; each class lists its slots in its
docstring. Slots appear after the first step that creates them (as PyTorch's state).
``load_state_dict`` restores everything it finds, like PyTorch restores param groups.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import numpy as np

__all__ = [
    "Module",
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "clip_grad_norm_",
    "clip_grad_value_",
    "LRScheduler",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LambdaLR",
    "ReduceLROnPlateau",
]

# Added to the norm before dividing, as torch.nn.utils.clip_grad_norm_ does, so that a
# zero norm cannot divide by zero.
_CLIP_EPS = 1e-6


class Module(Protocol):
    """What an optimiser needs from a model: live parameters and their gradients."""

    grads: Mapping[str, np.ndarray]

    def named_parameters(self) -> Iterable[tuple[str, np.ndarray]]: ...


# --------------------------------------------------------------------------- clipping


GradArrays = np.ndarray | Mapping[str, np.ndarray] | Iterable[np.ndarray]
"""One array, a dict of arrays (e.g. ``layer.grads``) or an iterable of arrays."""


def _grad_list(grads: GradArrays) -> list[np.ndarray]:
    """Accept one array, a dict of arrays (e.g. ``layer.grads``) or an iterable of arrays."""
    if isinstance(grads, np.ndarray):
        items = [grads]
    elif isinstance(grads, Mapping):
        items = list(grads.values())
    else:
        items = list(grads)
    for i, g in enumerate(items):
        if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
            what = type(g).__name__ if not isinstance(g, np.ndarray) else f"dtype {g.dtype}"
            raise TypeError(f"grads[{i}] must be a float numpy array, got {what}")
    return items


def _global_norm(grads: Iterable[np.ndarray]) -> float:
    # float64 sums: squares of float32 gradients above ~1e19 would overflow in float32
    total = 0.0
    for g in grads:
        # not np.dot: its BLAS threads fight the engine's on a busy machine (17-54 ms a step)
        total += float(np.sum(np.square(g, dtype=np.float64)))
    return math.sqrt(total)


def clip_grad_norm_(
    grads: GradArrays,
    max_norm: float,
    *,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale gradients in place so that their GLOBAL L2 norm is at most ``max_norm``.

    The norm is taken over all arrays together, as if concatenated::

        total_norm = sqrt(sum_i ||g_i||^2)
        g_i *= min(1, max_norm / (total_norm + 1e-6))

    This is ``torch.nn.utils.clip_grad_norm_`` (norm_type 2), and up to the 1e-6 that
    keeps a zero norm from dividing by zero, ``tf.clip_by_global_norm``.

    Args:
        grads: one array, a dict of arrays (e.g. ``layer.grads``) or an iterable of arrays;
            each is modified in place.
        max_norm: the largest allowed global norm, > 0.
        error_if_nonfinite: raise ``FloatingPointError`` if the norm is NaN/Inf instead of
            scaling by it (which turns every gradient into NaN, as in PyTorch).

    Returns:
        The global norm before clipping, as a Python float.
    """
    items = _grad_list(grads)
    max_norm = float(max_norm)
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    total = _global_norm(items)
    if error_if_nonfinite and not math.isfinite(total):
        raise FloatingPointError(
            f"the total norm of the gradients is {total}; pass error_if_nonfinite=False to "
            "scale by it anyway"
        )
    coef = max_norm / (total + _CLIP_EPS)
    if coef < 1.0 or not math.isfinite(total):
        for g in items:
            g *= coef
    return total


def clip_grad_value_(
    grads: GradArrays,
    clip_value: float,
) -> None:
    """Clip every gradient element to ``[-clip_value, clip_value]`` in place.

    ``torch.nn.utils.clip_grad_value_`` / Keras' ``clipvalue``.

    Args:
        grads: one array, a dict of arrays or an iterable of arrays; modified in place.
        clip_value: > 0.
    """
    items = _grad_list(grads)
    clip_value = float(clip_value)
    if not clip_value > 0:
        raise ValueError(f"clip_value must be > 0, got {clip_value}")
    for g in items:
        np.clip(g, -clip_value, clip_value, out=g)


# --------------------------------------------------------------------------- base class


def _check_optional_positive(name: str, value: float | None) -> float | None:
    return None if value is None else _check_scalar(name, value, low_open=True)


def _check_scalar(name: str, value: Any, *, low: float = 0.0, high: float | None = None,
                  low_open: bool = False, high_open: bool = False) -> float:
    """Return ``value`` as float, ValueError naming ``name`` if outside the interval."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    ok = math.isfinite(v) and (v > low if low_open else v >= low)
    if high is not None:
        ok = ok and (v < high if high_open else v <= high)
    if not ok:
        lo = "(" if low_open else "["
        hi = ("inf)" if high is None else f"{high}" + (")" if high_open else "]"))
        raise ValueError(f"{name} must be in {lo}{low}, {hi}, got {value!r}")
    return v


class Optimizer:
    """Base class: parameter collection, finite checks, clipping, step count, state dicts.

    Subclasses set ``_slots`` (names of their per-parameter state arrays), ``_hyper``
    (names of their scalar hyperparameters, stored as attributes) and implement
    ``_update(p, g, state)``.

    Args:
        modules: one module or a list/tuple of modules (see the module docstring).
        lr: learning rate, >= 0; settable later as ``opt.lr``.
        clipnorm: if set, clip the global norm of all gradients to it before updating.
            Note: this is Keras' ``global_clipnorm`` / PyTorch's ``clip_grad_norm_``, not
            Keras' per-variable ``clipnorm``.
        clipvalue: if set, clip every gradient element to ``[-clipvalue, clipvalue]``.
        skip_nonfinite: on a NaN/Inf gradient, skip the step and return False instead of
            raising ``FloatingPointError``.
    """

    _slots: tuple[str, ...] = ()
    _hyper: tuple[str, ...] = ()
    _bool_hyper: frozenset[str] = frozenset()

    def __init__(
        self,
        modules: Module | list[Module] | tuple[Module, ...],
        lr: float,
        *,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        skip_nonfinite: bool = False,
    ) -> None:
        if isinstance(modules, (list, tuple)):
            if not modules:
                raise ValueError("modules must be a module or a non-empty list of modules, got []")
            self._modules = [(f"{i}.", m) for i, m in enumerate(modules)]
        else:
            self._modules = [("", modules)]
        for prefix, m in self._modules:
            where = f"modules[{prefix[:-1]}]" if prefix else "modules"
            if not callable(getattr(m, "named_parameters", None)) or not hasattr(m, "grads"):
                raise TypeError(
                    f"{where} must have a named_parameters() method and a grads dict, "
                    f"got {type(m).__name__}"
                )
        self.lr = lr
        self.clipnorm = _check_optional_positive("clipnorm", clipnorm)
        self.clipvalue = _check_optional_positive("clipvalue", clipvalue)
        self.skip_nonfinite = bool(skip_nonfinite)
        self.steps = 0  # successful steps taken
        self.state: dict[str, dict[str, np.ndarray]] = {}
        names = [name for name, _, _ in self._collect()]
        if not names:
            raise ValueError("modules have no parameters to optimise")

    # -- learning rate

    @property
    def lr(self) -> float:
        """Learning rate used by the next ``step()``; settable (schedules set it)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _check_scalar("lr", value)

    # -- parameters

    def _collect(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Current ``(full name, parameter, gradient)`` triples, checked."""
        out: list[tuple[str, np.ndarray, np.ndarray]] = []
        seen: set[str] = set()
        for prefix, module in self._modules:
            grads = module.grads
            for name, p in module.named_parameters():
                full = prefix + name
                if full in seen:
                    raise ValueError(f"parameter name {full!r} appears twice")
                seen.add(full)
                if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                    what = type(p).__name__ if not isinstance(p, np.ndarray) else f"dtype {p.dtype}"
                    raise TypeError(f"parameter {full!r} must be a float numpy array, got {what}")
                if not p.flags.writeable:
                    raise ValueError(
                        f"parameter {full!r} must be writeable (it is updated in place)"
                    )
                if name not in grads:
                    raise ValueError(f"grads has no entry for parameter {full!r}")
                g = grads[name]
                if not isinstance(g, np.ndarray) or g.shape != p.shape:
                    got = g.shape if isinstance(g, np.ndarray) else type(g).__name__
                    raise ValueError(
                        f"grads[{name!r}] must be an array of shape {p.shape} (the shape of "
                        f"parameter {full!r}), got {got}"
                    )
                out.append((full, p, g))
        return out

    def parameter_names(self) -> list[str]:
        """Names under which parameters appear in ``state_dict()``, in update order."""
        return [name for name, _, _ in self._collect()]

    # -- the step

    def step(self) -> bool:
        """Apply one update to every parameter in place.

        Returns:
            True if the parameters were updated; False if a gradient was not finite and
            ``skip_nonfinite`` is set (then nothing changed at all).

        Raises:
            FloatingPointError: a gradient holds NaN/Inf and ``skip_nonfinite`` is False;
                the message names the parameter. Nothing is changed.
        """
        items = self._collect()
        for name, _, g in items:
            if not np.isfinite(g).all():
                if self.skip_nonfinite:
                    return False
                raise FloatingPointError(
                    f"gradient of parameter {name!r} contains NaN or Inf; the step was not "
                    "applied (pass skip_nonfinite=True to skip such steps silently)"
                )
        # working copies in the parameter's dtype: clipping must not touch module.grads
        grads = [np.array(g, dtype=p.dtype, copy=True) for _, p, g in items]
        if self.clipvalue is not None:
            clip_grad_value_(grads, self.clipvalue)
        if self.clipnorm is not None:
            clip_grad_norm_(grads, self.clipnorm)
        self.steps += 1
        for (name, p, _), g in zip(items, grads):
            self._update(p, g, self.state.setdefault(name, {}))
        return True

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        """Update ``p`` in place from gradient ``g`` (a private copy: may be overwritten)."""
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Set every gradient array in the modules' ``grads`` to zero, in place."""
        for _, _, g in self._collect():
            g[...] = 0

    # -- state

    def state_dict(self) -> dict[str, Any]:
        """Flat dict of JSON-able scalars and array copies; see the module docstring."""
        d: dict[str, Any] = {"type": type(self).__name__, "step": self.steps, "lr": self.lr}
        for h in self._hyper:
            d[h] = getattr(self, h)
        d["clipnorm"] = self.clipnorm
        d["clipvalue"] = self.clipvalue
        d["skip_nonfinite"] = self.skip_nonfinite
        for pname, slots in self.state.items():
            for slot, arr in slots.items():
                d[f"{slot}/{pname}"] = arr.copy()
        return d

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what ``state_dict()`` returned (scalars and per-parameter arrays).

        Everything is checked before anything is changed.

        Raises:
            ValueError: another optimiser's ``type``, an unknown key, an array for a
                parameter this optimiser does not have, or an array of the wrong shape.
        """
        kind = state_dict.get("type", type(self).__name__)
        if kind != type(self).__name__:
            raise ValueError(
                f"state_dict['type'] must be {type(self).__name__!r}, got {kind!r}"
            )
        params = {name: p for name, p, _ in self._collect()}
        settings = ("clipnorm", "clipvalue", "skip_nonfinite", *self._hyper)
        scalar_keys = {"type", "step", "lr", *settings}
        new_state: dict[str, dict[str, np.ndarray]] = {}
        scalars: dict[str, Any] = {}
        for key, value in state_dict.items():
            if "/" in key:
                slot, pname = key.split("/", 1)
                if slot not in self._slots:
                    raise ValueError(
                        f"state_dict key {key!r}: unknown slot {slot!r}, "
                        f"expected one of {self._slots}"
                    )
                if pname not in params:
                    raise ValueError(
                        f"state_dict key {key!r}: no parameter {pname!r}, expected one of "
                        f"{sorted(params)}"
                    )
                arr = np.asarray(value)
                if arr.shape != params[pname].shape:
                    raise ValueError(
                        f"state_dict[{key!r}] must have shape {params[pname].shape}, "
                        f"got {arr.shape}"
                    )
                new_state.setdefault(pname, {})[slot] = arr.astype(params[pname].dtype, copy=True)
            elif key in scalar_keys:
                scalars[key] = value
            else:
                raise ValueError(f"state_dict has unknown key {key!r}")
        # set the scalars, putting the old values back if any of them is invalid
        before = {k: getattr(self, k) for k in ("_lr", *settings)}
        try:
            if "lr" in scalars:
                self.lr = scalars["lr"]
            for h in self._hyper:
                if h in scalars:
                    v = scalars[h]
                    setattr(self, h, bool(v) if h in self._bool_hyper else float(v))
            for h in ("clipnorm", "clipvalue"):
                if h in scalars:
                    v = scalars[h]
                    setattr(self, h, _check_optional_positive(h, v))
            if "skip_nonfinite" in scalars:
                self.skip_nonfinite = bool(scalars["skip_nonfinite"])
            self._check_hyper()
        except (TypeError, ValueError):
            for k, v in before.items():
                setattr(self, k, v)
            raise
        if "step" in scalars:
            self.steps = int(scalars["step"])
        self.state = new_state

    def _check_hyper(self) -> None:
        """Validate hyperparameters (called at construction and after loading)."""

    def __repr__(self) -> str:
        hyper = ", ".join(f"{h}={getattr(self, h)!r}" for h in self._hyper)
        return f"{type(self).__name__}(lr={self.lr!r}, {hyper})"


# --------------------------------------------------------------------------- optimisers


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay.

    PyTorch's ``torch.optim.SGD``; with ``g`` the (clipped) gradient at step t::

        g = g + weight_decay * p
        if momentum != 0:
            b = g                                      at the first step
            b = momentum * b + (1 - dampening) * g     afterwards
            g = g + momentum * b   if nesterov else   b
        p = p - lr * g

    Slots: ``momentum_buffer`` (only when momentum != 0).
    Nesterov needs ``momentum > 0`` and ``dampening == 0`` (as in PyTorch).
    """

    _slots = ("momentum_buffer",)
    _hyper = ("momentum", "dampening", "weight_decay", "nesterov")
    _bool_hyper = frozenset({"nesterov"})

    def __init__(
        self,
        modules: Module | list[Module] | tuple[Module, ...],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        **kwargs: Any,
    ) -> None:
        self.momentum = _check_scalar("momentum", momentum)
        self.dampening = _check_scalar("dampening", dampening)
        self.weight_decay = _check_scalar("weight_decay", weight_decay)
        self.nesterov = bool(nesterov)
        self._check_hyper()
        super().__init__(modules, lr, **kwargs)

    def _check_hyper(self) -> None:
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(
                "nesterov=True needs momentum > 0 and dampening == 0, got "
                f"momentum={self.momentum}, dampening={self.dampening}"
            )

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        if self.weight_decay != 0:
            g += self.weight_decay * p
        if self.momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * g
            if self.nesterov:
                g += self.momentum * buf
            else:
                g = buf
        p -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), with L2 weight decay added to the gradient and AMSGrad.

    PyTorch's ``torch.optim.Adam``; with ``g`` the (clipped) gradient and t the step
    number (1, 2, ...)::

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = max(v_max, v)                    (amsgrad only; then used for v below)
        p = p - (lr / (1 - beta1**t)) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    ``m`` and ``v`` start at zero. Slots: ``m``, ``v`` and, with amsgrad, ``v_max``.
    Scalars in the state dict: ``beta1``, ``beta2``, ``eps``, ``weight_decay``, ``amsgrad``.
    """

    _slots = ("m", "v", "v_max")
    _hyper = ("beta1", "beta2", "eps", "weight_decay", "amsgrad")
    _bool_hyper = frozenset({"amsgrad"})
    _decoupled = False

    def __init__(
        self,
        modules: Module | list[Module] | tuple[Module, ...],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.beta1 = _check_scalar("betas[0]", betas[0], high=1.0, high_open=True)
        self.beta2 = _check_scalar("betas[1]", betas[1], high=1.0, high_open=True)
        self.eps = _check_scalar("eps", eps)
        self.weight_decay = _check_scalar("weight_decay", weight_decay)
        self.amsgrad = bool(amsgrad)
        super().__init__(modules, lr, **kwargs)

    @property
    def betas(self) -> tuple[float, float]:
        return (self.beta1, self.beta2)

    def _check_hyper(self) -> None:
        _check_scalar("beta1", self.beta1, high=1.0, high_open=True)
        _check_scalar("beta2", self.beta2, high=1.0, high_open=True)
        _check_scalar("eps", self.eps)
        _check_scalar("weight_decay", self.weight_decay)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        t = self.steps
        if self.weight_decay != 0:
            if self._decoupled:
                p *= 1 - self.lr * self.weight_decay
            else:
                g += self.weight_decay * p
        if "m" not in state:
            state["m"] = np.zeros_like(p)
            state["v"] = np.zeros_like(p)
            if self.amsgrad:
                state["v_max"] = np.zeros_like(p)
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * (g * g)
        if self.amsgrad:
            v_max = state.setdefault("v_max", np.zeros_like(p))
            np.maximum(v_max, v, out=v_max)
            v = v_max
        step_size = self.lr / (1 - self.beta1**t)
        denom = np.sqrt(v) / math.sqrt(1 - self.beta2**t) + self.eps
        p -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter); PyTorch's ``torch.optim.AdamW``.

    Identical to :class:`Adam` except that the decay is applied to the parameter
    directly, before the Adam step, instead of being added to the gradient::

        p = p * (1 - lr * weight_decay)
        m, v, v_max and the update as in Adam, with the raw gradient g

    Default ``weight_decay`` is 0.01 (as in PyTorch). Slots: ``m``, ``v``, ``v_max``.
    """

    _decoupled = True

    def __init__(
        self,
        modules: Module | list[Module] | tuple[Module, ...],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(modules, lr, betas, eps, weight_decay, amsgrad, **kwargs)


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton), optionally centred and with momentum.

    PyTorch's ``torch.optim.RMSprop``; with ``g`` the (clipped) gradient::

        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g**2
        if centered:  a = alpha * a + (1 - alpha) * g;   d = sqrt(s - a**2) + eps
        else:                                             d = sqrt(s) + eps
        if momentum > 0:  b = momentum * b + g / d;  p = p - lr * b
        else:             p = p - lr * g / d

    ``s``, ``a`` and ``b`` start at zero. Note ``eps`` is added outside the square root
    (Keras adds it inside, and defaults to rho=0.9, lr=1e-3).
    Slots: ``square_avg``, ``grad_avg`` (centered), ``momentum_buffer`` (momentum > 0).
    """

    _slots = ("square_avg", "grad_avg", "momentum_buffer")
    _hyper = ("alpha", "eps", "weight_decay", "momentum", "centered")
    _bool_hyper = frozenset({"centered"})

    def __init__(
        self,
        modules: Module | list[Module] | tuple[Module, ...],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        **kwargs: Any,
    ) -> None:
        self.alpha = _check_scalar("alpha", alpha, high=1.0)
        self.eps = _check_scalar("eps", eps)
        self.weight_decay = _check_scalar("weight_decay", weight_decay)
        self.momentum = _check_scalar("momentum", momentum)
        self.centered = bool(centered)
        super().__init__(modules, lr, **kwargs)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        if self.weight_decay != 0:
            g += self.weight_decay * p
        s = state.setdefault("square_avg", np.zeros_like(p))
        s *= self.alpha
        s += (1 - self.alpha) * (g * g)
        if self.centered:
            a = state.setdefault("grad_avg", np.zeros_like(p))
            a *= self.alpha
            a += (1 - self.alpha) * g
            d = np.sqrt(s - a * a) + self.eps
        else:
            d = np.sqrt(s) + self.eps
        if self.momentum > 0:
            b = state.setdefault("momentum_buffer", np.zeros_like(p))
            b *= self.momentum
            b += g / d
            p -= self.lr * b
        else:
            p -= self.lr * (g / d)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.); PyTorch's ``torch.optim.Adagrad``.

    With ``g`` the (clipped) gradient and t the step number (1, 2, ...)::

        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g**2                          (s starts at initial_accumulator_value)
        p = p - clr * g / (sqrt(s) + eps)

    Slots: ``sum``.
    """

    _slots = ("sum",)
    _hyper = ("lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def __init__(
        self,
        modules: Module | list[Module] | tuple[Module, ...],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        **kwargs: Any,
    ) -> None:
        self.lr_decay = _check_scalar("lr_decay", lr_decay)
        self.weight_decay = _check_scalar("weight_decay", weight_decay)
        self.initial_accumulator_value = _check_scalar(
            "initial_accumulator_value", initial_accumulator_value
        )
        self.eps = _check_scalar("eps", eps)
        super().__init__(modules, lr, **kwargs)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        if self.weight_decay != 0:
            g += self.weight_decay * p
        clr = self.lr / (1 + (self.steps - 1) * self.lr_decay)
        s = state.get("sum")
        if s is None:
            s = state["sum"] = np.full_like(p, self.initial_accumulator_value)
        s += g * g
        p -= clr * (g / (np.sqrt(s) + self.eps))


# --------------------------------------------------------------------------- schedules


class LRScheduler:
    """Base class of the epoch-indexed schedules: ``lr = f(base_lr, epoch)`` in closed form.

    Constructing a schedule records ``base_lr = optimizer.lr`` and sets ``optimizer.lr``
    to the schedule's value at epoch 0; each ``step()`` advances the epoch by one and sets
    ``optimizer.lr`` (call it once per epoch, after the optimiser's steps, as in PyTorch).
    Because the value is recomputed from ``base_lr``, a manual change of ``optimizer.lr``
    lasts only until the next ``step()``.

    ``state_dict()`` is flat and JSON-able: ``{"type", "last_epoch", "base_lr", ...the
    schedule's own scalars}``. ``load_state_dict`` restores the schedule only; the
    optimiser's ``lr`` is restored by the optimiser's own state dict.
    """

    _hyper: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"optimizer must be a pyrnn.optim.Optimizer, got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        optimizer.lr = self._last_lr = self.lr_at(0)

    def lr_at(self, epoch: int) -> float:
        """Learning rate of this schedule at ``epoch`` (0 = before the first ``step()``)."""
        raise NotImplementedError

    def step(self) -> float:
        """Advance one epoch, set ``optimizer.lr`` and return it."""
        self.last_epoch += 1
        self.optimizer.lr = self._last_lr = self.lr_at(self.last_epoch)
        return self._last_lr

    def get_last_lr(self) -> float:
        """The learning rate this schedule set last."""
        return self._last_lr

    def state_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "type": type(self).__name__,
            "last_epoch": self.last_epoch,
            "base_lr": self.base_lr,
        }
        for h in self._hyper:
            d[h] = getattr(self, h)
        return d

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        kind = state_dict.get("type", type(self).__name__)
        if kind != type(self).__name__:
            raise ValueError(f"state_dict['type'] must be {type(self).__name__!r}, got {kind!r}")
        known = {"type", "last_epoch", "base_lr", *self._hyper}
        for key in state_dict:
            if key not in known:
                raise ValueError(
                    f"state_dict has unknown key {key!r}, expected some of {sorted(known)}"
                )
        for key, value in state_dict.items():
            if key != "type":
                setattr(self, key, int(value) if key == "last_epoch" else value)
        self._last_lr = self.lr_at(self.last_epoch)


class StepLR(LRScheduler):
    """``lr = base_lr * gamma ** (epoch // step_size)``; PyTorch's ``StepLR``."""

    _hyper = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if int(step_size) != step_size or step_size < 1:
            raise ValueError(f"step_size must be an integer >= 1, got {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = _check_scalar("gamma", gamma)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """``lr = base_lr * gamma ** epoch``; PyTorch's ``ExponentialLR``."""

    _hyper = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = _check_scalar("gamma", gamma)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.

    PyTorch's ``CosineAnnealingLR`` (its closed form): lr falls from ``base_lr`` to
    ``eta_min`` over ``T_max`` epochs. Like PyTorch it is periodic: past ``T_max`` it
    rises again, reaching ``base_lr`` at ``2 * T_max``; stop stepping it to stay at
    ``eta_min``.
    """

    _hyper = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        if int(T_max) != T_max or T_max < 1:
            raise ValueError(f"T_max must be an integer >= 1, got {T_max!r}")
        self.T_max = int(T_max)
        self.eta_min = _check_scalar("eta_min", eta_min)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (
            1 + math.cos(math.pi * epoch / self.T_max)
        ) / 2


class LambdaLR(LRScheduler):
    """``lr = base_lr * lr_lambda(epoch)``; PyTorch's ``LambdaLR``.

    The function is not part of ``state_dict()`` (it is code, not data): pass the same
    one when rebuilding the schedule before ``load_state_dict``.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float]) -> None:
        if not callable(lr_lambda):
            raise TypeError(f"lr_lambda must be callable, got {type(lr_lambda).__name__}")
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * float(self.lr_lambda(epoch))


class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` when a metric stops improving.

    PyTorch's ``ReduceLROnPlateau``. Each ``step(metric)``:

    * the metric *improves* on the best so far if, for ``mode="min"``, it is below
      ``best * (1 - threshold)`` (``threshold_mode="rel"``) or ``best - threshold``
      (``"abs"``); for ``mode="max"``, above ``best * (1 + threshold)`` or
      ``best + threshold``. Improvement resets the count of bad epochs, otherwise it
      grows by one (a NaN metric never improves);
    * during ``cooldown`` epochs after a reduction, bad epochs are not counted;
    * when more than ``patience`` bad epochs have been counted,
      ``lr = max(lr * factor, min_lr)`` (skipped if that changes lr by ``eps`` or less),
      the cooldown starts and the count restarts.

    ``state_dict()``: ``{"type", "last_epoch", "best", "num_bad_epochs",
    "cooldown_counter", ...hyperparameters}``; ``best`` is None until a metric is seen.
    """

    _hyper = (
        "mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps"
    )

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"optimizer must be a pyrnn.optim.Optimizer, got {type(optimizer).__name__}"
            )
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.optimizer = optimizer
        self.mode = mode
        self.factor = _check_scalar("factor", factor, high=1.0, high_open=True)
        self.patience = int(_check_scalar("patience", patience))
        self.threshold = _check_scalar("threshold", threshold)
        self.threshold_mode = threshold_mode
        self.cooldown = int(_check_scalar("cooldown", cooldown))
        self.min_lr = _check_scalar("min_lr", min_lr)
        self.eps = _check_scalar("eps", eps)
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _improves(self, metric: float) -> bool:
        sign = 1 if self.mode == "max" else -1  # improving means moving this way
        if self.threshold_mode == "rel":
            bound = self.best * (1 + sign * self.threshold)
        else:
            bound = self.best + sign * self.threshold
        return metric > bound if self.mode == "max" else metric < bound

    def step(self, metric: float) -> float:
        """Record this epoch's ``metric`` (e.g. validation loss); return the lr now in use."""
        metric = float(metric)
        self.last_epoch += 1
        if self._improves(metric):
            self.best = metric
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return self.optimizer.lr

    def get_last_lr(self) -> float:
        return self.optimizer.lr

    def state_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "type": "ReduceLROnPlateau",
            "last_epoch": self.last_epoch,
            "best": self.best if math.isfinite(self.best) else None,  # JSON has no Infinity
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
        }
        for h in self._hyper:
            d[h] = getattr(self, h)
        return d

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        kind = state_dict.get("type", "ReduceLROnPlateau")
        if kind != "ReduceLROnPlateau":
            raise ValueError(f"state_dict['type'] must be 'ReduceLROnPlateau', got {kind!r}")
        known = {"type", "last_epoch", "best", "num_bad_epochs", "cooldown_counter", *self._hyper}
        for key in state_dict:
            if key not in known:
                raise ValueError(
                    f"state_dict has unknown key {key!r}, expected some of {sorted(known)}"
                )
        for key, value in state_dict.items():
            if key not in ("type", "best"):
                setattr(self, key, value)
        if "best" in state_dict:
            best = state_dict["best"]
            worst = math.inf if self.mode == "min" else -math.inf
            self.best = worst if best is None else float(best)
