"""Exact weight conversion to and from PyTorch and Keras, and ONNX export: the one place
that knows other frameworks' gate orders. torch and onnx are imported only when used.
"""
from __future__ import annotations

from .keras import from_keras_weights, to_keras_weights
from .onnx import export_onnx
from .torch import from_torch, load_torch_state_dict, to_torch

__all__ = ["from_torch", "to_torch", "load_torch_state_dict", "from_keras_weights",
           "to_keras_weights", "export_onnx"]
