"""Exact conversion between Keras' SimpleRNN/LSTM/GRU weight lists and pyrnn layers.

Keras is never imported: this module works on the arrays Keras' ``layer.get_weights()``
returns and ``layer.set_weights()`` takes, in Keras' documented layout (below). Every
conversion either computes the same function as the source or raises ValueError.

Keras layout, per direction (I = input features, H = units):

=========  ===================  ======================  ==================================
kind       kernel               recurrent_kernel        bias (absent with use_bias=False)
=========  ===================  ======================  ==================================
SimpleRNN  (I, H)               (H, H)                  (H,)
LSTM       (I, 4H) i, f, c, o   (H, 4H) i, f, c, o      (4H,)
GRU        (I, 3H) z, r, h      (H, 3H) z, r, h         reset_after=True: (2, 3H) [input
                                                        bias; recurrent bias];
                                                        reset_after=False: (3H,)
=========  ===================  ======================  ==================================

Keras multiplies ``x @ kernel`` (row vectors), so pyrnn's ``weight_ih`` (G*H, I) is the
transposed kernel with its gate blocks permuted. A ``Bidirectional`` wrapper's
``get_weights()`` is the forward layer's list followed by the backward layer's (merge_mode
'concat' is pyrnn's [forward, backward] output); both functions accept and produce that
flat list, or a pair of lists. Keras inputs are (batch, time, features): layers built
here default to ``batch_first=True``.

Exactness: weights and biases that map one to one are copied bit for bit. Keras has one
bias where pyrnn has two (LSTM, SimpleRNN, GRU reset_after=False): import puts it in
``bias_ih`` and zeros in ``bias_hh``; export sums ``bias_ih + bias_hh``. Both biases are
plain addends of the same pre-activation (for the Cho GRU's candidate too: b_in and b_hn
both sit unscaled inside tanh(W_in x + b_in + W_hn (r*h) + b_hn)), so the sum is exact in
the math; in floating point it may round differently in the last bit.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..layers.recurrent import GRU, LSTM, RNN, RecurrentLayer
from ._gates import KERAS_ORDER, PYRNN_ORDER, reorder_gates

Array = np.ndarray
WeightList = List[Array]

_KINDS = {"simplernn": "RNN", "rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_KERAS_NAME = {"RNN": "SimpleRNN", "LSTM": "LSTM", "GRU": "GRU"}


def _kind(kind: Any) -> str:
    if not isinstance(kind, str) or kind.lower() not in _KINDS:
        raise ValueError(f"kind: expected 'SimpleRNN', 'LSTM' or 'GRU', got {kind!r}")
    return _KINDS[kind.lower()]


def _act_name(value: Any, name: str) -> str:
    if value is None:  # Keras: no activation
        return "linear"
    if isinstance(value, str):
        return value.lower()
    if callable(value) and hasattr(value, "__name__"):  # keras.activations.tanh, etc.
        return value.__name__.lower()
    raise TypeError(f"{name}: expected an activation name such as 'tanh', got "
                    f"{type(value).__name__} {value!r}")


def _is_list(w: Any) -> bool:
    return isinstance(w, (list, tuple))


def _is_weight_list(w: Any) -> bool:
    """A list like one Keras layer's get_weights(): 2 or 3 entries, the first a 2-D kernel."""
    return _is_list(w) and len(w) in (2, 3) and np.ndim(w[0]) == 2


def _split_directions(weights: Any, bidirectional: Optional[bool]) -> List[Sequence[Any]]:
    """weights as given -> one weight list per direction."""
    if not _is_list(weights):
        raise TypeError(f"weights: expected a list of arrays (Keras' get_weights()), got "
                        f"{type(weights).__name__}")
    nested = len(weights) == 2 and all(_is_weight_list(w) for w in weights)
    if bidirectional is None:
        bidirectional = nested or len(weights) in (4, 6)
    if not bidirectional:
        if nested:
            raise ValueError("weights: got a pair of lists (a Bidirectional layer's weights) "
                             "but bidirectional=False")
        return [weights]
    if nested:
        return [weights[0], weights[1]]
    if len(weights) not in (4, 6):
        raise ValueError(f"weights: expected a Bidirectional layer's flat list of 4 or 6 "
                         f"arrays (forward then backward) or a pair of lists, got "
                         f"{len(weights)} entries")
    half = len(weights) // 2
    return [weights[:half], weights[half:]]


def _as_array(value: Any, name: str) -> Array:
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):  # tf / keras tensors
        value = value.numpy()
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    return arr


