"""The lecture experiments as a library: one module per experiment, each with a ``Config``
dataclass, ``default_config()``, ``full_config()``, ``reduced_config()`` (for tests),
``run(config, out_dir=None, log=...) -> dict`` and ``report(result) -> str`` (its tables
beside the lecture's numbers). ``pyrnn experiment NAME`` is a thin wrapper over these.

Modules are imported only when asked for (``load(name)``), so listing them is free.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Dict

# command-line name -> (module in this package, one-line summary)
EXPERIMENTS: Dict[str, tuple] = {
    "reber": ("reber", "Reber grammar: 4-unit tanh RNN vs MLP, next-symbol prediction"),
    "embedded-reber": ("embedded_reber", "Embedded Reber grammar: LSTM vs tanh RNN on the "
                                         "long-range symbol"),
    "sine": ("sine", "Sine extrapolation: MLP of time vs RNN continuing the wave"),
    "adding": ("adding", "Adding problem: tanh RNN, IRNN, LSTM, GRU vs the 1/6 baseline, "
                         "with per-step gradient norms"),
    "charlm": ("charlm", "Character language models (stdlib, Shakespeare): bits/char vs "
                         "n-grams, samples, hidden-state visualisation"),
    "digits": ("digits", "Sequential 8x8 digits (row by row), LSTM vs logistic regression"),
}


def names() -> list:
    """Experiment names as the command line spells them."""
    return list(EXPERIMENTS)


def load(name: str) -> ModuleType:
    """The module of experiment ``name`` (e.g. "embedded-reber"); ValueError if unknown."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment: expected one of {names()}, got {name!r}")
    return importlib.import_module(f"{__name__}.{EXPERIMENTS[name][0]}")
