"""Experiment 3, sine extrapolation: an MLP that learns the wave as a function of time,
y = f(t), on a window of time fits it there and fails beyond it; an RNN that learns the
wave's dynamics (next value from the values so far) keeps generating it past the window.

Both see only the training range [0, 60); both are scored on the unseen range [60, 100):
the MLP by evaluating f(t) there, the RNN by running free (its output fed back as its
next input) from the end of the training range. Errors are mean squared errors against
the true signal; the signal's own variance is the error of predicting its mean.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .. import init as _init
from .. import optim as _optim
from ..data.synthetic import sine_extrapolation
from ..layers.core import Dense
from ..layers.recurrent import GRU, LSTM, RNN, no_grad
from ..model import Sequential
from ._common import Log, stderr_is_tty, Stopwatch, format_tables, progress_bar, quiet, table
from ._plot import Plot, Series, save_line_plot

NAME = "sine"
LECTURE = {"claim": "the MLP fails to continue the wave beyond the training range; the RNN "
                    "continues it"}

# Engine threads when --threads is not given. The models here are tiny (4-100 units):
# a second thread buys nothing and, measured on the busy 2-core box, made a run up to 20x
# slower (embedded Reber LSTM: 9 s on 1 thread, 180 s on 2).
THREADS = 1


@dataclass
class Config:
    freqs: Tuple[float, ...] = (0.1,)      # 6 periods to learn from, 4 to predict
    amps: Tuple[float, ...] = (1.0,)
    dt: float = 0.1
    train_end: float = 60.0
    test_end: float = 100.0
    cell: str = "rnn"             # rnn (tanh), lstm or gru
    hidden: int = 32
    seq_len: int = 50
    n_windows: int = 256
    rnn_epochs: int = 60
    rnn_lr: float = 3e-3
    prime_steps: int = 50          # true values fed before running free
    mlp_hidden: int = 64
    mlp_steps: int = 3000
    mlp_lr: float = 1e-2
    seed: int = 0


def default_config() -> Config:
    return Config()


def full_config() -> Config:
    """The same wave with a bigger RNN, more windows and longer training for both."""
    return Config(hidden=64, n_windows=512, rnn_epochs=150, mlp_steps=6000)


def reduced_config() -> Config:
    return Config(n_windows=128, rnn_epochs=25, mlp_steps=800)


def _check(cfg: Config) -> None:
    if cfg.cell not in ("rnn", "lstm", "gru"):
        raise ValueError(f"cell: expected 'rnn', 'lstm' or 'gru', got {cfg.cell!r}")
    if not 0 < cfg.train_end < cfg.test_end:
        raise ValueError(f"train_end/test_end: expected 0 < train_end < test_end, got "
                         f"{cfg.train_end}, {cfg.test_end}")


def _rnn(cfg: Config) -> Sequential:
    cls = {"rnn": RNN, "lstm": LSTM, "gru": GRU}[cfg.cell]
    rec = cls(1, cfg.hidden, batch_first=True, seed=cfg.seed)
    _init.init_recurrent(rec, seed=cfg.seed)
    return Sequential([rec, Dense(cfg.hidden, 1, seed=cfg.seed + 1)], seed=cfg.seed)


def _mlp(cfg: Config) -> Sequential:
    return Sequential([Dense(1, cfg.mlp_hidden, activation="tanh", seed=cfg.seed),
                       Dense(cfg.mlp_hidden, cfg.mlp_hidden, activation="tanh", seed=cfg.seed + 1),
                       Dense(cfg.mlp_hidden, 1, seed=cfg.seed + 2)], seed=cfg.seed)


def run(config: Optional[Config] = None, out_dir: Optional[Path] = None,
        log: Log = quiet) -> Dict[str, Any]:
    cfg = config or default_config()
    _check(cfg)
    watch = Stopwatch()
    data = sine_extrapolation(cfg.n_windows, 64, cfg.seq_len, seed=cfg.seed, freqs=cfg.freqs,
                              amps=cfg.amps, dt=cfg.dt, train_range=(0.0, cfg.train_end),
                              test_range=(cfg.train_end, cfg.test_end))
    t, signal, split = data.t, data.signal.astype(np.float32), data.split_index
    future = signal[split:]
    variance = float(np.var(future))
    log(f"sine: signal sum of sin(2 pi f t), f = {cfg.freqs}, dt {cfg.dt}; train on "
        f"t < {cfg.train_end:g} ({split} points), extrapolate to t = {cfg.test_end:g} "
        f"({len(future)} points)")

    # RNN: next-step prediction on windows of the training range, then free-running
    rnn = _rnn(cfg)
    rnn.compile(optimizer=_optim.Adam(rnn, lr=cfg.rnn_lr, clipnorm=1.0), loss="mse")
    hist = rnn.fit(data.x_train, data.y_train, batch_size=32, epochs=cfg.rnn_epochs,
                   verbose=1 if stderr_is_tty() else 0)
    one_step = rnn.evaluate(data.x_test, data.y_test)["loss"]
    prime = signal[split - cfg.prime_steps:split][:, None]  # (P, 1), all from t < train_end
    rnn_future = rnn.generate(prime, len(future))[:, 0]
    rnn_mse = float(np.mean((rnn_future - future) ** 2))
    rnn_fit = float(hist.history["loss"][-1])
    log(f"  {cfg.cell.upper()} ({cfg.hidden} units): train MSE {rnn_fit:.2e}, one-step test "
        f"MSE {one_step:.2e}, free-running MSE over the unseen range {rnn_mse:.3g}")

    # MLP: y = f(t) on the training grid (t scaled by train_end so inputs lie in [0, 1))
    mlp = _mlp(cfg)
    opt = _optim.Adam(mlp, lr=cfg.mlp_lr)
    tt = (t / cfg.train_end).astype(np.float32)[:, None]
    x_tr, y_tr = tt[:split], signal[:split, None]
    bar = progress_bar(cfg.mlp_steps, "MLP f(t)", unit="step")
    for step in range(1, cfg.mlp_steps + 1):
        pred = mlp(x_tr)
        err = pred - y_tr
        mlp.zero_grad()
        mlp.backward((2.0 * err / len(err)).astype(np.float32))
        opt.step()
        if step % 100 == 0:
            bar.update(step, step, {"mse": float(np.mean(err ** 2))})
    bar.close(cfg.mlp_steps, cfg.mlp_steps)
    with no_grad():
        mlp_all = mlp(tt)[:, 0]
    mlp_fit = float(np.mean((mlp_all[:split] - signal[:split]) ** 2))
    mlp_mse = float(np.mean((mlp_all[split:] - future) ** 2))
    log(f"  MLP of t ({cfg.mlp_hidden}x{cfg.mlp_hidden} tanh): train MSE {mlp_fit:.2e}, "
        f"MSE over the unseen range {mlp_mse:.3g}")

    rows = [[f"{cfg.cell.upper()} {cfg.hidden} units, next step, free-running", rnn_fit,
             rnn_mse, "continues the wave"],
            [f"MLP {cfg.mlp_hidden}x{cfg.mlp_hidden} tanh, y = f(t)", mlp_fit, mlp_mse,
             "fails beyond the training range"],
            ["predict the mean (reference)", None, variance, ""]]
    tables = [table(f"Sine extrapolation: train t < {cfg.train_end:g}, score "
                    f"{cfg.train_end:g} <= t < {cfg.test_end:g}",
                    ["model", "train MSE", "extrapolation MSE", "lecture"], rows)]
    result: Dict[str, Any] = {
        "experiment": NAME, "config": asdict(cfg), "lecture": LECTURE, "tables": tables,
        "rnn": {"train_mse": rnn_fit, "one_step_test_mse": one_step,
                "extrapolation_mse": rnn_mse},
        "mlp": {"train_mse": mlp_fit, "extrapolation_mse": mlp_mse},
        "signal_variance": variance,
    }
    if out_dir is not None:
        plot = Plot("Sine extrapolation: MLP of t vs free-running RNN", "t", "signal",
                    [Series(t, signal, "true signal", color="#888888"),
                     Series(t, mlp_all, "MLP f(t)", color="#d62728"),
                     Series(t[split:], rnn_future, f"{cfg.cell.upper()} free-running",
                            color="#1f77b4", dashed=True)],
                    vlines=[(float(t[split]), "end of training range")])
        result["plots"] = save_line_plot(plot, out_dir, "sine_extrapolation")
    result["seconds"] = watch.elapsed
    return result


def report(result: Dict[str, Any]) -> str:
    return format_tables(result["tables"])