def _check_direction(kind: str, w: Sequence[Any], reset_after: bool,
                     where: str) -> Tuple[Array, Array, Optional[Array]]:
    """One direction's [kernel, recurrent_kernel(, bias)] -> checked arrays."""
    if not _is_list(w) or len(w) not in (2, 3):
        got = f"{len(w)} entries" if _is_list(w) else type(w).__name__
        raise ValueError(f"{where}: expected [kernel, recurrent_kernel] or [kernel, "
                         f"recurrent_kernel, bias], got {got}")
    G = _GATES[kind]
    kernel = _as_array(w[0], f"{where}[0] (kernel)")
    rec = _as_array(w[1], f"{where}[1] (recurrent_kernel)")
    if rec.ndim != 2 or rec.shape[1] != G * rec.shape[0]:
        raise ValueError(f"{where}[1] (recurrent_kernel): expected shape (H, {G}*H) for "
                         f"{_KERAS_NAME[kind]}, got {rec.shape}")
    H = rec.shape[0]
    if kernel.ndim != 2 or kernel.shape[1] != G * H:
        raise ValueError(f"{where}[0] (kernel): expected shape (input, {G * H}) for "
                         f"{_KERAS_NAME[kind]} with H={H}, got {kernel.shape}")
    bias = None
    if len(w) == 3:
        bias = _as_array(w[2], f"{where}[2] (bias)")
        if kind == "GRU" and reset_after:
            expected: Tuple[int, ...] = (2, 3 * H)
        else:
            expected = (G * H,)
        if bias.shape != expected:
            hint = ""
            if kind == "GRU" and bias.shape in ((2, 3 * H), (3 * H,)):
                hint = (f"; a bias of shape {bias.shape} is Keras' GRU with reset_after="
                        f"{bias.ndim == 2}: pass reset_after={bias.ndim == 2}")
            raise ValueError(f"{where}[2] (bias): expected shape {expected}, got "
                             f"{bias.shape}{hint}")
    return kernel, rec, bias


def from_keras_weights(kind: str, weights: Sequence[Any], *, reset_after: bool = True,
                       activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                       bidirectional: Optional[bool] = None, batch_first: bool = True,
                       dtype: Any = None, backend: str = "engine") -> RecurrentLayer:
    """A pyrnn layer computing what the Keras layer with these weights computes.

    kind: 'SimpleRNN', 'LSTM' or 'GRU' (case-insensitive).
    weights: Keras' ``get_weights()``: [kernel, recurrent_kernel, bias] (no bias when
        the Keras layer has use_bias=False), shapes in the module docstring. For a
        ``Bidirectional`` wrapper: its flat list (forward's arrays then backward's) or a
        pair [forward_list, backward_list].
    reset_after: the Keras GRU's ``reset_after`` (True, Keras' default, -> pyrnn GRU with
        reset_after=True; False -> the Cho form, pyrnn GRU(reset_after=False)).
    activation / recurrent_activation: the Keras layer's. pyrnn has tanh (and relu for
        SimpleRNN) candidates and sigmoid gates; anything else raises ValueError.
    bidirectional: None infers it from the structure of ``weights``.
    batch_first: layout of the pyrnn layer's input (Keras' is batch first).
    dtype: 'float32' or 'float64'; None picks float64 for a float64 kernel, else float32.

    Returns a single-layer ``pyrnn.RNN``/``LSTM``/``GRU``. Bias-free Keras layers give
    bias=False layers. The Keras bias goes to bias_ih with bias_hh = 0 (exact), except
    the reset-after GRU's two biases, which map one to one.
    """
    kind = _kind(kind)
    if not isinstance(reset_after, (bool, np.bool_)):
        raise TypeError(f"reset_after: expected a bool, got {type(reset_after).__name__}")
    act = _act_name(activation, "activation")
    allowed = ("tanh", "relu") if kind == "RNN" else ("tanh",)
    if act not in allowed:
        raise ValueError(f"activation: pyrnn's {_KERAS_NAME[kind]} supports "
                         f"{' or '.join(repr(a) for a in allowed)}, got {act!r}; no exact "
                         "conversion exists")
    if kind != "RNN":
        ract = _act_name(recurrent_activation, "recurrent_activation")
        if ract != "sigmoid":
            raise ValueError(f"recurrent_activation: pyrnn's gates use 'sigmoid', got {ract!r} "
                             f"(e.g. old Keras' default 'hard_sigmoid'); no exact conversion "
                             "exists")
    if bidirectional is not None and not isinstance(bidirectional, (bool, np.bool_)):
        raise TypeError(f"bidirectional: expected a bool or None, got "
                        f"{type(bidirectional).__name__}")
    dirs = _split_directions(weights, bidirectional)
    names = ["weights"] if len(dirs) == 1 else ["weights (forward)", "weights (backward)"]
    checked = [_check_direction(kind, w, bool(reset_after), n) for w, n in zip(dirs, names)]
    kernel, rec, bias = checked[0]
    if len(checked) == 2:
        k2, r2, b2 = checked[1]
        if k2.shape != kernel.shape or r2.shape != rec.shape or (b2 is None) != (bias is None):
            raise ValueError(f"weights: the backward layer's shapes "
                             f"{[k2.shape, r2.shape] + ([] if b2 is None else [b2.shape])} "
                             f"differ from the forward layer's "
                             f"{[kernel.shape, rec.shape] + ([] if bias is None else [bias.shape])}")
    I, H = kernel.shape[0], rec.shape[0]
    if dtype is None:
        dtype = "float64" if kernel.dtype == np.float64 else "float32"
    common = dict(bias=bias is not None, batch_first=batch_first,
                  bidirectional=len(checked) == 2, dtype=dtype, backend=backend)
    if kind == "LSTM":
        layer: RecurrentLayer = LSTM(I, H, **common)
    elif kind == "GRU":
        layer = GRU(I, H, reset_after=bool(reset_after), **common)
    else:
        layer = RNN(I, H, nonlinearity=act, **common)
    src, dst = KERAS_ORDER[kind], PYRNN_ORDER[kind]
    sd = {}
    for (k, r, b), sfx in zip(checked, layer._suffixes()):
        sd[f"weight_ih_l0{sfx}"] = reorder_gates(k.T, src, dst)
        sd[f"weight_hh_l0{sfx}"] = reorder_gates(r.T, src, dst)
        if b is None:
            continue
        if kind == "GRU" and reset_after:
            sd[f"bias_ih_l0{sfx}"] = reorder_gates(b[0], src, dst)
            sd[f"bias_hh_l0{sfx}"] = reorder_gates(b[1], src, dst)
        else:  # one Keras bias: all of it on the input side, exact (see module docstring)
            sd[f"bias_ih_l0{sfx}"] = reorder_gates(b, src, dst)
            sd[f"bias_hh_l0{sfx}"] = np.zeros(b.shape, b.dtype)
    layer.load_state_dict(sd)
    return layer


