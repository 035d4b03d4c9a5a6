"""Sequential models: a stack of layers with forward/backward over whole (B, T, ...) arrays,
Keras-style compile/fit/evaluate/predict, truncated BPTT (``fit_stream``), generation, and
save/load in the pyrnn model format (docs/model-format.md), never pickle.

Training resumed from a checkpoint continues bit for bit as if it had not stopped: a
checkpoint holds the weights, the optimiser's state, the position in the run (epoch,
batch, step), the RNG states of shuffling and dropout, the carried state of stateful
training, the epoch's running sums, the history and the callbacks' state.

A plain loop stays easy for custom models::

    model = Sequential([Embedding(65, 32), LSTM(32, 128, batch_first=True), Dense(128, 65)])
    opt = pyrnn.optim.Adam(model, lr=2e-3)
    for x, y in pyrnn.data.stream_batches(ids, batch_size=32, seq_len=100):
        logits = model(x)                                   # (B, T, 65)
        loss, dlogits = pyrnn.losses.softmax_cross_entropy(logits, y)
        model.zero_grad()
        model.backward(dlogits)
        opt.step()
"""
from __future__ import annotations

import base64
import copy
import json
import math
import os
import sys
import time
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import losses as _losses
from . import optim as _optim
from .layers.core import Dense, Dropout, Embedding, LastStep, Layer
from .layers.recurrent import GRU, LSTM, RNN, RecurrentLayer, no_grad
from .training import (Callback, CallbackList, History, Metric, ProgressBar, get_metric)

Array = np.ndarray
State = Any  # h (L*D, B, H), or (h, c) for LSTM, or None for zeros

__all__ = ["Sequential", "load", "FORMAT", "FORMAT_VERSION"]

FORMAT = "pyrnn.model"
FORMAT_VERSION = "1"
_MAX_SIZE = 2 ** 20
_MAX_LAYERS = 64
_ACTIVATIONS = (None, "tanh", "relu", "sigmoid", "softmax")
_LAYER_TYPES = {"Embedding": Embedding, "LSTM": LSTM, "GRU": GRU, "RNN": RNN,
                "Dropout": Dropout, "LastStep": LastStep, "Dense": Dense}


def _type_name(layer: Any) -> str:
    if isinstance(layer, RecurrentLayer):
        return {"LSTM": "LSTM", "GRU": "GRU"}.get(layer.mode, "RNN")
    return type(layer).__name__


def _layer_dtype(layer: Any) -> Optional[np.dtype]:
    """The dtype a layer's parameters impose, or None (Dropout, LastStep take any)."""
    if isinstance(layer, (Dropout, LastStep)):
        return None
    return np.dtype(layer.dtype)


def _layer_rng(layer: Any) -> Optional[np.random.Generator]:
    if isinstance(layer, Dropout):
        return layer.rng
    if isinstance(layer, RecurrentLayer):
        # the recurrent layers keep their inter-layer dropout Generator private
        rng = getattr(layer, "_rng", None)
        return rng if isinstance(rng, np.random.Generator) else None
    return None


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int >= 1, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name}: expected an int >= 1, got {value}")
    return int(value)


# ================================================================================ losses


class _LossSpec:
    """A resolved loss: ``fn(pred, target, mask) -> (loss, dpred)``, its kind, its config."""

    _NAMES = {
        "cross_entropy": "ce", "crossentropy": "ce", "ce": "ce",
        "sparse_categorical_crossentropy": "ce", "softmax_cross_entropy": "ce",
        "bce": "bce", "binary_cross_entropy": "bce", "binary_crossentropy": "bce",
        "binary_cross_entropy_with_logits": "bce",
        "mse": "mse", "mean_squared_error": "mse",
    }
    _FUNCS = {"ce": _losses.softmax_cross_entropy,
              "bce": _losses.binary_cross_entropy_with_logits, "mse": _losses.mse}
    _CLASSES = {"CrossEntropyLoss": "ce", "BCEWithLogitsLoss": "bce", "MSELoss": "mse"}

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        if isinstance(spec, str):
            key = spec.lower()
            if key not in self._NAMES:
                raise ValueError(f"loss: unknown loss {spec!r}; expected one of "
                                 f"{sorted(self._NAMES)}, a pyrnn.losses loss object or a "
                                 f"function (pred, target, mask) -> (loss, dpred)")
            self.kind: Optional[str] = self._NAMES[key]
            self.fn = self._FUNCS[self.kind]
            self.config: Any = spec
        elif isinstance(spec, _losses._Loss):
            name = type(spec).__name__
            self.kind = self._CLASSES.get(name)
            self.fn = lambda p, t, m: (spec(p, t, m), spec.backward())
            self.config = {"type": name, "reduction": spec.reduction}
            if hasattr(spec, "ignore_index"):
                self.config["ignore_index"] = spec.ignore_index
            if self.kind is None:
                self.config = None
        elif callable(spec):
            self.kind = getattr(spec, "kind", None)
            self.fn = spec
            self.config = None  # code is not data: a loaded model needs compile(loss=...)
        else:
            raise TypeError(f"loss: expected a name, a pyrnn.losses loss object or a function, "
                            f"got {type(spec).__name__}")

    @staticmethod
    def from_config(config: Any) -> Optional["_LossSpec"]:
        if config is None:
            return None
        if isinstance(config, str):
            return _LossSpec(config)
        cls = getattr(_losses, config.get("type", ""), None)
        if cls is None or not isinstance(cls, type) or not issubclass(cls, _losses._Loss):
            raise ValueError(f"training: unknown loss config {config!r}")
        kwargs = {k: v for k, v in config.items() if k != "type"}
        return _LossSpec(cls(**kwargs))


# ============================================================================ fit state


class _FitState:
    """Where a fit run is, updated at batch and epoch boundaries; checkpoints serialise it."""

    def __init__(self, plan: dict, epochs: int) -> None:
        self.plan = plan
        self.epochs = epochs
        self.epoch = 0
        self.batch = 0
        self.step = 0
        self.finished = False
        self.epoch_rng: dict = {}
        self.layer_rngs: Dict[str, dict] = {}
        self.loss_total = 0.0
        self.count = 0.0
        self.items = 0.0
        self.skipped = 0
        self.warned_skip = False
        self.metrics: List[Metric] = []
        self.metric_states: List[dict] = []
        self.carry: Optional[List[State]] = None
        self.history: Optional[History] = None
        self.callbacks: Optional[CallbackList] = None

    def reset_epoch(self) -> None:
        self.loss_total = self.count = self.items = 0.0
        self.skipped = 0
        for m in self.metrics:
            m.reset()
        self.carry = None


def _encode_array(a: Array) -> dict:
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape),
            "data": base64.b64encode(a.tobytes()).decode("ascii")}


def _decode_array(d: dict) -> Array:
    raw = base64.b64decode(d["data"].encode("ascii"))
    return np.frombuffer(raw, dtype=np.dtype(d["dtype"])).reshape(d["shape"]).copy()


def _encode_state(s: State) -> Any:
    if s is None:
        return None
    if isinstance(s, tuple):
        return [_encode_array(a) for a in s]
    return _encode_array(s)


def _decode_state(d: Any) -> State:
    if d is None:
        return None
    if isinstance(d, list):
        return tuple(_decode_array(a) for a in d)
    return _decode_array(d)


# ============================================================================ Sequential


