"""The pieces of the Keras-style training loop: metrics, callbacks (History, EarlyStopping,
ModelCheckpoint, LearningRateScheduler, LambdaCallback) and a dependency-free progress bar.

Metrics accumulate exact sums across batches (``update`` then ``result``) and can be
checkpointed mid-epoch (``state_dict``). Callbacks follow Keras' hooks and ``logs`` dicts;
those with state that matters for resuming implement ``state_dict``/``load_state_dict``.
The progress bar writes to stderr, only when it is a TTY unless forced.
"""
from __future__ import annotations

import math
import os
import sys
import time
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, TextIO, Union

import numpy as np

from . import optim

Array = np.ndarray

__all__ = [
    "Metric", "Accuracy", "BinaryAccuracy", "Perplexity", "BitsPerChar", "MeanAbsoluteError",
    "MeanSquaredError", "get_metric",
    "Callback", "CallbackList", "History", "EarlyStopping", "ModelCheckpoint",
    "LearningRateScheduler", "LambdaCallback", "ProgressBar",
]


# ============================================================================== metrics


class Metric:
    """A running metric over batches: ``reset()``, ``update(pred, target, mask)``, ``result()``.

    pred: the model output in the model's layout, (..., C) for classes / (..., F) for
    values; target: its targets (class ids (...) or values (..., F)); mask: a bool array
    over the positions pred.shape[:-1] (True counts) or None. Sums are float64 and exact
    in order, so a mid-epoch checkpoint (``state_dict``) resumes to the same result.
    """

    name = "metric"

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update(self, pred: Array, target: Array, mask: Optional[Array]) -> None:
        total, count = self._batch(pred, target, mask)
        self.total += float(total)
        self.count += float(count)

    def _batch(self, pred: Array, target: Array, mask: Optional[Array]):
        raise NotImplementedError

    def result(self) -> float:
        return self._finish(self.total / self.count) if self.count else float("nan")

    def _finish(self, mean: float) -> float:
        return mean

    def state_dict(self) -> Dict[str, float]:
        return {"total": self.total, "count": self.count}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.total = float(state["total"])
        self.count = float(state["count"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _positions(mask: Optional[Array], shape) -> Array:
    return np.ones(shape, bool) if mask is None else np.asarray(mask, bool)


def _nll(pred: Array, target: Array, mask: Optional[Array]):
    """Sum of -log softmax(pred)[target] over counted positions, and their number."""
    t = np.asarray(target)
    if t.dtype.kind not in "iu" or t.shape != pred.shape[:-1]:
        raise ValueError(f"target: expected class ids of shape {pred.shape[:-1]}, got "
                         f"{t.dtype} {t.shape}")
    m = _positions(mask, t.shape)
    z = pred.astype(np.float64, copy=False)
    zmax = z.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(z - zmax).sum(axis=-1)) + zmax[..., 0]
    safe = np.where(m, t, 0)[..., None]
    nll = lse - np.take_along_axis(z, safe, axis=-1)[..., 0]
    return float(np.sum(nll, where=m)), int(m.sum())


class Accuracy(Metric):
    """Share of counted positions whose argmax class equals the integer target."""

    name = "accuracy"

    def _batch(self, pred, target, mask):
        t = np.asarray(target)
        if t.shape != pred.shape[:-1]:
            raise ValueError(f"target: expected class ids of shape {pred.shape[:-1]}, got "
                             f"{t.shape}")
        m = _positions(mask, t.shape)
        hit = pred.argmax(axis=-1) == t
        return np.sum(hit, where=m), m.sum()


class BinaryAccuracy(Metric):
    """Share of counted elements where (logit > 0) equals (target >= 0.5)."""

    name = "accuracy"

    def _batch(self, pred, target, mask):
        t = np.asarray(target)
        if t.shape != pred.shape:
            raise ValueError(f"target: expected shape {pred.shape}, got {t.shape}")
        m = np.broadcast_to(_positions(mask, pred.shape[:-1])[..., None], pred.shape)
        hit = (pred > 0) == (t >= 0.5)
        return np.sum(hit, where=m), m.sum()


class Perplexity(Metric):
    """exp(mean negative log-likelihood in nats) of integer targets under softmax(logits)."""

    name = "perplexity"

    def _batch(self, pred, target, mask):
        return _nll(pred, target, mask)

    def _finish(self, mean: float) -> float:
        return math.exp(mean) if mean < 700 else float("inf")


class BitsPerChar(Metric):
    """Mean negative log2-likelihood of integer targets (bits per character/token)."""

    name = "bpc"

    def _batch(self, pred, target, mask):
        return _nll(pred, target, mask)

    def _finish(self, mean: float) -> float:
        return mean / math.log(2.0)


class MeanAbsoluteError(Metric):
    """Mean |pred - target| over counted elements."""

    name = "mae"

    def _batch(self, pred, target, mask):
        t = np.asarray(target, dtype=pred.dtype)
        m = np.broadcast_to(_positions(mask, pred.shape[:-1])[..., None], pred.shape)
        return np.sum(np.abs(pred - t), where=m, dtype=np.float64), m.sum()


class MeanSquaredError(Metric):
    """Mean (pred - target)^2 over counted elements."""

    name = "mse"

    def _batch(self, pred, target, mask):
        t = np.asarray(target, dtype=pred.dtype)
        m = np.broadcast_to(_positions(mask, pred.shape[:-1])[..., None], pred.shape)
        d = pred - t
        return np.sum(d * d, where=m, dtype=np.float64), m.sum()


_METRIC_NAMES = {
    "perplexity": Perplexity, "ppl": Perplexity,
    "bpc": BitsPerChar, "bits_per_char": BitsPerChar, "bits_per_character": BitsPerChar,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
}


def get_metric(spec: Union[str, Metric], loss_kind: Optional[str] = None) -> Metric:
    """A fresh metric from a name ('accuracy'/'acc', 'perplexity'/'ppl', 'bpc', 'mae',
    'mse') or a Metric instance (returned as is). 'accuracy' means argmax accuracy with a
    cross-entropy loss and thresholded (logit > 0) accuracy with a binary one."""
    if isinstance(spec, Metric):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"metrics: expected names or Metric instances, got "
                        f"{type(spec).__name__} {spec!r}")
    key = spec.lower()
    if key in ("accuracy", "acc"):
        if loss_kind == "ce":
            return Accuracy()
        if loss_kind == "bce":
            return BinaryAccuracy()
        raise ValueError(f"metrics: 'accuracy' needs a cross-entropy or binary cross-entropy "
                         f"loss to know what a hit is, got loss kind {loss_kind!r}")
    if key in _METRIC_NAMES:
        cls = _METRIC_NAMES[key]
        if cls in (Perplexity, BitsPerChar) and loss_kind not in ("ce", None):
            raise ValueError(f"metrics: {spec!r} needs class logits and integer targets (a "
                             f"cross-entropy loss), got loss kind {loss_kind!r}")
        return cls()
    raise ValueError(f"metrics: unknown metric {spec!r}; expected one of "
                     f"{['accuracy'] + sorted(_METRIC_NAMES)} or a Metric instance")