def to_keras_weights(layer: RecurrentLayer, *, layer_index: Optional[int] = None,
                     reset_after: Optional[bool] = None,
                     nested: bool = False) -> Union[WeightList, List[WeightList]]:
    """The weight list for Keras' ``set_weights()`` of the equivalent Keras layer.

    layer: a pyrnn RNN (-> SimpleRNN with activation=layer.nonlinearity), LSTM or GRU
        (-> GRU with reset_after=layer.reset_after); the Keras layer needs the defaults
        activation='tanh', recurrent_activation='sigmoid', and use_bias=layer.bias.
    layer_index: which of a stacked layer's ``num_layers`` layers to export (Keras stacks
        separate layers; layer k > 0 takes D*H inputs). Required when num_layers > 1.
    reset_after: for a GRU, the Keras layer's form; None means the layer's own. Asking
        for the other form raises ValueError: the two GRU forms are different functions.
    nested: for a bidirectional layer, return [forward_list, backward_list] instead of
        the flat list ``Bidirectional.set_weights()`` takes.

    Returns new arrays (never views of the layer's parameters) in the layer's dtype:
    [kernel, recurrent_kernel(, bias)] per direction; see the module docstring for shapes.
    One-bias kinds get bias_ih + bias_hh (exact in the math).
    """
    if not isinstance(layer, RecurrentLayer):
        raise TypeError(f"layer: expected a pyrnn RNN, LSTM or GRU, got {type(layer).__name__}")
    kind = {"LSTM": "LSTM", "GRU": "GRU"}.get(layer.mode, "RNN")
    if layer_index is None:
        if layer.num_layers != 1:
            raise ValueError(f"layer_index: the layer stacks num_layers={layer.num_layers} "
                             f"layers and a Keras layer holds one; pass layer_index in "
                             f"0..{layer.num_layers - 1}")
        layer_index = 0
    if isinstance(layer_index, bool) or not isinstance(layer_index, (int, np.integer)) \
            or not 0 <= layer_index < layer.num_layers:
        raise ValueError(f"layer_index: expected an int in 0..{layer.num_layers - 1}, got "
                         f"{layer_index!r}")
    if reset_after is not None:
        if kind != "GRU":
            raise ValueError(f"reset_after: only meaningful for a GRU, got a {layer.mode} layer")
        if bool(reset_after) != layer.reset_after:
            raise ValueError(
                f"reset_after: the layer is a GRU with reset_after={layer.reset_after} and "
                f"cannot become a Keras GRU with reset_after={bool(reset_after)}: the reset "
                "gate multiplies (W_hn h + b_hn) in one form and h in the other, so no weights "
                "make them compute the same function")
    src, dst = PYRNN_ORDER[kind], KERAS_ORDER[kind]
    p = layer.params
    out: List[WeightList] = []
    for sfx in layer._suffixes():
        tag = f"l{layer_index}{sfx}"
        w = [np.ascontiguousarray(reorder_gates(p[f"weight_ih_{tag}"], src, dst).T),
             np.ascontiguousarray(reorder_gates(p[f"weight_hh_{tag}"], src, dst).T)]
        if layer.bias:
            b_ih, b_hh = p[f"bias_ih_{tag}"], p[f"bias_hh_{tag}"]
            if kind == "GRU" and layer.reset_after:
                w.append(np.stack([reorder_gates(b_ih, src, dst), reorder_gates(b_hh, src, dst)]))
            else:
                w.append(reorder_gates(b_ih + b_hh, src, dst))
        out.append(w)
    if len(out) == 1:
        return out[0]
    return out if nested else out[0] + out[1]
