"""Parameter bookkeeping shared by every layer: checked state_dict loading."""
from __future__ import annotations

from typing import Any, Dict

import numpy as np


def load_params(params: Dict[str, np.ndarray], state_dict: Any, strict: bool = True) -> None:
    """Copy state_dict's arrays (or torch tensors) into params, cast to their dtype.

    Every key must be known and every shape must match; with strict, every parameter must
    be present. All entries are checked before any is written: a bad one changes nothing.
    """
    if not hasattr(state_dict, "items"):
        raise TypeError(f"state_dict: expected a mapping of name -> array, got "
                        f"{type(state_dict).__name__}")
    unknown = [k for k in state_dict if k not in params]
    if unknown:
        raise ValueError(f"state_dict: unexpected keys {unknown}; expected keys {list(params)}")
    missing = [k for k in params if k not in state_dict]
    if strict and missing:
        raise ValueError(f"state_dict: missing keys {missing}")
    staged = {}
    for name, value in state_dict.items():
        if hasattr(value, "detach"):  # torch.Tensor
            value = value.detach().cpu().numpy()
        try:
            arr = np.asarray(value)
        except Exception as e:  # noqa: BLE001 - report any conversion failure
            raise TypeError(f"state_dict[{name!r}]: expected an array, got "
                            f"{type(value).__name__} ({e})") from None
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"state_dict[{name!r}]: expected a numeric array, got dtype "
                            f"{arr.dtype}")
        if arr.shape != params[name].shape:
            raise ValueError(f"state_dict[{name!r}]: expected shape {params[name].shape}, "
                             f"got {arr.shape}")
        staged[name] = arr
    for name, arr in staged.items():
        params[name][...] = arr
