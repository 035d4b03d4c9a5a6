"""Train a small sine-wave predictor in Python and save it for the C program main.c.

    python examples/embed/train.py [--out DIR]       # writes DIR/model.pyrnn, DIR/expected.txt
    cmake -S . -B build -DPYRNN_BUILD_PYTHON=OFF && cmake --build build
    build/examples/embed/embed DIR/model.pyrnn --expect DIR/expected.txt

The model (LSTM(1, 16) -> Dense(16, 1)) learns to predict the next sample of a sine wave.
expected.txt holds Python's outputs for the input main.c feeds (x_t = 0.8 sin(0.3 t)), so
the C program can check it computes the same thing, step by step, without Python.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import pyrnn

try:
    from pyrnn import Dense, Sequential
except ImportError:  # older layouts
    from pyrnn.layers.core import Dense
    from pyrnn.model import Sequential

T_EXAMPLE = 20  # steps main.c runs by default


def sine_windows(n: int, T: int, rng: np.random.Generator):
    """(x, y): n windows of T steps of 0.8 sin(w t + phase); y is x shifted by one step."""
    w = rng.uniform(0.2, 0.4, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    t = np.arange(T + 1)[None, :]
    s = (0.8 * np.sin(w * t + phase)).astype(np.float32)
    return s[:, :-1, None], s[:, 1:, None]


def example_input(T: int = T_EXAMPLE) -> np.ndarray:
    """The input main.c feeds a one-feature model: x_t = 0.8 sin(0.3 t)."""
    return (0.8 * np.sin(0.3 * np.arange(T))).astype(np.float32)[None, :, None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".", help="directory for model.pyrnn and expected.txt")
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(0)
    x, y = sine_windows(512, 40, rng)
    model = Sequential([pyrnn.LSTM(1, 16, batch_first=True), Dense(16, 1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, batch_size=32, epochs=args.epochs, verbose=0)
    print(f"trained {args.epochs} epochs: mse {history.history['loss'][-1]:.5f}")

    model.save(out / "model.pyrnn", include_optimizer=False)
    pred = model.predict(example_input())  # (1, T, 1)
    np.savetxt(out / "expected.txt", pred.reshape(T_EXAMPLE, -1), fmt="%.9g")
    print(f"wrote {out / 'model.pyrnn'} and {out / 'expected.txt'}")
    print(f"now run: embed {out / 'model.pyrnn'} --expect {out / 'expected.txt'}")


if __name__ == "__main__":
    main()
