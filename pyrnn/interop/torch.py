"""Exact conversion between pyrnn's RNN/LSTM/GRU and torch.nn.RNN/LSTM/GRU.

pyrnn uses torch's names, shapes and gate orders, so weights are copied bit for bit in both
directions and the converted layer computes the same function. torch is imported only
inside these functions; it is never a dependency of pyrnn.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, Mapping

import numpy as np

from ..layers.recurrent import GRU, LSTM, RNN, RecurrentLayer

_CHO_GRU = ("a pyrnn GRU with reset_after=False (Cho et al. 2014: n = tanh(W_in x + b_in + "
            "W_hn (r*h) + b_hn)) has no exact torch equivalent: torch.nn.GRU only has the "
            "reset-after form n = tanh(W_in x + b_in + r*(W_hn h + b_hn)), which is a different "
            "function of the same weights")


def _torch():
    try:
        import torch  # noqa: PLC0415 - lazy: torch is optional
    except ImportError as e:  # pragma: no cover - exercised only without torch
        raise ImportError("pyrnn.interop.torch needs PyTorch (pip install torch)") from e
    return torch


def _to_numpy(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "detach"):  # torch.Tensor, on any device
        return value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a tensor or numeric array, got dtype {arr.dtype}")
    return arr


def from_torch(module: Any, *, backend: str = "engine") -> RecurrentLayer:
    """A pyrnn layer computing exactly what ``module`` computes, with its weights copied.

    module: a ``torch.nn.RNN``, ``LSTM`` or ``GRU`` (float32 or float64, any device).
    Copies num_layers, bias, batch_first, dropout, bidirectional, nonlinearity, dtype and
    train/eval mode. Returns ``pyrnn.RNN``/``LSTM``/``GRU`` (GRU with reset_after=True).
    LSTMs with ``proj_size > 0`` have no pyrnn equivalent and raise ValueError.
    """
    torch = _torch()
    nn = torch.nn
    if not isinstance(module, (nn.RNN, nn.LSTM, nn.GRU)):
        raise TypeError(f"module: expected a torch.nn.RNN, LSTM or GRU, got "
                        f"{type(module).__module__}.{type(module).__name__}")
    if getattr(module, "proj_size", 0):
        raise ValueError(f"module: LSTM with proj_size={module.proj_size} has no pyrnn "
                         "equivalent (pyrnn's LSTM has no projection); use proj_size=0")
    dtype = module.weight_ih_l0.dtype
    names = {torch.float32: "float32", torch.float64: "float64"}
    if dtype not in names:
        raise TypeError(f"module: expected float32 or float64 parameters, got {dtype}; "
                        "convert with module.float() or module.double() first")
    kwargs: Dict[str, Any] = dict(num_layers=module.num_layers, bias=bool(module.bias),
                                  batch_first=bool(module.batch_first),
                                  dropout=float(module.dropout),
                                  bidirectional=bool(module.bidirectional), dtype=names[dtype],
                                  backend=backend)
    if isinstance(module, nn.LSTM):
        layer: RecurrentLayer = LSTM(module.input_size, module.hidden_size, **kwargs)
    elif isinstance(module, nn.GRU):
        layer = GRU(module.input_size, module.hidden_size, reset_after=True, **kwargs)
    else:
        layer = RNN(module.input_size, module.hidden_size, nonlinearity=module.nonlinearity,
                    **kwargs)
    load_torch_state_dict(layer, module.state_dict())
    layer.train(module.training)
    return layer


def to_torch(layer: RecurrentLayer) -> Any:
    """A ``torch.nn.RNN``/``LSTM``/``GRU`` (CPU, the layer's dtype) with the layer's weights.

    Bit-exact copy; same configuration and train/eval mode. A GRU with reset_after=False
    raises ValueError: torch has no Cho-form GRU.
    """
    if not isinstance(layer, RecurrentLayer):
        raise TypeError(f"layer: expected a pyrnn RNN, LSTM or GRU, got {type(layer).__name__}")
    if layer.mode == "GRU" and not layer.reset_after:
        raise ValueError(f"layer: {_CHO_GRU}")
    torch = _torch()
    nn = torch.nn
    tdtype = torch.float64 if layer.dtype == np.float64 else torch.float32
    kwargs: Dict[str, Any] = dict(num_layers=layer.num_layers, bias=layer.bias,
                                  batch_first=layer.batch_first, dropout=layer.dropout,
                                  bidirectional=layer.bidirectional, dtype=tdtype)
    with warnings.catch_warnings():
        # torch warns about dropout with num_layers=1; the copy is faithful either way
        warnings.filterwarnings("ignore", message=".*dropout.*", category=UserWarning)
        if layer.mode == "LSTM":
            module = nn.LSTM(layer.input_size, layer.hidden_size, **kwargs)
        elif layer.mode == "GRU":
            module = nn.GRU(layer.input_size, layer.hidden_size, **kwargs)
        else:
            module = nn.RNN(layer.input_size, layer.hidden_size, nonlinearity=layer.nonlinearity,
                            **kwargs)
    params = dict(module.named_parameters())
    if set(params) != set(layer.params):  # a torch version with other names would be a bug
        raise RuntimeError(f"to_torch: torch's parameter names {sorted(params)} differ from "
                           f"pyrnn's {sorted(layer.params)}")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(torch.from_numpy(np.ascontiguousarray(layer.params[name])))
    module.train(layer.training)
    return module


def load_torch_state_dict(layer: RecurrentLayer, state_dict: Mapping[str, Any], *,
                          prefix: str = "", strict: bool = True) -> RecurrentLayer:
    """Load a torch.nn.RNN/LSTM/GRU state_dict (tensors or arrays) into ``layer``; returns it.

    Keys are torch's (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...); shapes must match the
    layer's. ``prefix``: keep only keys starting with it and strip it (e.g. ``"rnn."`` for
    a submodule of a bigger torch model's state_dict). Values are copied exactly (cast
    to the layer's dtype if they differ). Nothing is changed unless every key and shape
    is valid. A GRU with reset_after=False raises ValueError (torch's GRU weights mean
    the reset-after form).
    """
    if not isinstance(layer, RecurrentLayer):
        raise TypeError(f"layer: expected a pyrnn RNN, LSTM or GRU, got {type(layer).__name__}")
    if not hasattr(state_dict, "items"):
        raise TypeError(f"state_dict: expected a mapping of name -> tensor, got "
                        f"{type(state_dict).__name__}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix: expected a str, got {type(prefix).__name__}")
    if layer.mode == "GRU" and not layer.reset_after:
        raise ValueError(f"layer: {_CHO_GRU}; load same-form weights with "
                         "layer.load_state_dict instead")
    sd: Dict[str, np.ndarray] = {}
    for key, value in state_dict.items():
        if not isinstance(key, str) or not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        if name.startswith("weight_hr_l"):
            raise ValueError(f"state_dict[{key!r}]: an LSTM projection (proj_size > 0) has no "
                             "pyrnn equivalent")
        sd[name] = _to_numpy(value, f"state_dict[{key!r}]")
    if prefix and not sd:
        raise ValueError(f"state_dict: no key starts with prefix {prefix!r}; keys are "
                         f"{list(state_dict)[:8]}")
    layer.load_state_dict(sd, strict=strict)
    return layer