# ============================================================================ callbacks


class Callback:
    """Base class with Keras' hooks; ``self.model`` is set by fit before training starts.

    ``logs`` at batch end hold the epoch's running means (``loss``, metrics), ``size``
    (sequences in the batch) and ``steps`` (its time steps);
    at epoch end the epoch's means, ``val_*`` values and ``lr``. Set
    ``self.model.stop_training = True`` to stop after the current epoch.
    """

    model: Any = None
    params: Dict[str, Any]

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: Dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Optional[dict] = None) -> None: ...
    def on_train_end(self, logs: Optional[dict] = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Optional[dict] = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: Optional[dict] = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None: ...
    def on_after_backward(self, batch: int, logs: Optional[dict] = None) -> None:
        """After backward, before the optimiser step: gradients are in ``model.grads``."""

    def state_dict(self) -> Optional[dict]:
        """JSON-able state that a checkpoint keeps for resuming, or None."""
        return None

    def load_state_dict(self, state: dict) -> None: ...


class CallbackList:
    """Calls a hook on every callback in order."""

    def __init__(self, callbacks: Sequence[Callback], model: Any, params: Dict[str, Any]) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook: str) -> Callable[..., None]:
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args: Any) -> None:
            for cb in self.callbacks:
                getattr(cb, hook)(*args)
        return call

    def state_dicts(self) -> List[dict]:
        return [{"type": type(cb).__name__, "state": cb.state_dict()} for cb in self.callbacks]

    def load_state_dicts(self, saved: Sequence[dict]) -> None:
        """Give each callback the saved state of the same type, matched in order."""
        pending = list(saved)
        for cb in self.callbacks:
            for i, entry in enumerate(pending):
                if entry.get("type") == type(cb).__name__:
                    if entry.get("state") is not None:
                        cb.load_state_dict(entry["state"])
                    del pending[i]
                    break


