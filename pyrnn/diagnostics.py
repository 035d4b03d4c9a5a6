"""Gradient diagnostics for recurrent models: spectral radii of the recurrent weights (per
gate block and whole), per-time-step norms of dL/dh_t, and a callback recording both per epoch.

The dL/dh_t norms come from the engine: a recurrent layer with
``layer.record_hidden_grads = True`` exposes, after backward, ``layer.hidden_grad_norms``
(array (num_layers*num_directions, T): the batch mean of ||dL/dh_t||). Plotting needs
matplotlib, which is optional; everything else is NumPy.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .layers.recurrent import RecurrentLayer
from .training import Callback

Array = np.ndarray

__all__ = ["spectral_radius", "set_record_hidden_grads", "hidden_grad_norms",
           "GradientDiagnostics", "GATES"]

GATES = {"RNN_TANH": ("h",), "RNN_RELU": ("h",), "LSTM": ("i", "f", "g", "o"),
         "GRU": ("r", "z", "n")}


def _recurrent(obj: Any, what: str = "layer") -> List[Tuple[str, RecurrentLayer]]:
    """(prefix, layer) pairs of a recurrent layer or of a model's recurrent layers."""
    if isinstance(obj, RecurrentLayer):
        return [("", obj)]
    rec = getattr(obj, "recurrent_layers", None)
    if callable(rec):
        return [(f"{n}.", rl) for n, rl in rec()]
    raise TypeError(f"{what}: expected a recurrent layer (RNN, LSTM, GRU) or a Sequential model, "
                    f"got {type(obj).__name__}")


def _rho(m: Array) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(m.astype(np.float64)))))


def spectral_radius(layer: Any) -> Dict[str, Dict[str, float]]:
    """Spectral radii of every recurrent weight matrix, per gate block and whole.

    layer: an RNN/LSTM/GRU, or a Sequential (keys are then prefixed by the layer name).
    Returns ``{"weight_hh_l0": {"i": .., "f": .., "g": .., "o": .., "whole": ..}, ...}``
    (gates in PyTorch's order; RNN has the one block "h"). A gate value is
    max |eigenvalue| of that gate's (H, H) block of ``weight_hh``. "whole" is the
    spectral radius of ``weight_hh`` for an RNN (square); for LSTM/GRU, whose stacked
    ``weight_hh`` (G*H, H) is not square, it is its largest singular value, an upper
    bound on every block's radius (and on the gain of the whole recurrent map).
    """
    out: Dict[str, Dict[str, float]] = {}
    for prefix, rl in _recurrent(layer):
        gates = GATES[rl.mode]
        H = rl.hidden_size
        for name, W in rl.named_parameters():
            if not name.startswith("weight_hh"):
                continue
            entry = {g: _rho(W[k * H:(k + 1) * H]) for k, g in enumerate(gates)}
            if len(gates) == 1:
                entry["whole"] = entry[gates[0]]
            else:
                entry["whole"] = float(np.linalg.norm(W.astype(np.float64), 2))
            out[prefix + name] = entry
    return out


def set_record_hidden_grads(layer: Any, enabled: bool = True) -> None:
    """Ask the engine to record ||dL/dh_t|| in every backward of these recurrent layers."""
    for _, rl in _recurrent(layer):
        rl.record_hidden_grads = bool(enabled)


def hidden_grad_norms(layer: Any) -> Dict[str, Array]:
    """After a backward with recording on: {layer name: (num_layers*num_directions, T)}
    batch means of ||dL/dh_t|| (key "" for a bare layer).

    Raises RuntimeError if recording is off or the engine does not provide the norms.
    """
    out = {}
    for prefix, rl in _recurrent(layer):
        name = prefix[:-1]
        if not getattr(rl, "record_hidden_grads", False):
            raise RuntimeError(f"hidden_grad_norms: recording is off for layer {name or rl!r}; "
                               "call set_record_hidden_grads(model) before backward")
        norms = getattr(rl, "hidden_grad_norms", None)
        if norms is None:
            raise RuntimeError(f"hidden_grad_norms: layer {name or rl!r} has no hidden_grad_norms: "
                               "no backward ran since recording was switched on, or this "
                               "engine build does not record dL/dh_t")
        out[name] = np.asarray(norms, dtype=np.float64)
    return out


