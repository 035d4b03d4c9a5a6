"""Parameter bookkeeping shared by every layer: the Parameters mixin and checked loading."""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Tuple

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


class Parameters:
    """What every layer with ``params``/``grads`` dicts (same keys) and ``training`` offers:
    torch-style parameter access, copies in and out, gradient reset, train/eval mode."""

    params: Dict[str, np.ndarray]
    grads: Dict[str, np.ndarray]
    training: bool

    def named_parameters(self) -> Iterator[Tuple[str, np.ndarray]]:
        """(name, live array) pairs in order; optimisers update them in place."""
        return iter(self.params.items())

    def parameters(self) -> List[np.ndarray]:
        return list(self.params.values())

    def state_dict(self) -> Dict[str, np.ndarray]:
        """Copies of the parameters under PyTorch's names."""
        return {n: p.copy() for n, p in self.params.items()}

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> None:
        """Copy parameters in (arrays or torch tensors, cast to the layer's dtype); every key
        and shape is checked first, and with strict=True every parameter must be present."""
        load_params(self.params, state_dict, strict)

    def zero_grad(self) -> None:
        for g in self.grads.values():
            g.fill(0)

    def train(self, mode: bool = True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)