class History(Callback):
    """Records every epoch's logs: ``history['loss'][i]`` is epoch ``epoch[i]``'s loss.

    ``fit`` returns it (and sets ``model.history``); a run resumed from a checkpoint
    starts with the epochs recorded before the interruption.
    """

    def __init__(self) -> None:
        self.history: Dict[str, List[float]] = {}
        self.epoch: List[int] = []

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        self.epoch.append(int(epoch))
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def state_dict(self) -> dict:
        return {"history": self.history, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.epoch = list(state["epoch"])

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


def _mode_for(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    return "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"


class _Monitor:
    """Tracks the best value of a logged quantity (shared by EarlyStopping/ModelCheckpoint)."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor: expected a log key such as 'val_loss', got {monitor!r}")
        self.monitor = monitor
        self.mode = _mode_for(monitor, mode)
        self.min_delta = abs(float(min_delta))
        self.best: Optional[float] = None
        self._warned = False

    def value(self, logs: Optional[dict]) -> Optional[float]:
        v = (logs or {}).get(self.monitor)
        if v is None and not self._warned:
            self._warned = True
            warnings.warn(f"monitor {self.monitor!r} is not in the logs (have "
                          f"{sorted(logs or {})}); pass validation data or monitor 'loss'",
                          RuntimeWarning, stacklevel=3)
        return None if v is None else float(v)

    def improves(self, v: float) -> bool:
        if not math.isfinite(v):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return v < self.best - self.min_delta
        return v > self.best + self.min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs (Keras' EarlyStopping). ``restore_best_weights`` puts back the weights of the
    best epoch when stopping (kept in memory; not carried across a resume).
    ``baseline``: stop unless the value beats it within ``patience`` epochs.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", baseline: Optional[float] = None,
                 restore_best_weights: bool = False, verbose: int = 0) -> None:
        self._mon = _Monitor(monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) \
                or patience < 0:
            raise ValueError(f"patience: expected an int >= 0, got {patience!r}")
        self.patience = int(patience)
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.verbose = verbose
        self.wait = 0
        self.stopped_epoch = -1
        self.best_epoch = -1
        self._best_weights: Optional[Dict[str, Array]] = None

    @property
    def monitor(self) -> str:
        return self._mon.monitor

    @property
    def best(self) -> Optional[float]:
        return self._mon.best

    def on_train_begin(self, logs=None) -> None:
        self._best_weights = None

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        v = self._mon.value(logs)
        if v is None:
            return
        # Keras 3's rule: count the epoch as bad unless it improves on the best (and, with
        # a baseline, also beats the baseline)
        self.wait += 1
        if self._mon.improves(v):
            self._mon.best = v
            self.best_epoch = epoch
            if self.restore_best_weights:
                self._best_weights = self.model.state_dict()
            if self.baseline is None or (v < self.baseline if self._mon.mode == "min"
                                         else v > self.baseline):
                self.wait = 0
                return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self._best_weights is not None:
                self.model.load_state_dict(self._best_weights)
            if self.verbose:
                print(f"Epoch {epoch + 1}: early stopping ({self.monitor} best "
                      f"{self.best:.6g} at epoch {self.best_epoch + 1})", file=sys.stderr)

    def state_dict(self) -> dict:
        return {"best": self._mon.best, "wait": self.wait, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict) -> None:
        self._mon.best = state["best"]
        self.wait = int(state["wait"])
        self.best_epoch = int(state["best_epoch"])
        self.stopped_epoch = int(state["stopped_epoch"])


class ModelCheckpoint(Callback):
    """Save the model (weights, optimiser and training state) during fit, atomically.

    ``filepath`` may hold format fields: ``{epoch}`` (1-based, as Keras), ``{batch}``
    and any log key (``{val_loss:.3f}``). ``save_freq='epoch'`` saves at every epoch end;
    an int ``n`` saves every n batches (mid-epoch checkpoints resume mid-epoch).
    ``save_best_only`` saves only when ``monitor`` improves. A checkpoint is never written
    when a parameter or the monitored value is non-finite: the previous file stays as it
    was, and a RuntimeWarning says why. ``last_path`` is the file written last.
    """

    def __init__(self, filepath: Union[str, os.PathLike], monitor: str = "val_loss",
                 save_best_only: bool = False, mode: str = "auto",
                 save_freq: Union[str, int] = "epoch", include_optimizer: bool = True,
                 verbose: int = 0) -> None:
        self.filepath = os.fspath(filepath)
        self._mon = _Monitor(monitor, mode)
        self.save_best_only = bool(save_best_only)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or
                                     not isinstance(save_freq, (int, np.integer)) or save_freq < 1):
            raise ValueError(f"save_freq: expected 'epoch' or an int >= 1 (batches), got "
                             f"{save_freq!r}")
        self.save_freq = save_freq
        self.include_optimizer = bool(include_optimizer)
        self.verbose = verbose
        self.last_path: Optional[str] = None
        self._epoch = 0
        self._batches_seen = 0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen % int(self.save_freq) == 0:
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch: int, batch: Optional[int], logs: Optional[dict]) -> None:
        if self.save_best_only:
            v = self._mon.value(logs)
            if v is None or not self._mon.improves(v):
                return
        bad = self.model.first_nonfinite_parameter()
        if bad is not None:
            warnings.warn(f"ModelCheckpoint: parameter {bad!r} is not finite; checkpoint "
                          f"not written (the previous one is kept)", RuntimeWarning,
                          stacklevel=2)
            return
        if self.save_best_only:
            self._mon.best = self._mon.value(logs)
        fields = {k: v for k, v in (logs or {}).items() if isinstance(v, (int, float))}
        try:
            path = self.filepath.format(epoch=epoch + 1, batch=(batch + 1 if batch is not None
                                                                  else 0), **fields)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"filepath: cannot format {self.filepath!r} with epoch, batch "
                             f"and the log keys {sorted(fields)}: {e}") from None
        self.model.save(path, include_optimizer=self.include_optimizer)
        self.last_path = path
        if self.verbose:
            print(f"saved checkpoint {path}", file=sys.stderr)

    def state_dict(self) -> dict:
        return {"best": self._mon.best, "batches_seen": self._batches_seen}

    def load_state_dict(self, state: dict) -> None:
        self._mon.best = state["best"]
        self._batches_seen = int(state["batches_seen"])


class LearningRateScheduler(Callback):
    """Set the optimiser's learning rate at each epoch.

    ``schedule`` is one of:

    * a function ``f(epoch, lr) -> new_lr`` (Keras' form; epoch 0-based), called at
      each epoch begin;
    * a ``pyrnn.optim.LRScheduler`` (StepLR, ExponentialLR, CosineAnnealingLR, LambdaLR)
      built on the model's optimiser: ``lr = schedule.lr_at(epoch)`` at each epoch begin;
      checkpoints keep its ``base_lr``, so a schedule rebuilt after ``pyrnn.load`` on the
      loaded optimiser resumes with the right rates;
    * a ``pyrnn.optim.ReduceLROnPlateau``: stepped with ``logs[monitor]`` at epoch end;
      its state is kept in checkpoints.
    """

    def __init__(self, schedule: Any, monitor: str = "val_loss", verbose: int = 0) -> None:
        if not (callable(schedule) or isinstance(schedule, (optim.LRScheduler,
                                                            optim.ReduceLROnPlateau))):
            raise TypeError(f"schedule: expected a function (epoch, lr) -> lr, a "
                            f"pyrnn.optim.LRScheduler or ReduceLROnPlateau, got "
                            f"{type(schedule).__name__}")
        self.schedule = schedule
        self.monitor = monitor
        self.verbose = verbose

    def _optimizer(self) -> optim.Optimizer:
        opt = getattr(self.model, "optimizer", None)
        if opt is None:
            raise ValueError("LearningRateScheduler: the model has no optimizer; compile it first")
        sched_opt = getattr(self.schedule, "optimizer", None)
        if sched_opt is not None and sched_opt is not opt:
            raise ValueError("schedule: built on another optimizer than the model's; build it "
                             "on model.optimizer")
        return opt

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        opt = self._optimizer()
        if isinstance(self.schedule, optim.ReduceLROnPlateau):
            return
        if isinstance(self.schedule, optim.LRScheduler):
            self.schedule.last_epoch = epoch
            lr = self.schedule.lr_at(epoch)
            self.schedule._last_lr = lr  # keep get_last_lr() truthful
        else:
            lr = self.schedule(epoch, opt.lr)
        try:
            opt.lr = float(lr)
        except (TypeError, ValueError) as e:
            raise ValueError(f"schedule: returned {lr!r} at epoch {epoch}: {e}") from None
        if self.verbose:
            print(f"Epoch {epoch + 1}: learning rate {opt.lr:.6g}", file=sys.stderr)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if isinstance(self.schedule, optim.ReduceLROnPlateau):
            self._optimizer()
            v = (logs or {}).get(self.monitor)
            if v is None:
                warnings.warn(f"LearningRateScheduler: monitor {self.monitor!r} not in logs",
                              RuntimeWarning, stacklevel=2)
                return
            self.schedule.step(v)

    def state_dict(self) -> Optional[dict]:
        # a schedule rebuilt on a resumed optimiser would take its decayed lr as base_lr
        if isinstance(self.schedule, (optim.ReduceLROnPlateau, optim.LRScheduler)):
            return self.schedule.state_dict()
        return None

    def load_state_dict(self, state: dict) -> None:
        if isinstance(self.schedule, (optim.ReduceLROnPlateau, optim.LRScheduler)):
            self.schedule.load_state_dict(state)


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda e, logs: ...)``."""

    _HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
              "on_train_batch_begin", "on_train_batch_end", "on_after_backward")

    def __init__(self, **hooks: Callable[..., None]) -> None:
        for name, fn in hooks.items():
            if name not in self._HOOKS:
                raise ValueError(f"{name}: unknown hook; expected one of {self._HOOKS}")
            if not callable(fn):
                raise TypeError(f"{name}: expected a callable, got {type(fn).__name__}")
            setattr(self, name, fn)


# ========================================================================= progress bar


def _si(x: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class ProgressBar:
    """A one-line progress bar with running logs and throughput, written to ``stream``.

    ``ProgressBar(total, prefix='Epoch 1/3', unit='seq', stream=sys.stderr,
    enabled='auto', width=25, min_interval=0.1)``. ``enabled='auto'`` draws only when
    the stream is a TTY; True forces it (e.g. for logs or notebooks). ``update(done,
    items, logs)`` redraws (at most every ``min_interval`` seconds) with ``done`` steps of
    ``total``, ``items`` sequences/tokens processed so far and the running ``logs``;
    ``close(logs)`` draws the final state and ends the line.

        Epoch 2/5 37/100 [=========>...............]  37% 00:03<00:05 loss 1.234 | 812 seq/s
    """

    def __init__(self, total: Optional[int], prefix: str = "", unit: str = "seq",
                 stream: Optional[TextIO] = None, enabled: Union[str, bool] = "auto",
                 width: int = 25, min_interval: float = 0.1) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled == "auto":
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        elif not isinstance(enabled, (bool, np.bool_)):
            raise ValueError(f"enabled: expected 'auto', True or False, got {enabled!r}")
        self.enabled = bool(enabled)
        self.total = total
        self.prefix = prefix
        self.unit = unit
        self.width = int(width)
        self.min_interval = float(min_interval)
        self.start = time.perf_counter()
        self._last_draw = -math.inf
        self._last_len = 0
        self._closed = False
        self._items = 0.0
        self._t_items = self.start

    def line(self, done: int, items: float, logs: Optional[dict], final: bool = False) -> str:
        """The text of the bar for this state (no carriage return)."""
        now = time.perf_counter()
        if items != self._items:  # the rate counts time up to the last new item only, so
            self._items, self._t_items = items, now  # validation does not dilute it
        elapsed = now - self.start
        parts = [self.prefix] if self.prefix else []
        if self.total:
            frac = min(max(done / self.total, 0.0), 1.0)
            filled = int(frac * self.width)
            bar = "=" * filled + (">" if filled < self.width else "") + \
                "." * (self.width - filled - 1)
            eta = elapsed / done * (self.total - done) if done else 0.0
            parts.append(f"{done}/{self.total} [{bar[:self.width]}] {frac * 100:3.0f}%")
            parts.append(_clock(elapsed) if final else f"{_clock(elapsed)}<{_clock(eta)}")
        else:
            parts.append(f"{done} {_clock(elapsed)}")
        parts.extend(f"{k} {_fmt(v)}" for k, v in (logs or {}).items()
                     if k not in ("size", "batch", "steps"))
        busy = self._t_items - self.start
        rate = self._items / busy if busy > 0 else 0.0
        return " ".join(parts) + f" | {_si(rate)} {self.unit}/s"

    def update(self, done: int, items: float, logs: Optional[dict] = None) -> None:
        if items != self._items:
            self._items, self._t_items = items, time.perf_counter()
        if not self.enabled or self._closed:
            return
        now = time.perf_counter()
        if now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self._draw(self.line(done, items, logs))

    def _draw(self, text: str) -> None:
        pad = max(self._last_len - len(text), 0)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._last_len = len(text)

    def close(self, done: int, items: float, logs: Optional[dict] = None) -> None:
        if not self.enabled or self._closed:
            return
        self._closed = True
        self._draw(self.line(done, items, logs, final=True))
        self.stream.write("\n")
        self.stream.flush()
