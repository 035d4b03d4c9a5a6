"""Experiment 6, sequential digits: scikit-learn's 8x8 handwritten digits fed to an LSTM
row by row (8 steps of 8 pixels), classified from the last step (many-to-one, LastStep);
test accuracy against a multinomial logistic regression on all 64 pixels, written here
in NumPy. Needs scikit-learn for the data (``pip install scikit-learn``); without it,
``run`` raises ImportError saying so.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .. import init as _init
from .. import optim as _optim
from ..data.digits import SKLEARN_PIP, load_digits_sequences
from ..layers.core import Dense, LastStep
from ..layers.recurrent import GRU, LSTM, RNN
from ..model import Sequential
from ._common import Log, stderr_is_tty, Stopwatch, format_tables, quiet, table
from ._plot import Plot, Series, save_line_plot

NAME = "digits"
LECTURE = {"claim": "an RNN reading the image row by row classifies digits well above "
                    "chance (10%), on a par with logistic regression on all pixels"}

# Engine threads when --threads is not given. The models here are tiny (4-100 units):
# a second thread buys nothing and, measured on the busy 2-core box, made a run up to 20x
# slower (embedded Reber LSTM: 9 s on 1 thread, 180 s on 2).
THREADS = 1


@dataclass
class Config:
    cell: str = "lstm"
    hidden: int = 64
    epochs: int = 40
    batch_size: int = 32
    lr: float = 5e-3
    logreg_steps: int = 2000
    logreg_lr: float = 0.5
    logreg_l2: float = 1e-3
    test_fraction: float = 0.2
    seed: int = 0


def default_config() -> Config:
    return Config()


def full_config() -> Config:
    return Config(hidden=128, epochs=100)


def reduced_config() -> Config:
    return Config(hidden=32, epochs=6, logreg_steps=300)


def check_available() -> None:
    """ImportError (with the pip command) if scikit-learn, which holds the data, is absent."""
    try:
        import sklearn  # noqa: F401
    except ImportError as e:
        raise ImportError(f"the digits experiment needs scikit-learn for its data, which is "
                          f"not installed. Install it with:\n    {SKLEARN_PIP}") from e


# --------------------------------------------------------------- logistic regression


def logistic_regression(x: np.ndarray, y: np.ndarray, classes: int, steps: int, lr: float,
                        l2: float, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by full-batch gradient descent on the mean
    cross-entropy + l2/2 ||W||^2. x (N, D) float, y (N,) ints -> (W (D, C), b (C,))."""
    N, D = x.shape
    rng = np.random.default_rng(seed)
    W = rng.normal(0.0, 0.01, (D, classes))
    b = np.zeros(classes)
    onehot = np.eye(classes)[y]
    for _ in range(steps):
        z = x @ W + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        dz = (p - onehot) / N
        W -= lr * (x.T @ dz + l2 * W)
        b -= lr * dz.sum(axis=0)
    return W, b


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(scores.argmax(axis=1) == y))


# ----------------------------------------------------------------------------------- run


def run(config: Optional[Config] = None, out_dir: Optional[Path] = None,
        log: Log = quiet) -> Dict[str, Any]:
    cfg = config or default_config()
    if cfg.cell not in ("lstm", "gru", "rnn"):
        raise ValueError(f"cell: expected 'lstm', 'gru' or 'rnn', got {cfg.cell!r}")
    watch = Stopwatch()
    data = load_digits_sequences(test_fraction=cfg.test_fraction, seed=cfg.seed)
    log(f"digits: {len(data.y_train)} training and {len(data.y_test)} test images, each read "
        f"as 8 rows of 8 pixels")

    cls = {"lstm": LSTM, "gru": GRU, "rnn": RNN}[cfg.cell]
    rec = cls(8, cfg.hidden, batch_first=True, seed=cfg.seed)
    _init.init_recurrent(rec, seed=cfg.seed)
    model = Sequential([rec, LastStep(), Dense(cfg.hidden, 10, seed=cfg.seed + 1)], seed=cfg.seed)
    model.compile(optimizer=_optim.Adam(model, lr=cfg.lr, clipnorm=5.0), loss="cross_entropy",
                  metrics=["accuracy"])
    t = Stopwatch()
    hist = model.fit(data.x_train, data.y_train, batch_size=cfg.batch_size, epochs=cfg.epochs,
                     validation_data=(data.x_test, data.y_test), verbose=1 if stderr_is_tty() else 0)
    rnn_seconds = t.elapsed
    rnn_train = float(hist.history["accuracy"][-1])
    rnn_test = accuracy(model.predict(data.x_test), data.y_test)
    log(f"  {cfg.cell.upper()} {cfg.hidden} units: test accuracy {rnn_test:.3f} "
        f"({cfg.epochs} epochs, {rnn_seconds:.0f} s)")

    xf_tr = data.x_train.reshape(len(data.x_train), -1).astype(np.float64)
    xf_te = data.x_test.reshape(len(data.x_test), -1).astype(np.float64)
    W, b = logistic_regression(xf_tr, data.y_train, 10, cfg.logreg_steps, cfg.logreg_lr,
                               cfg.logreg_l2, cfg.seed)
    lr_train, lr_test = accuracy(xf_tr @ W + b, data.y_train), accuracy(xf_te @ W + b,
                                                                        data.y_test)
    log(f"  logistic regression on 64 pixels: test accuracy {lr_test:.3f}")
    chance = float(np.bincount(data.y_test).max() / len(data.y_test))
    rows = [[f"{cfg.cell.upper()} {cfg.hidden} units, row by row, LastStep", rnn_train, rnn_test],
            ["logistic regression (NumPy), all 64 pixels", lr_train, lr_test],
            ["majority class (chance)", None, chance]]
    tables = [table(f"Sequential 8x8 digits: {len(data.y_test)} test images",
                    ["model", "train accuracy", "test accuracy"], rows)]
    result: Dict[str, Any] = {
        "experiment": NAME, "config": asdict(cfg), "lecture": LECTURE, "tables": tables,
        "rnn": {"train_accuracy": rnn_train, "test_accuracy": rnn_test, "seconds": rnn_seconds,
                "history": {k: list(v) for k, v in hist.history.items()}},
        "logistic_regression": {"train_accuracy": lr_train, "test_accuracy": lr_test},
        "chance": chance,
    }
    if out_dir is not None:
        epochs = np.arange(1, len(hist.history["accuracy"]) + 1)
        plot = Plot("Sequential digits: LSTM accuracy per epoch", "epoch", "accuracy",
                    [Series(epochs, hist.history["accuracy"], "train"),
                     Series(epochs, hist.history.get("val_accuracy", []), "test", dashed=True)],
                    hlines=[(lr_test, "logistic regression (test)")])
        result["plots"] = save_line_plot(plot, out_dir, "digits_accuracy")
    result["seconds"] = watch.elapsed
    return result


def report(result: Dict[str, Any]) -> str:
    return format_tables(result["tables"])