class GradientDiagnostics(Callback):
    """Record, per epoch, the mean ||dL/dh_t|| at every step and the spectral radii.

    ``GradientDiagnostics(hidden_grads=True, spectral=True, every=1)``: with hidden_grads
    the recurrent layers record dL/dh_t norms during training (every ``every``-th batch);
    at each epoch end ``hidden_grad_norms[name]`` gets the epoch's mean (num_layers *
    num_directions, T_max) array (NaN at steps no batch reached) and ``spectral_radii``
    gets ``spectral_radius(model)``; ``grad_norm`` gets the epoch's mean global gradient
    norm. ``plot()`` draws the norms against t (needs matplotlib).
    """

    def __init__(self, hidden_grads: bool = True, spectral: bool = True, every: int = 1) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every: expected an int >= 1, got {every!r}")
        self.hidden_grads = bool(hidden_grads)
        self.spectral = bool(spectral)
        self.every = every
        self.hidden_grad_norms: Dict[str, List[Array]] = {}
        self.spectral_radii: List[Dict[str, Dict[str, float]]] = []
        self.grad_norm: List[float] = []
        self.epochs: List[int] = []
        self._sums: Dict[str, Array] = {}
        self._counts: Dict[str, Array] = {}
        self._gn: List[float] = []
        self._seen = 0

    def on_train_begin(self, logs=None) -> None:
        if self.hidden_grads:
            set_record_hidden_grads(self.model, True)

    def on_train_end(self, logs=None) -> None:
        if self.hidden_grads:
            set_record_hidden_grads(self.model, False)

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._sums, self._counts, self._gn = {}, {}, []

    def on_after_backward(self, batch: int, logs=None) -> None:
        self._seen += 1
        if (self._seen - 1) % self.every:
            return
        g2 = sum(float(np.dot(g.ravel().astype(np.float64), g.ravel().astype(np.float64)))
                 for g in self.model.grads.values())
        self._gn.append(float(np.sqrt(g2)))
        if not self.hidden_grads:
            return
        for name, norms in hidden_grad_norms(self.model).items():
            LD, T = norms.shape
            s, c = self._sums.get(name), self._counts.get(name)
            if s is None or s.shape[1] < T:  # batches may differ in T: grow to the longest
                grown_s, grown_c = np.zeros((LD, T)), np.zeros(T)
                if s is not None:
                    grown_s[:, :s.shape[1]] = s
                    grown_c[:c.shape[0]] = c
                s, c = grown_s, grown_c
            s[:, :T] += norms
            c[:T] += 1
            self._sums[name], self._counts[name] = s, c

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.epochs.append(int(epoch))
        for name, s in self._sums.items():
            c = self._counts[name]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(c > 0, s / np.maximum(c, 1), np.nan)
            self.hidden_grad_norms.setdefault(name, []).append(mean)
        self.grad_norm.append(float(np.mean(self._gn)) if self._gn else float("nan"))
        if self.spectral:
            self.spectral_radii.append(spectral_radius(self.model))

    def plot(self, layer: Optional[str] = None, epochs: Optional[Sequence[int]] = None,
             ax: Any = None, logy: bool = True) -> Any:
        """Plot mean ||dL/dh_t|| against t, one line per recorded epoch (and per
        layer/direction row). Returns the matplotlib Axes. Needs matplotlib."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise RuntimeError("GradientDiagnostics.plot needs matplotlib, which is not "
                               "installed (pip install matplotlib); the numbers are in "
                               ".hidden_grad_norms") from None
        if not self.hidden_grad_norms:
            raise ValueError("plot: nothing recorded yet (train with this callback and "
                             "hidden_grads=True first)")
        names = [layer] if layer is not None else list(self.hidden_grad_norms)
        for n in names:
            if n not in self.hidden_grad_norms:
                raise ValueError(f"layer: expected one of {list(self.hidden_grad_norms)}, "
                                 f"got {n!r}")
        if ax is None:
            _, ax = plt.subplots()
        which = (range(len(self.epochs)) if epochs is None
                 else [self.epochs.index(e) for e in epochs])
        for n in names:
            for i in which:
                arr = self.hidden_grad_norms[n][i]
                for row in range(arr.shape[0]):
                    label = f"{n} row {row} epoch {self.epochs[i] + 1}"
                    ax.plot(np.arange(arr.shape[1]), arr[row], label=label)
        ax.set_xlabel("time step t")
        ax.set_ylabel("mean ||dL/dh_t||")
        if logy:
            ax.set_yscale("log")
        ax.legend(fontsize="small")
        return ax