class Sequential:
    """A stack of layers run one after the other, with Keras' training API.

    ``Sequential(layers=(), *, batch_first=None, seed=None)``. ``layers``: layer objects
    (Embedding, RNN/LSTM/GRU, Dense, Dropout, LastStep), or ``(name, layer)`` pairs.
    Names default to the layer's ``name`` or its lower-cased type, made unique
    (``dense``, ``dense_1``); parameters are ``<name>.<param>`` (``rnn.weight_ih_l0``).
    ``batch_first``: the layout of ``forward``/``backward`` arrays; by default that of the
    recurrent layers (which must all agree), else True. ``fit``/``evaluate``/``predict``
    always take samples along axis 0 (Keras' layout) whatever ``batch_first`` is.
    ``seed`` seeds the shuffling Generator ``rng``.

    forward(x, lengths=None, initial_state=None, return_state=False):
        x: ids (B, T) if the first layer is an Embedding, else (B, T, F) (time-major:
        (T, B, ...)). ``lengths`` (B,) go to every recurrent layer and LastStep.
        ``initial_state``: one entry per recurrent layer (h0, or (h0, c0) for LSTM, or
        None). Returns the last layer's output ((B, T, C) per step, or (B, C) after
        LastStep), and with ``return_state`` also the list of final states.
    backward(grad_output) -> dL/dx (None when the input is ids); parameter gradients
        accumulate in ``grads`` (``<name>.<param>`` -> array) until ``zero_grad()``.
    """

    def __init__(self, layers: Sequence[Any] = (), *, batch_first: Optional[bool] = None,
                 seed: Any = None) -> None:
        if batch_first is not None:
            _flag("batch_first", batch_first)
        self._batch_first = None if batch_first is None else bool(batch_first)
        self._explicit_batch_first = batch_first is not None
        self.layers: List[Any] = []
        self.names: List[str] = []
        self.rng = np.random.default_rng(seed)
        self.training = True
        self.optimizer: Optional[_optim.Optimizer] = None
        self._loss: Optional[_LossSpec] = None
        self._metric_specs: List[Any] = []
        self.stop_training = False
        self.history: Optional[History] = None
        self._fit: Optional[_FitState] = None
        self._resume: Optional[dict] = None
        if isinstance(layers, (Layer, RecurrentLayer)):
            raise TypeError("layers: expected a list of layers, got a single layer; wrap it "
                            "in a list")
        for entry in layers:
            if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str):
                self.add(entry[1], name=entry[0])
            else:
                self.add(entry)

    # ---- building ---------------------------------------------------------------------

    def add(self, layer: Any, name: Optional[str] = None) -> "Sequential":
        """Append a layer (checked against the ones before it); returns the model."""
        if not isinstance(layer, (Layer, RecurrentLayer)):
            raise TypeError(f"layer: expected a pyrnn layer (Embedding, RNN, LSTM, GRU, Dense, "
                            f"Dropout, LastStep), got {type(layer).__name__}")
        if any(layer is other for other in self.layers):
            raise ValueError(f"layer: {layer!r} is already in the model")
        name = name if name is not None else getattr(layer, "name", None)
        if name is None:
            base, k = _type_name(layer).lower(), 0
            name = base
            while name in self.names:
                k += 1
                name = f"{base}_{k}"
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"name: expected a non-empty str without '.', got {name!r}")
        if name in self.names:
            raise ValueError(f"name: {name!r} is already used by layer "
                             f"{self.names.index(name)}; layer names must be unique")
        self._check_chain(self.layers + [layer])
        self.layers.append(layer)
        self.names.append(name)
        layer.train(self.training)
        return self

    def _check_chain(self, layers: List[Any]) -> None:
        """Validate a layer list: dtypes, layouts, feature sizes, where each may stand."""
        dtype = None
        batch_first = self._batch_first if self._explicit_batch_first else None
        features: Optional[int] = None
        has_time = True
        for i, layer in enumerate(layers):
            where = f"layer {i} ({_type_name(layer)})"
            dt = _layer_dtype(layer)
            if dt is not None:
                if dtype is not None and dt != dtype:
                    raise TypeError(f"{where}: dtype {dt} differs from the model's {dtype}; "
                                    "every layer must use the same dtype")
                dtype = dt
            if isinstance(layer, Embedding):
                if i != 0:
                    raise ValueError(f"{where}: an Embedding takes ids, so it must be the first "
                                     "layer")
                features = layer.embedding_dim
                continue
            if isinstance(layer, RecurrentLayer):
                if not has_time:
                    raise ValueError(f"{where}: needs a sequence, but LastStep before it "
                                     "removed the time axis")
                if batch_first is None:
                    batch_first = layer.batch_first
                elif layer.batch_first != batch_first:
                    raise ValueError(f"{where}: batch_first={layer.batch_first} differs from the "
                                     f"model's batch_first={batch_first}")
                if features is not None and layer.input_size != features:
                    raise ValueError(f"{where}: input_size={layer.input_size} but the layer "
                                     f"before outputs {features} features")
                features = layer.hidden_size * layer.num_directions
            elif isinstance(layer, Dense):
                if features is not None and layer.in_features != features:
                    raise ValueError(f"{where}: in_features={layer.in_features} but the layer "
                                     f"before outputs {features} features")
                features = layer.out_features
            elif isinstance(layer, LastStep):
                if not has_time:
                    raise ValueError(f"{where}: the time axis was already removed by an "
                                     "earlier LastStep")
                if layer.batch_first is not None:
                    if batch_first is None:
                        batch_first = layer.batch_first
                    elif layer.batch_first != batch_first:
                        raise ValueError(f"{where}: batch_first={layer.batch_first} differs "
                                         f"from the model's batch_first={batch_first}")
                has_time = False
        if not self._explicit_batch_first:
            self._batch_first = batch_first

    @property
    def batch_first(self) -> bool:
        """The layout of forward/backward arrays (True when no layer decides it)."""
        return True if self._batch_first is None else self._batch_first

    @property
    def dtype(self) -> np.dtype:
        for layer in self.layers:
            dt = _layer_dtype(layer)
            if dt is not None:
                return dt
        return np.dtype(np.float32)

    @property
    def takes_tokens(self) -> bool:
        """True if the model's input is integer ids (its first layer is an Embedding)."""
        return bool(self.layers) and isinstance(self.layers[0], Embedding)

    @property
    def output_has_time(self) -> bool:
        """True if the output is per time step (no LastStep in the model)."""
        return not any(isinstance(layer, LastStep) for layer in self.layers)

    @property
    def input_features(self) -> Optional[int]:
        """Features of a float input (None for ids or if no layer fixes it)."""
        for layer in self.layers:
            if isinstance(layer, Embedding):
                return None
            if isinstance(layer, RecurrentLayer):
                return layer.input_size
            if isinstance(layer, Dense):
                return layer.in_features
        return None

    @property
    def output_features(self) -> Optional[int]:
        features = None
        for layer in self.layers:
            if isinstance(layer, Embedding):
                features = layer.embedding_dim
            elif isinstance(layer, RecurrentLayer):
                features = layer.hidden_size * layer.num_directions
            elif isinstance(layer, Dense):
                features = layer.out_features
        return features

    @property
    def carried_state(self) -> Optional[List[State]]:
        """During a stateful fit: the states carried into the next chunk (one per recurrent
        layer, detached copies of the last chunk's final states); None otherwise."""
        st = self._fit
        if st is None or st.finished or st.carry is None:
            return None
        return [tuple(a.copy() for a in s) if isinstance(s, tuple) else s.copy()
                for s in st.carry]

    def recurrent_layers(self) -> List[Tuple[str, RecurrentLayer]]:
        return [(n, layer) for n, layer in zip(self.names, self.layers)
                if isinstance(layer, RecurrentLayer)]

    def __getitem__(self, key: Union[int, str]) -> Any:
        if isinstance(key, str):
            if key not in self.names:
                raise KeyError(f"no layer named {key!r}; layers are {self.names}")
            return self.layers[self.names.index(key)]
        return self.layers[key]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.layers)

    # ---- parameters ---------------------------------------------------------------------

    def named_parameters(self) -> Iterator[Tuple[str, Array]]:
        """(``<layer>.<param>``, live array) pairs; optimisers update them in place."""
        for name, layer in zip(self.names, self.layers):
            for pname, p in layer.named_parameters():
                yield f"{name}.{pname}", p

    def parameters(self) -> List[Array]:
        return [p for _, p in self.named_parameters()]

    @property
    def grads(self) -> Dict[str, Array]:
        """``<layer>.<param>`` -> the layer's live gradient array."""
        return {f"{name}.{pname}": g for name, layer in zip(self.names, self.layers)
                for pname, g in layer.grads.items()}

    def count_params(self) -> int:
        return int(sum(p.size for p in self.parameters()))

    def state_dict(self) -> Dict[str, Array]:
        """Copies of every parameter under ``<layer>.<param>``."""
        return {k: p.copy() for k, p in self.named_parameters()}

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> None:
        """Copy parameters in by ``<layer>.<param>`` name; everything is checked first."""
        if not hasattr(state_dict, "items"):
            raise TypeError(f"state_dict: expected a mapping, got {type(state_dict).__name__}")
        per_layer: Dict[str, dict] = {n: {} for n in self.names}
        for key, value in state_dict.items():
            lname, _, pname = str(key).partition(".")
            if lname not in per_layer or not pname:
                raise ValueError(f"state_dict: unexpected key {key!r}; expected "
                                 f"'<layer>.<param>' with a layer in {self.names}")
            per_layer[lname][pname] = value
        expected = dict(self.named_parameters())
        missing = [k for k in expected if k not in state_dict]
        if strict and missing:
            raise ValueError(f"state_dict: missing keys {missing}")
        for key, value in state_dict.items():  # check all before copying any
            arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
            if key not in expected:
                raise ValueError(f"state_dict: unexpected key {key!r}")
            if arr.shape != expected[key].shape:
                raise ValueError(f"state_dict[{key!r}]: expected shape {expected[key].shape}, "
                                 f"got {arr.shape}")
        for name, layer in zip(self.names, self.layers):
            if per_layer[name]:
                layer.load_state_dict(per_layer[name], strict=False)

    def zero_grad(self) -> None:
        for layer in self.layers:
            layer.zero_grad()

    def train(self, mode: bool = True) -> "Sequential":
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def eval(self) -> "Sequential":
        return self.train(False)

    def first_nonfinite_parameter(self) -> Optional[str]:
        """Name of the first parameter holding NaN/Inf, or None if all are finite."""
        for name, p in self.named_parameters():
            if not np.isfinite(p).all():
                return name
        return None

    def _first_nonfinite_grad(self) -> Optional[str]:
        for name, g in self.grads.items():
            if not np.isfinite(g).all():
                return name
        return None

    # ---- forward / backward -------------------------------------------------------------

    def _check_input(self, x: Any) -> Array:
        if not self.layers:
            raise ValueError("model: has no layers; add some first")
        if self.takes_tokens:
            arr = x if isinstance(x, np.ndarray) else np.asarray(x)
            if arr.dtype.kind not in "iu":
                raise TypeError(f"x: expected integer ids (the first layer is an Embedding), "
                                f"got dtype {arr.dtype}")
            need = 2
        else:
            if not isinstance(x, np.ndarray):
                raise TypeError(f"x: expected a numpy.ndarray, got {type(x).__name__}")
            arr = x
            need = 3
        sequence_model = any(isinstance(layer, (RecurrentLayer, LastStep))
                             for layer in self.layers)
        if sequence_model and arr.ndim != need:
            layout = ("(B, T" if self.batch_first else "(T, B") + (")" if need == 2 else ", F)")
            raise ValueError(f"x: expected a {need}-D array {layout}, got shape "
                             f"{tuple(arr.shape)}")
        return arr

    def forward(self, x: Any, lengths: Optional[Sequence[int]] = None,
                initial_state: Optional[Sequence[State]] = None, return_state: bool = False):
        """Run every layer; see the class docstring for shapes."""
        x = self._check_input(x)
        rec = self.recurrent_layers()
        if initial_state is not None:
            if not isinstance(initial_state, (list, tuple)):
                raise TypeError(f"initial_state: expected a list of {len(rec)} states (one per "
                                f"recurrent layer), got {type(initial_state).__name__}")
            if len(initial_state) != len(rec):
                raise ValueError(f"initial_state: expected a list of {len(rec)} states (one per "
                                 f"recurrent layer), got {len(initial_state)}")
        states: List[State] = []
        seq_lengths = lengths
        for layer in self.layers:
            if isinstance(layer, RecurrentLayer):
                hx = None if initial_state is None else initial_state[len(states)]
                x, st = layer(x, hx, seq_lengths)
                states.append(st)
            elif isinstance(layer, LastStep):
                if layer.batch_first is None:
                    layer.batch_first = self.batch_first
                x = layer(x, seq_lengths)
                seq_lengths = None
            else:
                x = layer(x)
        return (x, states) if return_state else x

    __call__ = forward

    def backward(self, grad_output: Array, grad_state: Optional[Sequence[State]] = None,
                 return_state_grads: bool = False):
        """Backpropagate dL/d(output) through the last training forward.

        grad_state: optional dL/d(final state) per recurrent layer (None entries: zero).
        Returns dL/dx (None for id inputs); with ``return_state_grads`` also the list of
        dL/d(initial state) per recurrent layer. Parameter gradients add into ``grads``.
        """
        rec = self.recurrent_layers()
        if grad_state is not None and (not isinstance(grad_state, (list, tuple))
                                       or len(grad_state) != len(rec)):
            raise ValueError(f"grad_state: expected a list of {len(rec)} entries (one per "
                             f"recurrent layer) or None")
        dstates: List[State] = [None] * len(rec)
        k = len(rec)
        dy = grad_output
        for layer in reversed(self.layers):
            if isinstance(layer, RecurrentLayer):
                k -= 1
                dy, dstates[k] = layer.backward(dy, None if grad_state is None else grad_state[k])
            else:
                dy = layer.backward(dy)
        return (dy, dstates) if return_state_grads else dy

    def step(self, x_t: Any, state: Optional[Sequence[State]] = None) -> Tuple[Array, List[State]]:
        """Advance one time step without a tape: x_t (B,) ids or (B, F) -> (y_t (B, C), state).

        The streaming view of the C runtime: feed ``state`` back in to continue. Dropout
        follows the model's mode (call ``eval()`` first for inference). Needs
        unidirectional recurrent layers.
        """
        for name, layer in self.recurrent_layers():
            if layer.bidirectional:
                raise ValueError(f"step: layer {name!r} is bidirectional and needs the whole "
                                 "sequence; use forward()")
        x_t = np.asarray(x_t) if not isinstance(x_t, np.ndarray) else x_t
        want = 1 if self.takes_tokens else 2
        if x_t.ndim != want:
            raise ValueError(f"x_t: expected {'(B,) ids' if want == 1 else '(B, F)'}, got shape "
                             f"{tuple(x_t.shape)}")
        x = x_t[:, None] if self.batch_first else x_t[None]
        with no_grad():
            y, state = self.forward(x, initial_state=state, return_state=True)
        if self.output_has_time:
            y = y[:, 0] if self.batch_first else y[0]
        return y, state

    # ---- compile ------------------------------------------------------------------------

    def compile(self, optimizer: Any = None, loss: Any = None,
                metrics: Optional[Sequence[Any]] = None) -> "Sequential":
        """Set the optimiser, loss and metrics used by fit/evaluate (Keras' compile).

        optimizer: a ``pyrnn.optim.Optimizer`` built on this model
            (``Adam(model, lr=1e-3)``), a name ('sgd', 'adam', 'adamw', 'rmsprop',
            'adagrad') for the defaults, or a function ``model -> Optimizer``. None keeps
            the current one.
        loss: 'cross_entropy' (logits (..., C), integer targets (...)), 'bce' (logits,
            targets in [0, 1]), 'mse', a ``pyrnn.losses`` loss object, or a function
            ``(pred, target, mask) -> (loss, dpred)``. None keeps the current one.
        metrics: names ('accuracy', 'perplexity', 'bpc', 'mae', 'mse') or Metric objects.
        """
        if optimizer is not None:
            self.optimizer = self._make_optimizer(optimizer)
        if loss is not None:
            self._loss = _LossSpec(loss)
            last = self.layers[-1] if self.layers else None
            if self._loss.kind == "ce" and isinstance(last, Dense) and last.activation == "softmax":
                warnings.warn("loss: cross-entropy takes logits, but the last Dense applies "
                              "softmax (softmax twice); use activation=None", RuntimeWarning,
                              stacklevel=2)
        if metrics is not None:
            if isinstance(metrics, (str, Metric)):
                metrics = [metrics]
            kind = self._loss.kind if self._loss is not None else None
            for m in metrics:  # fail now rather than at the end of the first epoch
                get_metric(m if not isinstance(m, Metric) else copy.deepcopy(m), kind)
            self._metric_specs = list(metrics)
        return self

    def _make_optimizer(self, spec: Any) -> _optim.Optimizer:
        names = {"sgd": _optim.SGD, "adam": _optim.Adam, "adamw": _optim.AdamW,
                 "rmsprop": _optim.RMSprop, "adagrad": _optim.Adagrad}
        if isinstance(spec, str):
            if spec.lower() not in names:
                raise ValueError(f"optimizer: unknown name {spec!r}; expected one of "
                                 f"{sorted(names)} or an Optimizer")
            return names[spec.lower()](self)
        if isinstance(spec, _optim.Optimizer):
            opt = spec
        elif callable(spec):
            opt = spec(self)
            if not isinstance(opt, _optim.Optimizer):
                raise TypeError(f"optimizer: the factory returned {type(opt).__name__}, "
                                f"expected a pyrnn.optim.Optimizer")
        else:
            raise TypeError(f"optimizer: expected a pyrnn.optim.Optimizer, a name or a "
                            f"factory, got {type(spec).__name__}")
        self._check_optimizer(opt)
        return opt

    def _check_optimizer(self, opt: _optim.Optimizer) -> None:
        # pyrnn.optim has no public accessor for its modules; names alone cannot tell two
        # models with the same layout apart, so look at the module list when it is there
        modules = getattr(opt, "_modules", None)
        mine = [n for n, _ in self.named_parameters()]
        if opt.parameter_names() != mine or (
                modules is not None and [m for _, m in modules] != [self]):
            raise ValueError("optimizer: it was built on other parameters than this model's; "
                             "build it on the model itself, e.g. Adam(model, lr=1e-3)")

    def _metrics(self) -> List[Metric]:
        kind = self._loss.kind if self._loss is not None else None
        out = []
        for spec in self._metric_specs:
            m = get_metric(copy.deepcopy(spec) if isinstance(spec, Metric) else spec, kind)
            m.reset()
            out.append(m)
        return out

    # ---- data handling ------------------------------------------------------------------

    def _prepare_x(self, x: Any, name: str = "x") -> Array:
        if x is None:
            raise ValueError(f"{name}: expected an array of samples, got None")
        arr = np.asarray(x)
        if self.takes_tokens:
            if arr.dtype.kind not in "iu":
                raise TypeError(f"{name}: expected integer ids (the first layer is an "
                                f"Embedding), got dtype {arr.dtype}")
        else:
            if arr.dtype.kind not in "fiub":
                raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
            arr = arr.astype(self.dtype, copy=False)
        if arr.ndim < 1 or arr.shape[0] < 1:
            raise ValueError(f"{name}: expected at least one sample along axis 0, got shape "
                             f"{arr.shape}")
        if any(isinstance(layer, (RecurrentLayer, LastStep)) for layer in self.layers):
            need = 2 if self.takes_tokens else 3
            if arr.ndim != need:
                raise ValueError(f"{name}: expected a {need}-D array "
                                 f"{'(N, T)' if need == 2 else '(N, T, F)'} (samples first), "
                                 f"got shape {arr.shape}")
        return arr

    def _prepare_y(self, y: Any, n: int, name: str = "y") -> Array:
        if y is None:
            raise ValueError(f"{name}: expected targets, got None")
        arr = np.asarray(y)
        if arr.ndim < 1 or arr.shape[0] != n:
            raise ValueError(f"{name}: expected {n} targets along axis 0 (one per sample), got "
                             f"shape {arr.shape}")
        if arr.dtype.kind == "f" and arr.dtype != self.dtype:
            arr = arr.astype(self.dtype)
        return arr

    def _prepare_lengths(self, lengths: Any, x: Array, name: str = "lengths") -> Optional[Array]:
        if lengths is None:
            return None
        lens = np.asarray(lengths)
        if lens.dtype.kind not in "iu" or lens.shape != (x.shape[0],):
            raise ValueError(f"{name}: expected {x.shape[0]} integer lengths, got dtype "
                             f"{lens.dtype} shape {lens.shape}")
        T = x.shape[1]
        if lens.min() < 1 or lens.max() > T:
            bad = int(lens.min()) if lens.min() < 1 else int(lens.max())
            raise ValueError(f"{name}: expected every length in 1..T=1..{T}, got {bad}")
        return lens.astype(np.int64)

    def _to_model(self, a: Array, has_time: bool) -> Array:
        """Samples-first (B, T, ...) -> the model's layout."""
        if self.batch_first or not has_time or a.ndim < 2:
            return a
        return np.ascontiguousarray(np.swapaxes(a, 0, 1))

    def _from_model(self, a: Array, has_time: bool) -> Array:
        return self._to_model(a, has_time)

    def _mask(self, lengths: Optional[Array], T: int) -> Optional[Array]:
        if lengths is None or not self.output_has_time:
            return None
        m = np.arange(T)[None, :] < lengths[:, None]
        return m if self.batch_first else np.ascontiguousarray(m.T)

    def _batch(self, x: Array, y: Optional[Array], lengths: Optional[Array], idx: Any,
               tslice: Optional[slice] = None):
        """Slice a batch (rows ``idx``, time ``tslice``), trim padding, go to model layout."""
        xb = x[idx]
        yb = None if y is None else y[idx]
        lb = None if lengths is None else lengths[idx]
        if tslice is not None:
            xb = xb[:, tslice]
            if yb is not None and self.output_has_time:
                yb = yb[:, tslice]
        elif lb is not None:
            T = int(lb.max())  # padding past the longest sequence of the batch is dead weight
            if T < xb.shape[1]:
                xb = xb[:, :T]
                if yb is not None and self.output_has_time and yb.ndim >= 2 \
                        and yb.shape[1] == x.shape[1]:
                    yb = yb[:, :T]
        if lb is not None:
            items = float(lb.sum())
        elif xb.ndim >= 3 or (self.takes_tokens and xb.ndim == 2):
            items = float(xb.shape[0] * xb.shape[1])  # time steps
        else:
            items = float(xb.shape[0])  # vectors
        T = xb.shape[1] if xb.ndim >= 2 else 1
        xm = self._to_model(np.ascontiguousarray(xb), True)
        ym = None if yb is None else self._to_model(yb, self.output_has_time)
        return xm, ym, lb, self._mask(lb, T), items

    @staticmethod
    def _count(out: Array, mask: Optional[Array]) -> float:
        if mask is not None:
            return float(mask.sum())
        return float(out.size // out.shape[-1]) if out.ndim else 1.0

    # ---- fit ----------------------------------------------------------------------------

    def fit(self, x: Any = None, y: Any = None, batch_size: Optional[int] = None,
            epochs: int = 1, *, verbose: Union[str, int] = "auto",
            callbacks: Optional[Sequence[Callback]] = None, validation_split: float = 0.0,
            validation_data: Optional[tuple] = None, shuffle: bool = True,
            initial_epoch: Optional[int] = None, lengths: Any = None, stateful: bool = False,
            seq_len: Optional[int] = None, optimizer: Any = None, loss: Any = None,
            metrics: Optional[Sequence[Any]] = None, on_nonfinite: str = "raise",
            progress_stream: Any = None) -> History:
        """Train for ``epochs`` epochs (Keras' fit); returns the History.

        x: (N, T, F) floats or (N, T) ids, samples first; y: targets per sample, (N, T)
        ids / (N, T, F) values per step, or (N,) / (N, F) after a LastStep. lengths: (N,)
        valid steps; padded steps are masked out of the loss and metrics, and each batch
        is trimmed to its longest sequence. Batches of ``batch_size`` (default 32) are
        drawn in a fresh random order each epoch when ``shuffle``.

        stateful=True: truncated BPTT. x (B, S, ...) and y (B, S, ...) are B parallel
        streams; each epoch walks them in chunks of ``seq_len`` steps, carrying every
        recurrent layer's final state into the next chunk as its initial state (the
        gradient stops at chunk borders) and resetting it at each epoch start. With
        ``shuffle`` the first chunk of an epoch has a random length in 1..seq_len, so the
        borders move between epochs while each stream stays contiguous.

        validation_data: (x, y) or (x, y, lengths) (stateful: streams), evaluated at each
        epoch end as ``val_*`` logs; or ``validation_split``: the last fraction of x.
        initial_epoch: the first epoch's index. None continues a run loaded from a
        checkpoint (mid-epoch included) or starts at 0; ``epochs`` is the index to stop at.
        on_nonfinite: 'raise' (default) stops with FloatingPointError naming the step and
        what is NaN/Inf; 'skip' skips the step (no update; the carried state resets).
        verbose: 'auto' (a progress bar on a TTY, else one line per epoch), 0 (silent), 1
        (force the bar), 2 (one line per epoch); written to ``progress_stream`` (stderr).
        optimizer/loss/metrics: shortcuts for ``compile`` first.
        """
        if optimizer is not None or loss is not None or metrics is not None:
            self.compile(optimizer, loss, metrics)
        if self.optimizer is None or self._loss is None:
            raise ValueError("fit: the model has no " + ("optimizer" if self.optimizer is None
                                                          else "loss") +
                             "; call compile(optimizer=..., loss=...) or pass them to fit")
        epochs = int(epochs) if not isinstance(epochs, bool) else -1
        if epochs < 0:
            raise ValueError(f"epochs: expected an int >= 0, got {epochs}")
        if on_nonfinite not in ("raise", "skip"):
            raise ValueError(f"on_nonfinite: expected 'raise' or 'skip', got {on_nonfinite!r}")
        _flag("stateful", stateful)
        _flag("shuffle", shuffle)
        x = self._prepare_x(x)
        y = self._prepare_y(y, x.shape[0])
        if stateful:
            if lengths is not None:
                raise ValueError("lengths: not supported with stateful=True (streams are dense)")
            if validation_split:
                raise ValueError("validation_split: not supported with stateful=True; pass "
                                 "validation_data streams")
            if seq_len is None:
                raise ValueError("seq_len: expected the chunk length (int >= 1) with "
                                 "stateful=True, got None")
            seq_len = _positive_int("seq_len", seq_len)
            if x.ndim < 2:
                raise ValueError(f"x: expected streams (B, S, ...), got shape {x.shape}")
            if batch_size is not None and batch_size != x.shape[0]:
                raise ValueError(f"batch_size: with stateful=True the batch is the B={x.shape[0]}"
                                 f" streams of x; got batch_size={batch_size}")
            if y.ndim < 2 or y.shape[1] != x.shape[1]:
                raise ValueError(f"y: expected per-step stream targets (B, S, ...) matching x "
                                 f"{x.shape[:2]}, got shape {y.shape}")
            batch_size = x.shape[0]
            lens = None
        else:
            batch_size = 32 if batch_size is None else _positive_int("batch_size", batch_size)
            if seq_len is not None:
                raise ValueError("seq_len: only used with stateful=True")
            lens = self._prepare_lengths(lengths, x)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data: expected (x, y) or (x, y, lengths)")
            xv = self._prepare_x(validation_data[0], "validation_data[0]")
            yv = self._prepare_y(validation_data[1], xv.shape[0], "validation_data[1]")
            lv = None
            if len(validation_data) == 3:
                lv = self._prepare_lengths(validation_data[2], xv, "validation_data[2]")
            val = (xv, yv, lv)
        elif validation_split:
            if not 0.0 < float(validation_split) < 1.0:
                raise ValueError(f"validation_split: expected a float in (0, 1), got "
                                 f"{validation_split!r}")
            n_val = int(x.shape[0] * float(validation_split))
            if n_val < 1 or n_val >= x.shape[0]:
                raise ValueError(f"validation_split: {validation_split} of {x.shape[0]} samples "
                                 f"leaves an empty training or validation set")
            cut = x.shape[0] - n_val  # Keras' rule: the last samples, before shuffling
            val = (x[cut:], y[cut:], None if lens is None else lens[cut:])
            x, y, lens = x[:cut], y[:cut], None if lens is None else lens[:cut]

        for i, cb in enumerate(callbacks or []):
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks[{i}]: expected a pyrnn.training.Callback, got "
                                f"{type(cb).__name__}")
        plan = {"kind": "stateful" if stateful else "batches", "n": int(x.shape[0]),
                "steps": int(x.shape[1]) if stateful else None, "batch_size": int(batch_size),
                "seq_len": seq_len, "shuffle": bool(shuffle)}
        st = _FitState(plan, epochs)
        st.metrics = self._metrics()
        history = History()
        cbs = CallbackList([history] + list(callbacks or []), self,
                           {"epochs": epochs, "batch_size": batch_size, "verbose": verbose})
        st.history, st.callbacks = history, cbs
        self.history = history
        if initial_epoch is not None:
            if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) \
                    or initial_epoch < 0:
                raise ValueError(f"initial_epoch: expected None or an int >= 0, got "
                                 f"{initial_epoch!r}")
            st.epoch = int(initial_epoch)
            self._resume = None
        elif self._resume is not None:
            self._restore_fit(st, self._resume)  # raises (keeping _resume) on a mismatch
            self._resume = None
        self._fit = st
        stream = progress_stream if progress_stream is not None else sys.stderr
        mode = self._verbosity(verbose, stream)
        unit = "tok" if (stateful or self.output_has_time) else "seq"
        self.stop_training = False
        self.train()
        cbs.on_train_begin({})
        mid_epoch = st.batch > 0
        while st.epoch < epochs:
            epoch = st.epoch
            if not mid_epoch:
                st.epoch_rng = self.rng.bit_generator.state
                st.reset_epoch()
                st.batch = 0
            else:
                self.rng.bit_generator.state = st.epoch_rng  # redraw this epoch's order
            plan_items = self._epoch_plan(plan)
            mid_epoch = False
            cbs.on_epoch_begin(epoch, {})
            bar = ProgressBar(len(plan_items), prefix=f"Epoch {epoch + 1}/{epochs}", unit=unit,
                              stream=stream, enabled=(mode == "bar_forced") or
                              ("auto" if mode == "bar_auto" else False))
            started = time.perf_counter()
            items_before = st.items
            try:
                while st.batch < len(plan_items):
                    b = st.batch
                    cbs.on_train_batch_begin(b, {})
                    item = plan_items[b]
                    if stateful:
                        xb, yb, lb, mask, items = self._batch(x, y, None, slice(None), item)
                    else:
                        xb, yb, lb, mask, items = self._batch(x, y, lens, item)
                    logs = self._train_batch(st, xb, yb, lb, mask, items, stateful, on_nonfinite,
                                             cbs, b)
                    B, T = xb.shape[:2] if self.batch_first else xb.shape[1::-1]
                    logs.update(size=int(B), steps=int(T))
                    st.batch = b + 1
                    st.step += 1
                    st.layer_rngs = self._layer_rng_states()
                    bar.update(st.batch, st.items - items_before, logs)
                    cbs.on_train_batch_end(b, logs)
                    if self.stop_training:
                        break
                train_seconds = time.perf_counter() - started
                logs = self._epoch_logs(st, on_nonfinite)
                if val is not None:
                    vlogs = self._evaluate_arrays(*val, batch_size=batch_size, stateful=stateful,
                                                  seq_len=seq_len)
                    logs.update({f"val_{k}": v for k, v in vlogs.items()})
                bar.close(st.batch, st.items - items_before, logs)
            except BaseException:
                bar.close(st.batch, st.items - items_before, None)
                raise
            if mode == "lines":
                self._epoch_line(stream, epoch, epochs, logs, time.perf_counter() - started,
                                 train_seconds, st.items - items_before, unit)
            st.epoch, st.batch = epoch + 1, 0
            st.epoch_rng = self.rng.bit_generator.state
            st.layer_rngs = self._layer_rng_states()
            st.carry = None
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        st.finished = True
        cbs.on_train_end({})
        return history

    @staticmethod
    def _verbosity(verbose: Any, stream: Any = None) -> str:
        if verbose == "auto":
            isatty = getattr(stream if stream is not None else sys.stderr, "isatty", None)
            return "bar_auto" if isatty and isatty() else "lines"
        if verbose in (0, False):
            return "silent"
        if verbose in (1, True):
            return "bar_forced"
        if verbose == 2:
            return "lines"
        raise ValueError(f"verbose: expected 'auto', 0, 1 or 2, got {verbose!r}")

    @staticmethod
    def _epoch_line(stream: Any, epoch: int, epochs: int, logs: dict, seconds: float,
                    train_seconds: float, items: float, unit: str) -> None:
        parts = [f"Epoch {epoch + 1}/{epochs}", f"{seconds:.1f}s"]
        parts += [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items()]
        rate = items / train_seconds if train_seconds > 0 else 0.0
        stream.write(" - ".join(parts) + f" | {rate:.4g} {unit}/s\n")
        stream.flush()

    def _epoch_plan(self, plan: dict) -> list:
        """This epoch's batches: row index arrays, or time slices for stateful runs.
        Draws from ``self.rng`` (the only randomness of the order)."""
        if plan["kind"] == "batches":
            n, bs = plan["n"], plan["batch_size"]
            order = self.rng.permutation(n) if plan["shuffle"] else np.arange(n)
            return [order[i:i + bs] for i in range(0, n, bs)]
        S, k = plan["steps"], plan["seq_len"]
        first = int(self.rng.integers(1, k + 1)) if plan["shuffle"] and S > k else k
        bounds = [0] + list(range(first, S, k)) + [S]
        return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]

    def _train_batch(self, st: _FitState, xb: Array, yb: Array, lb: Optional[Array],
                     mask: Optional[Array], items: float, stateful: bool, on_nonfinite: str,
                     cbs: CallbackList, b: int) -> dict:
        assert self._loss is not None and self.optimizer is not None
        where = f"step {st.step + 1} (epoch {st.epoch + 1}, batch {b + 1})"
        self.zero_grad()
        out, states = self.forward(xb, lengths=lb, initial_state=st.carry if stateful else None,
                                   return_state=True)
        loss, dout = self._loss.fn(out, yb, mask)
        problem = None
        if not math.isfinite(loss):
            problem = f"the loss is {loss}" + self._diagnose(out)
        else:
            self.backward(dout)
            cbs.on_after_backward(b, {"loss": loss})
            bad = self._first_nonfinite_grad()
            if bad is not None:
                problem = f"the gradient of {bad!r} contains NaN/Inf (loss {loss:.6g})"
        if problem is not None:
            if on_nonfinite == "raise":
                raise FloatingPointError(
                    f"fit: non-finite values at {where}: {problem}. The step was not applied "
                    "and no checkpoint was written for it; lower the learning rate, clip "
                    "gradients (clipnorm=...), or pass on_nonfinite='skip' to skip such steps")
            self.zero_grad()
            if not st.warned_skip:
                st.warned_skip = True
                warnings.warn(f"fit: skipped {where}: {problem} (on_nonfinite='skip'; the count "
                              "is logged as 'skipped')", RuntimeWarning, stacklevel=3)
            st.skipped += 1
            st.carry = None  # a state computed along a NaN path would poison the next chunks
            return self._running_logs(st)
        self.optimizer.step()
        n = self._count(out, mask)
        st.loss_total += loss * n
        st.count += n
        st.items += items
        for m in st.metrics:
            m.update(out, yb, mask)
        if stateful:
            st.carry = states
        return self._running_logs(st)

    def _diagnose(self, out: Array) -> str:
        bad = self.first_nonfinite_parameter()
        if bad is not None:
            return f"; parameter {bad!r} holds NaN/Inf"
        n_bad = int(out.size - np.isfinite(out).sum())
        if n_bad:
            return f"; the model output holds {n_bad} NaN/Inf values"
        return "; parameters and outputs are finite, so check the targets"

    def _running_logs(self, st: _FitState) -> dict:
        logs: Dict[str, Any] = {"loss": st.loss_total / st.count if st.count else float("nan")}
        for m in st.metrics:
            logs[m.name] = m.result()
        if st.skipped:
            logs["skipped"] = st.skipped
        return logs

    def _epoch_logs(self, st: _FitState, on_nonfinite: str) -> dict:
        logs = self._running_logs(st)
        if on_nonfinite == "skip":
            logs["skipped"] = st.skipped
        logs["lr"] = float(self.optimizer.lr) if self.optimizer is not None else float("nan")
        return logs

    def _layer_rng_states(self) -> Dict[str, dict]:
        out = {}
        for name, layer in zip(self.names, self.layers):
            rng = _layer_rng(layer)
            if rng is not None:
                out[name] = rng.bit_generator.state
        return out

    # ---- evaluate / predict -------------------------------------------------------------

    def _evaluate_arrays(self, x: Array, y: Array, lengths: Optional[Array], batch_size: int,
                         stateful: bool = False, seq_len: Optional[int] = None,
                         bar: Optional[ProgressBar] = None) -> dict:
        if self._loss is None:
            raise ValueError("evaluate: the model has no loss; call compile(loss=...) first")
        metrics = self._metrics()
        total = count = items = 0.0
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                if stateful:
                    S, k = x.shape[1], seq_len or x.shape[1]
                    batches = [(slice(None), slice(t, min(t + k, S))) for t in range(0, S, k)]
                else:
                    batches = [(np.arange(i, min(i + batch_size, x.shape[0])), None)
                               for i in range(0, x.shape[0], batch_size)]
                carry = None
                for j, (idx, ts) in enumerate(batches):
                    xb, yb, lb, mask, n_items = self._batch(x, y, lengths, idx, ts)
                    out, carry = self.forward(xb, lengths=lb, initial_state=carry,
                                              return_state=True)
                    if not stateful:
                        carry = None
                    loss, _ = self._loss.fn(out, yb, mask)
                    n = self._count(out, mask)
                    total += loss * n
                    count += n
                    items += n_items
                    for m in metrics:
                        m.update(out, yb, mask)
                    if bar is not None:
                        bar.update(j + 1, items, {"loss": total / count if count else math.nan})
        finally:
            self.train(was_training)
        logs: Dict[str, Any] = {"loss": total / count if count else float("nan")}
        for m in metrics:
            logs[m.name] = m.result()
        if bar is not None:
            bar.close(len(batches), items, logs)
        return logs

    def evaluate(self, x: Any, y: Any, batch_size: Optional[int] = None, *,
                 lengths: Any = None, verbose: Union[str, int] = 0, stateful: bool = False,
                 seq_len: Optional[int] = None, progress_stream: Any = None) -> Dict[str, float]:
        """Loss and metrics over (x, y) in eval mode, without updates: {'loss': ..., ...}.

        Arguments as in fit (samples first; stateful=True walks (B, S) streams in chunks of
        ``seq_len`` carrying the state). The loss is the mean over all counted positions.
        """
        x = self._prepare_x(x)
        y = self._prepare_y(y, x.shape[0])
        lens = self._prepare_lengths(lengths, x)
        bs = 32 if batch_size is None else _positive_int("batch_size", batch_size)
        bar = None
        mode = self._verbosity(verbose, progress_stream)
        if mode in ("bar_auto", "bar_forced"):
            n_batches = (-(-x.shape[1] // (seq_len or x.shape[1])) if stateful
                         else -(-x.shape[0] // bs))
            bar = ProgressBar(n_batches, prefix="Evaluate", stream=progress_stream,
                              enabled=True if mode == "bar_forced" else "auto",
                              unit="tok" if (stateful or self.output_has_time) else "seq")
        return self._evaluate_arrays(x, y, lens, bs, stateful, seq_len, bar)

    def predict(self, x: Any, batch_size: Optional[int] = None, *, lengths: Any = None,
                verbose: Union[str, int] = 0, progress_stream: Any = None) -> Array:
        """Outputs for x (samples first) in eval mode: (N, T, C) per step, zero past each
        sequence's length, or (N, C) after a LastStep."""
        x = self._prepare_x(x)
        lens = self._prepare_lengths(lengths, x)
        bs = 32 if batch_size is None else _positive_int("batch_size", batch_size)
        mode = self._verbosity(verbose, progress_stream)
        bar = None
        if mode in ("bar_auto", "bar_forced"):
            bar = ProgressBar(-(-x.shape[0] // bs), prefix="Predict", stream=progress_stream,
                              enabled=True if mode == "bar_forced" else "auto")
        outs = []
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for j, i in enumerate(range(0, x.shape[0], bs)):
                    idx = np.arange(i, min(i + bs, x.shape[0]))
                    xb, _, lb, _, _ = self._batch(x, None, lens, idx)
                    out = self._from_model(self.forward(xb, lengths=lb), self.output_has_time)
                    if self.output_has_time and out.ndim >= 2:
                        if out.shape[1] < x.shape[1]:  # trimmed padding: put it back as zeros
                            pad = np.zeros((out.shape[0], x.shape[1]) + out.shape[2:], out.dtype)
                            pad[:, :out.shape[1]] = out
                            out = pad
                        if lb is not None:
                            out[np.arange(x.shape[1])[None, :] >= lb[:, None]] = 0
                    outs.append(out)
                    if bar is not None:
                        bar.update(j + 1, float(len(idx)))
        finally:
            self.train(was_training)
        if bar is not None:
            bar.close(len(outs), float(x.shape[0]))
        return np.concatenate(outs, axis=0)

    # ---- truncated BPTT on token streams ------------------------------------------------

    def _streams(self, ids: Any, batch_size: int, name: str) -> Tuple[Array, Array]:
        from .data.text import stream_batches  # the data module's stream layout
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise ValueError(f"{name}: expected a 1-D integer array of token ids, got dtype "
                             f"{ids.dtype} shape {ids.shape}")
        S = (len(ids) - 1) // batch_size
        if S < 1:
            raise ValueError(f"{name}: {len(ids)} ids are too few for batch_size={batch_size}")
        return next(stream_batches(ids, batch_size, S))  # one chunk = the whole (B, S) streams

    def fit_stream(self, ids: Any, batch_size: int = 32, seq_len: int = 100, epochs: int = 1, *,
                   validation_data: Any = None, **kwargs: Any) -> History:
        """Truncated BPTT on a long token stream, in one line.

        ``ids`` (N,) is cut into ``batch_size`` contiguous streams (pyrnn.data's
        ``stream_batches`` layout; targets are the next ids) and trained with
        ``fit(..., stateful=True, seq_len=seq_len)``: chunks of ``seq_len`` steps, state
        carried across chunks, gradient stopped at their borders. ``validation_data``:
        held-out ids, evaluated the same way. Other keywords go to ``fit``.
        """
        bs = _positive_int("batch_size", batch_size)
        x, y = self._streams(ids, bs, "ids")
        val = None
        if validation_data is not None:
            vb = max(1, min(bs, (len(np.asarray(validation_data)) - 1) // seq_len))
            val = self._streams(validation_data, vb, "validation_data")
        return self.fit(x, y, epochs=epochs, validation_data=val, stateful=True,
                        seq_len=seq_len, **kwargs)

    def evaluate_stream(self, ids: Any, batch_size: int = 32, seq_len: int = 100,
                        **kwargs: Any) -> Dict[str, float]:
        """Loss and metrics over a token stream, state carried across chunks (see fit_stream)."""
        bs = _positive_int("batch_size", batch_size)
        x, y = self._streams(ids, bs, "ids")
        return self.evaluate(x, y, stateful=True, seq_len=_positive_int("seq_len", seq_len),
                             **kwargs)

    # ---- generation ---------------------------------------------------------------------

    def generate(self, prime: Any, steps: int, *, temperature: float = 1.0, sample: bool = True,
                 top_k: Optional[int] = None, seed: Any = None, vocab: Any = None) -> Any:
        """One-to-many: prime the model, then step it ``steps`` times feeding back its output.

        Token models (first layer an Embedding): ``prime`` is a str (with ``vocab``, e.g.
        a pyrnn.data.CharVocab), (T0,) ids or (B, T0) ids. Each next id is drawn from
        softmax(logits / temperature) (only the ``top_k`` most likely if set), or is the
        argmax when ``sample=False`` or ``temperature == 0``. Returns the ``steps`` new ids
        ((steps,) or (B, steps)), or a str when ``prime`` is a str.

        Feature models: ``prime`` (T0, F) or (B, T0, F); each output (which must have F
        features) becomes the next input. Returns (steps, F) or (B, steps, F).

        Runs in eval mode (no dropout) and leaves the model's mode and RNGs untouched.
        """
        steps = _positive_int("steps", steps)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
                or not temperature >= 0 or not math.isfinite(temperature):
            raise ValueError(f"temperature: expected a finite float >= 0, got {temperature!r}")
        if top_k is not None:
            top_k = _positive_int("top_k", top_k)
        for name, layer in self.recurrent_layers():
            if layer.bidirectional:
                raise ValueError(f"generate: layer {name!r} is bidirectional; generation needs "
                                 "causal (unidirectional) layers")
        rng = np.random.default_rng(seed)
        as_text = isinstance(prime, str)
        if self.takes_tokens:
            if as_text:
                if vocab is None or not hasattr(vocab, "encode"):
                    raise ValueError("vocab: a str prime needs a vocabulary with encode/decode "
                                     "(e.g. pyrnn.data.CharVocab)")
                ids = np.asarray(vocab.encode(prime), dtype=np.int64)
            else:
                ids = np.asarray(prime)
                if ids.dtype.kind not in "iu":
                    raise TypeError(f"prime: expected ids or a str, got dtype {ids.dtype}")
            single = ids.ndim == 1
            ids = ids[None] if single else ids
            if ids.ndim != 2 or ids.shape[1] < 1:
                raise ValueError(f"prime: expected (T0,) or (B, T0) ids with T0 >= 1, got shape "
                                 f"{np.shape(prime)}")
            first = ids
        else:
            if as_text:
                raise TypeError("prime: a str prime needs a token model (first layer Embedding)")
            first = np.asarray(prime, dtype=self.dtype)
            single = first.ndim == 2
            first = first[None] if single else first
            F = self.input_features
            if first.ndim != 3 or first.shape[1] < 1 or (F is not None and first.shape[2] != F):
                raise ValueError(f"prime: expected (T0, {F}) or (B, T0, {F}) with T0 >= 1, got "
                                 f"shape {np.shape(prime)}")
            if self.output_features != first.shape[2]:
                raise ValueError(f"generate: the output ({self.output_features} features) is fed "
                                 f"back as input ({first.shape[2]} features); they must match")
        last = self.layers[-1]
        probs_out = isinstance(last, Dense) and last.activation == "softmax"
        if self.takes_tokens and isinstance(last, Dense) \
                and last.activation not in (None, "softmax"):
            raise ValueError(f"generate: token sampling needs logits or softmax outputs, the last "
                             f"layer has activation {last.activation!r}")
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                y, state = self.forward(self._to_model(first, True), initial_state=None,
                                        return_state=True)
                y = self._from_model(y, self.output_has_time)
                y = y[:, -1] if self.output_has_time else y
                produced = []
                for _ in range(steps):
                    if self.takes_tokens:
                        nxt = self._choose(y, probs_out, temperature, sample, top_k, rng)
                    else:
                        nxt = y.astype(self.dtype, copy=False)
                    produced.append(nxt)
                    y, state = self.step(nxt, state)
        finally:
            self.train(was_training)
        out = np.stack(produced, axis=1)
        if single:
            out = out[0]
        if as_text:
            return vocab.decode(out)
        return out

    @staticmethod
    def _choose(y: Array, probs_out: bool, temperature: float, sample: bool,
                top_k: Optional[int], rng: np.random.Generator) -> Array:
        z = y.astype(np.float64)
        if probs_out:
            with np.errstate(divide="ignore"):
                z = np.log(z)
        if not sample or temperature == 0:
            return z.argmax(axis=-1).astype(np.int64)
        z = z / temperature
        if top_k is not None and top_k < z.shape[-1]:
            kth = np.partition(z, -top_k, axis=-1)[:, -top_k][:, None]
            z = np.where(z >= kth, z, -np.inf)
        z = z - z.max(axis=-1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=-1, keepdims=True)
        u = rng.random((p.shape[0], 1))
        drawn = (np.cumsum(p, axis=-1) < u).sum(axis=-1)  # inverse CDF
        return np.minimum(drawn, p.shape[-1] - 1).astype(np.int64)

    # ---- architecture -------------------------------------------------------------------

    def get_config(self) -> dict:
        """The architecture in the model file's JSON form (docs/model-format.md)."""
        if not self.layers:
            raise ValueError("model: has no layers to describe")
        if self.takes_tokens:
            inp: dict = {"kind": "tokens", "vocab_size": self.layers[0].num_embeddings}
        else:
            F = self.input_features
            if F is None:
                raise ValueError("model: no layer fixes the input size (add a Dense or a "
                                 "recurrent layer)")
            inp = {"kind": "features", "size": F}
        layers = []
        for name, layer in zip(self.names, self.layers):
            t = _type_name(layer)
            entry: Dict[str, Any] = {"type": t, "name": name}
            if isinstance(layer, RecurrentLayer):
                entry.update({"input_size": layer.input_size, "hidden_size": layer.hidden_size,
                              "num_layers": layer.num_layers, "bias": layer.bias,
                              "bidirectional": layer.bidirectional, "dropout": layer.dropout})
                if t == "GRU":
                    entry["reset_after"] = layer.reset_after
                elif t == "RNN":
                    entry["nonlinearity"] = layer.nonlinearity
            else:
                entry.update(layer.get_config())
            layers.append(entry)
        return {"dtype": self.dtype.name, "batch_first": self.batch_first, "input": inp,
                "layers": layers}

    @classmethod
    def from_config(cls, config: Any) -> "Sequential":
        """Build a model (fresh weights) from ``get_config()``'s dict, validating every value."""
        return cls(_layers_from_config(config), batch_first=config["batch_first"])

    def summary(self, print_fn: Optional[Callable[[str], None]] = None) -> str:
        """A table of layers, output shapes and parameter counts (printed if print_fn)."""
        rows = [("name", "type", "output", "params")]
        t = "T, " if self.output_has_time else ""
        has_time = True
        features = None
        for name, layer in zip(self.names, self.layers):
            if isinstance(layer, Embedding):
                features = layer.embedding_dim
            elif isinstance(layer, RecurrentLayer):
                features = layer.hidden_size * layer.num_directions
            elif isinstance(layer, Dense):
                features = layer.out_features
            elif isinstance(layer, LastStep):
                has_time = False
            shape = ("(B, T, " if has_time else "(B, ") + f"{features if features else 'F'})"
            rows.append((name, repr(layer), shape, str(sum(p.size for _, p in
                                                           layer.named_parameters()))))
        del t
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"total parameters: {self.count_params()}  dtype: {self.dtype.name}  "
                     f"batch_first: {self.batch_first}")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    def __repr__(self) -> str:
        inner = ",\n".join(f"  ({n}): {layer!r}" for n, layer in zip(self.names, self.layers))
        return f"Sequential(\n{inner}\n)" if inner else "Sequential()"

    # ---- save / load --------------------------------------------------------------------

    def save(self, path: Union[str, os.PathLike], optimizer: Optional[_optim.Optimizer] = None,
             *, include_optimizer: bool = True) -> None:
        """Write the model to ``path`` (docs/model-format.md), atomically.

        Holds the architecture and weights; with ``include_optimizer`` (default) also the
        optimiser (``optimizer`` or the compiled one) and the training state (position in
        a fit run, RNG states, history, loss/metric names), so ``pyrnn.load`` + ``fit``
        resume exactly. Refuses (ValueError) to write NaN/Inf weights or optimiser state,
        so a good checkpoint is never replaced by a broken one.
        """
        from . import safetensors_io
        arch = self.get_config()
        bad = self.first_nonfinite_parameter()
        if bad is not None:
            raise ValueError(f"save: parameter {bad!r} holds NaN/Inf; refusing to write a "
                             f"non-finite model to {os.fspath(path)!r}")
        tensors: Dict[str, Array] = {k: np.ascontiguousarray(p) for k, p in self.named_parameters()}
        metadata = {"format": FORMAT, "version": FORMAT_VERSION,
                    "architecture": json.dumps(arch, separators=(",", ":"))}
        opt = optimizer if optimizer is not None else self.optimizer
        if include_optimizer and opt is not None:
            if optimizer is not None:
                self._check_optimizer(opt)
            scalars = {}
            for key, value in opt.state_dict().items():
                if isinstance(value, np.ndarray):
                    if not np.isfinite(value).all():
                        raise ValueError(f"save: optimizer state {key!r} holds NaN/Inf; refusing "
                                         "to write it")
                    tensors[f"optimizer.{key}"] = np.ascontiguousarray(value)
                else:
                    scalars[key] = value
            metadata["optimizer"] = json.dumps(scalars)
        if include_optimizer:
            metadata["training"] = json.dumps(self._training_state())
        safetensors_io.save_file(path, tensors, metadata)

    def _training_state(self) -> dict:
        st = self._fit
        state: Dict[str, Any] = {
            "compile": {"loss": self._loss.config if self._loss is not None else None,
                        "metrics": [m for m in self._metric_specs if isinstance(m, str)]},
        }
        if st is None:
            state.update({"finished": True, "shuffle_rng": self.rng.bit_generator.state,
                          "layer_rngs": self._layer_rng_states()})
            return state
        state.update({
            "finished": st.finished, "epoch": st.epoch, "batch": st.batch, "step": st.step,
            "epochs": st.epochs, "plan": st.plan,
            "shuffle_rng": st.epoch_rng if not st.finished else self.rng.bit_generator.state,
            "layer_rngs": st.layer_rngs or self._layer_rng_states(),
            "history": st.history.state_dict() if st.history is not None else None,
        })
        if not st.finished:
            state["callbacks"] = st.callbacks.state_dicts() if st.callbacks is not None else []
            if st.batch > 0:
                state["epoch_sums"] = {"loss_total": st.loss_total, "count": st.count,
                                       "items": st.items, "skipped": st.skipped,
                                       "metrics": [m.state_dict() for m in st.metrics]}
                state["carry"] = None if st.carry is None else [_encode_state(s)
                                                                for s in st.carry]
        return state

    def _restore_fit(self, st: _FitState, resume: dict) -> None:
        saved_plan = resume.get("plan")
        if saved_plan is not None and saved_plan != st.plan:
            diff = {k: (saved_plan.get(k), st.plan.get(k)) for k in st.plan
                    if saved_plan.get(k) != st.plan.get(k)}
            raise ValueError(f"fit: the checkpoint was saved by a run with other data or "
                             f"settings {{name: (saved, now)}} = {diff}; resume with the same "
                             f"ones, or pass initial_epoch= to start a new run")
        st.epoch = int(resume.get("epoch", 0))
        st.batch = int(resume.get("batch", 0))
        st.step = int(resume.get("step", 0))
        if resume.get("shuffle_rng"):
            self.rng.bit_generator.state = resume["shuffle_rng"]
        st.epoch_rng = self.rng.bit_generator.state
        if resume.get("history") and st.history is not None:
            st.history.load_state_dict(resume["history"])
        if st.callbacks is not None and resume.get("callbacks"):
            st.callbacks.load_state_dicts(resume["callbacks"])
        sums = resume.get("epoch_sums")
        if st.batch > 0 and sums is not None:
            st.loss_total, st.count = float(sums["loss_total"]), float(sums["count"])
            st.items, st.skipped = float(sums["items"]), int(sums["skipped"])
            for m, s in zip(st.metrics, sums["metrics"]):
                m.load_state_dict(s)
            carry = resume.get("carry")
            st.carry = None if carry is None else [_decode_state(s) for s in carry]


# ============================================================================== loading


def _check_arch_int(where: str, key: str, value: Any, lo: int = 1, hi: int = _MAX_SIZE) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"architecture: {where}.{key}: expected an int in {lo}..{hi}, got "
                         f"{value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"architecture: {where}.{key}: expected an int in {lo}..{hi}, got "
                         f"{value}")
    return value


def _check_arch_bool(where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"architecture: {where}.{key}: expected true/false, got {value!r}")
    return value


def _check_arch_prob(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"architecture: {where}.{key}: expected a number in [0, 1], got "
                         f"{value!r}")
    return float(value)


_LAYER_KEYS = {
    "Embedding": {"num_embeddings", "embedding_dim"},
    "LSTM": {"input_size", "hidden_size", "num_layers", "bias", "bidirectional", "dropout"},
    "GRU": {"input_size", "hidden_size", "num_layers", "bias", "bidirectional", "dropout",
            "reset_after"},
    "RNN": {"input_size", "hidden_size", "num_layers", "bias", "bidirectional", "dropout",
            "nonlinearity"},
    "Dropout": {"p"},
    "LastStep": set(),
    "Dense": {"in_features", "out_features", "bias", "activation"},
}


def _layers_from_config(arch: Any) -> List[Tuple[str, Any]]:
    """Validate an architecture dict (every value in range) and build its layers."""
    if not isinstance(arch, dict):
        raise ValueError(f"architecture: expected a JSON object, got {type(arch).__name__}")
    expected = {"dtype", "batch_first", "input", "layers"}
    if set(arch) != expected:
        raise ValueError(f"architecture: expected keys {sorted(expected)}, got {sorted(arch)}")
    dtype = arch["dtype"]
    if dtype not in ("float32", "float64"):
        raise ValueError(f"architecture: dtype: expected 'float32' or 'float64', got {dtype!r}")
    batch_first = _check_arch_bool("architecture", "batch_first", arch["batch_first"])
    inp = arch["input"]
    if not isinstance(inp, dict) or inp.get("kind") not in ("features", "tokens"):
        raise ValueError(f"architecture: input: expected {{'kind': 'features', 'size': n}} or "
                         f"{{'kind': 'tokens', 'vocab_size': n}}, got {inp!r}")
    in_key = "size" if inp["kind"] == "features" else "vocab_size"
    if set(inp) != {"kind", in_key}:
        raise ValueError(f"architecture: input: expected keys ['kind', '{in_key}'], got "
                         f"{sorted(inp)}")
    in_size = _check_arch_int("input", in_key, inp[in_key])
    specs = arch["layers"]
    if not isinstance(specs, list) or not specs:
        raise ValueError("architecture: layers: expected a non-empty list")
    if len(specs) > 1024:
        raise ValueError(f"architecture: layers: at most 1024 layers, got {len(specs)}")
    out: List[Tuple[str, Any]] = []
    names = set()
    for i, spec in enumerate(specs):
        where = f"layers[{i}]"
        if not isinstance(spec, dict):
            raise ValueError(f"architecture: {where}: expected an object, got {spec!r}")
        t = spec.get("type")
        if t not in _LAYER_KEYS:
            raise ValueError(f"architecture: {where}.type: expected one of {sorted(_LAYER_KEYS)}, "
                             f"got {t!r}")
        keys = _LAYER_KEYS[t] | {"type", "name"}
        if set(spec) != keys:
            missing, extra = sorted(keys - set(spec)), sorted(set(spec) - keys)
            raise ValueError(f"architecture: {where} ({t}): "
                             + (f"missing keys {missing}" if missing else f"unknown keys {extra}"))
        name = spec["name"]
        if not isinstance(name, str) or not name or "." in name or len(name) > 256:
            raise ValueError(f"architecture: {where}.name: expected a non-empty str without '.', "
                             f"got {name!r}")
        if name in names:
            raise ValueError(f"architecture: {where}.name: {name!r} is not unique")
        names.add(name)
        if t == "Embedding":
            layer: Any = Embedding(_check_arch_int(where, "num_embeddings", spec["num_embeddings"]),
                                   _check_arch_int(where, "embedding_dim", spec["embedding_dim"]),
                                   dtype, name=name)
        elif t in ("LSTM", "GRU", "RNN"):
            kw = dict(input_size=_check_arch_int(where, "input_size", spec["input_size"]),
                      hidden_size=_check_arch_int(where, "hidden_size", spec["hidden_size"]),
                      num_layers=_check_arch_int(where, "num_layers", spec["num_layers"], 1,
                                                 _MAX_LAYERS),
                      bias=_check_arch_bool(where, "bias", spec["bias"]),
                      bidirectional=_check_arch_bool(where, "bidirectional", spec["bidirectional"]),
                      dropout=_check_arch_prob(where, "dropout", spec["dropout"]),
                      batch_first=batch_first, dtype=dtype)
            if t == "LSTM":
                layer = LSTM(**kw)
            elif t == "GRU":
                layer = GRU(**kw, reset_after=_check_arch_bool(where, "reset_after",
                                                               spec["reset_after"]))
            else:
                nl = spec["nonlinearity"]
                if nl not in ("tanh", "relu"):
                    raise ValueError(f"architecture: {where}.nonlinearity: expected 'tanh' or "
                                     f"'relu', got {nl!r}")
                layer = RNN(**kw, nonlinearity=nl)
        elif t == "Dropout":
            layer = Dropout(_check_arch_prob(where, "p", spec["p"]), name=name)
        elif t == "LastStep":
            layer = LastStep(batch_first, name=name)
        else:
            act = spec["activation"]
            if act not in _ACTIVATIONS:
                raise ValueError(f"architecture: {where}.activation: expected one of "
                                 f"{list(_ACTIVATIONS)}, got {act!r}")
            layer = Dense(_check_arch_int(where, "in_features", spec["in_features"]),
                          _check_arch_int(where, "out_features", spec["out_features"]),
                          _check_arch_bool(where, "bias", spec["bias"]), act, dtype, name=name)
        out.append((name, layer))
    first = out[0][1]
    if inp["kind"] == "tokens":
        if not isinstance(first, Embedding) or first.num_embeddings != in_size:
            raise ValueError(f"architecture: input: tokens of vocab_size {in_size} need a first "
                             f"Embedding with num_embeddings={in_size}")
    else:
        if isinstance(first, Embedding):
            raise ValueError("architecture: input: kind 'features' but the first layer is an "
                             "Embedding")
    rec_layers = sum(layer.num_layers for _, layer in out if isinstance(layer, RecurrentLayer))
    if rec_layers > _MAX_LAYERS:
        raise ValueError(f"architecture: at most {_MAX_LAYERS} recurrent layers in all, got "
                         f"{rec_layers}")
    return out


def _check_features(model: Sequential, arch: dict) -> None:
    if arch["input"]["kind"] == "features" and model.input_features != arch["input"]["size"]:
        raise ValueError(f"architecture: input.size={arch['input']['size']} but the first sized "
                         f"layer takes {model.input_features} features")


def load(path: Union[str, os.PathLike], *, compile: bool = True) -> Sequential:
    """Read a model written by ``Sequential.save`` (or any writer of docs/model-format.md).

    Validates everything (format, version, architecture values, the exact set of tensors,
    their dtypes and shapes) and raises ValueError naming the problem for a truncated,
    corrupted or foreign file. With ``compile`` (default) also restores the optimiser,
    the compiled loss/metrics (when they were given by name) and the training state:
    ``fit`` then resumes an interrupted run exactly (pass ``initial_epoch=`` to start a
    new one instead). ``compile=False`` reads the architecture and weights only.
    """
    from . import safetensors_io
    where = os.fspath(path)
    tensors, meta = safetensors_io.load_file(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{where}: not a pyrnn model file (__metadata__['format'] is "
                         f"{meta.get('format')!r}, expected {FORMAT!r})")
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{where}: unsupported model format version {meta.get('version')!r} "
                         f"(this pyrnn reads version {FORMAT_VERSION})")

    def parse(key: str) -> Any:
        try:
            return json.loads(meta[key])
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: __metadata__[{key!r}] is not valid JSON: {e}") from None

    if "architecture" not in meta:
        raise ValueError(f"{where}: __metadata__ has no 'architecture'")
    arch = parse("architecture")
    try:
        model = Sequential(_layers_from_config(arch), batch_first=arch["batch_first"])
        _check_features(model, arch)
    except (TypeError, ValueError) as e:
        msg = str(e)
        msg = msg if msg.startswith("architecture") else "architecture: " + msg
        raise ValueError(f"{where}: {msg}") from None
    params = dict(model.named_parameters())
    code = {"float32": np.float32, "float64": np.float64}[arch["dtype"]]
    has_opt = "optimizer" in meta
    for name, arr in tensors.items():
        if name in params:
            if arr.dtype != code:
                raise ValueError(f"{where}: tensor {name!r} has dtype {arr.dtype}, the "
                                 f"architecture says {arch['dtype']}")
            if arr.shape != params[name].shape:
                raise ValueError(f"{where}: tensor {name!r} has shape {arr.shape}, expected "
                                 f"{params[name].shape}")
        elif not (has_opt and name.startswith("optimizer.")):
            raise ValueError(f"{where}: unexpected tensor {name!r} for this architecture")
    missing = [n for n in params if n not in tensors]
    if missing:
        raise ValueError(f"{where}: missing tensors {missing}")
    model.load_state_dict({n: tensors[n] for n in params})
    if has_opt and compile:
        scalars = parse("optimizer")
        cls = getattr(_optim, scalars.get("type", "") if isinstance(scalars, dict) else "", None)
        if not (isinstance(cls, type) and issubclass(cls, _optim.Optimizer)):
            raise ValueError(f"{where}: unknown optimizer type in __metadata__['optimizer'] "
                             f"(expected a pyrnn.optim class name under 'type'); pass "
                             f"compile=False to load the architecture and weights only")
        opt = cls(model)
        state = dict(scalars)
        state.update({n[len("optimizer."):]: a for n, a in tensors.items()
                      if n.startswith("optimizer.")})
        try:
            opt.load_state_dict(state)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: optimizer state does not fit the model: {e}; pass "
                             f"compile=False to load the architecture and weights only") from None
        model.optimizer = opt
    if "training" in meta and compile:
        training = parse("training")
        if not isinstance(training, dict):
            raise ValueError(f"{where}: __metadata__['training'] is not a JSON object")
        comp = training.get("compile") or {}
        try:
            model._loss = _LossSpec.from_config(comp.get("loss"))
            names = comp.get("metrics") or []
            if model._loss is not None or not names:
                model.compile(metrics=names)
        except (TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"{where}: training.compile: {e}") from None
        try:
            if training.get("shuffle_rng"):
                model.rng.bit_generator.state = training["shuffle_rng"]
            for name, s in (training.get("layer_rngs") or {}).items():
                rng = _layer_rng(model[name]) if name in model.names else None
                if rng is not None:
                    rng.bit_generator.state = s
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"{where}: training RNG state is invalid: {e}") from None
        if not training.get("finished", True):
            model._resume = training
    return model
