"""pyrnn: a fast CPU engine for recurrent neural networks (RNN, LSTM, GRU).

Layers mirror ``torch.nn.RNN/LSTM/GRU`` (names, shapes, gate orders); forward and BPTT
run in C++ kernels (SIMD + OpenMP). ``pyrnn.reference`` is the NumPy oracle.
"""
from __future__ import annotations

from . import _core, functional, reference
from .layers import GRU, LSTM, RNN, no_grad
from .layers.core import Dense, Dropout, Embedding, LastStep
from .model import Sequential, load
from . import diagnostics, init, interop, losses, model, optim, training

__version__ = "0.1.0"

has_openmp: bool = bool(_core.has_openmp)


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (>= 1) in every kernel call, from any Python thread."""
    if isinstance(n, bool) or not isinstance(n, (int,)) and not hasattr(n, "__index__"):
        raise TypeError(f"n: expected an int >= 1, got {type(n).__name__}")
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """Threads the kernels use (defaults to OpenMP's, i.e. the cores or OMP_NUM_THREADS)."""
    return _core.get_num_threads()


def simd_target() -> str:
    """The SIMD target the kernels run on: 'avx512', 'avx2' or 'generic' (the best this CPU
    has; env PYRNN_SIMD=avx512|avx2|generic picks another)."""
    return _core.simd_target()


def release_cached_memory() -> int:
    """Free the large buffers (>= 4 MB) kept for reuse by later calls; returns the bytes
    freed. Training steps reuse them instead of faulting fresh pages in each call; at
    most 16 buffers and 1 GiB are ever kept."""
    return int(_core.release_cached_buffers())


__all__ = ["RNN", "LSTM", "GRU", "Dense", "Embedding", "Dropout", "LastStep", "Sequential",
           "load", "no_grad", "functional", "reference", "losses", "optim", "init", "training",
           "diagnostics", "interop", "model", "set_num_threads", "get_num_threads",
           "has_openmp", "simd_target", "release_cached_memory", "__version__"]
