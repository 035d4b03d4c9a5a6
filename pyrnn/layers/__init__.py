"""Layers: recurrent (RNN, LSTM, GRU) and, with the training loop, the rest."""
from .recurrent import GRU, LSTM, RNN, BackwardError, RecurrentLayer, is_grad_enabled, no_grad
from .core import Dense, Dropout, Embedding, LastStep, Layer

__all__ = ["RNN", "LSTM", "GRU", "RecurrentLayer", "BackwardError", "no_grad", "is_grad_enabled",
           "Dense", "Embedding", "Dropout", "LastStep", "Layer"]
