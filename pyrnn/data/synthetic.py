"""Generated benchmark tasks for recurrent networks: the adding problem, sine-wave
next-step prediction (with a time-extrapolation split), the copy task and running
parity. All seeded; all arrays batch-first (B, T, F)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._common import SeedLike, as_generator

# ------------------------------------------------------------------ adding problem

#: MSE of always predicting 1 on the adding problem. The target is U1 + U2 with
#: U1, U2 ~ U(0, 1) independent, so E[target] = 1 and the best constant predictor's MSE
#: is Var(U1 + U2) = 2 * (1/12) = 1/6 = 0.16666... exactly. (Le, Jaitly & Hinton 2015
#: quote 0.1767 for this baseline; the exact value is 1/6.)
ADDING_BASELINE_MSE: float = 1.0 / 6.0


def adding_problem(
    n: int,
    seq_len: int,
    seed: SeedLike = 0,
    dtype: np.dtype | type = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015 form).

    Channel 0 holds values drawn from U(0, 1); channel 1 is a marker that is 1 at
    exactly two steps, one in the first half [0, T//2) and one in the second half
    [T//2, T), and 0 elsewhere. The target is the sum of the two marked values, so a
    model must remember the first marked value across up to T steps. Predicting the
    constant 1 scores ``ADDING_BASELINE_MSE`` (= 1/6); a model must beat that to have
    learnt anything.

    Args:
        n: batch size B.
        seq_len: T >= 2.
    Returns:
        x: (B, T, 2) inputs; y: (B, 1) targets in [0, 2).
    """
    n, T = int(n), int(seq_len)
    if n < 1:
        raise ValueError(f"n: expected >= 1, got {n}")
    if T < 2:
        raise ValueError(f"seq_len: expected >= 2 (one marker per half), got {T}")
    rng = as_generator(seed)
    values = rng.random((n, T))
    first = rng.integers(0, T // 2, size=n)
    second = rng.integers(T // 2, T, size=n)
    rows = np.arange(n)
    markers = np.zeros((n, T))
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=2).astype(dtype)
    # sum the values as stored in dtype so the target is exact for the inputs seen
    y = (x[rows, first, 0].astype(np.float64) + x[rows, second, 0]).astype(dtype)[:, None]
    return x, y


# ---------------------------------------------------------------------- sine waves

class SineWindows(NamedTuple):
    """Windows of sine waves for next-step prediction.

    x: (B, T, 1) signal at steps 0..T-1; y: (B, T, 1) the same signal one step later;
    freq, amp, phase: (B,) parameters of each window's wave.
    """

    x: np.ndarray
    y: np.ndarray
    freq: np.ndarray
    amp: np.ndarray
    phase: np.ndarray


def sine_windows(
    n: int,
    seq_len: int,
    seed: SeedLike = 0,
    *,
    freq_range: tuple[float, float] = (0.5, 1.5),
    amp_range: tuple[float, float] = (0.5, 1.0),
    dt: float = 0.1,
    noise_std: float = 0.0,
    dtype: np.dtype | type = np.float32,
) -> SineWindows:
    """``n`` sine waves ``amp * sin(2 pi freq t + phase)`` sampled every ``dt``.

    Frequency and amplitude are uniform in their ranges, phase uniform in [0, 2 pi), so
    a model must infer the wave from the window itself. Drawing test windows from a
    ``freq_range`` outside the training one tests frequency extrapolation. Noise (if
    any) is added to the sampled signal, so y[:, t] == x[:, t + 1].

    Returns:
        SineWindows with x, y: (n, seq_len, 1) and freq, amp, phase: (n,).
    """
    n, T = int(n), int(seq_len)
    if n < 1 or T < 1:
        raise ValueError(f"n, seq_len: expected >= 1, got n={n}, seq_len={T}")
    if freq_range[0] > freq_range[1] or amp_range[0] > amp_range[1]:
        raise ValueError(f"freq_range/amp_range: expected (low, high) with low <= high, "
                         f"got {freq_range}, {amp_range}")
    rng = as_generator(seed)
    freq = rng.uniform(*freq_range, size=n)
    amp = rng.uniform(*amp_range, size=n)
    phase = rng.uniform(0.0, 2 * np.pi, size=n)
    t = np.arange(T + 1) * dt
    sig = amp[:, None] * np.sin(2 * np.pi * freq[:, None] * t[None, :] + phase[:, None])
    if noise_std > 0:
        sig = sig + rng.normal(0.0, noise_std, size=sig.shape)
    sig = sig.astype(dtype)
    return SineWindows(sig[:, :-1, None], sig[:, 1:, None], freq, amp, phase)


def sine_signal(
    t: np.ndarray,
    freqs: tuple[float, ...] = (1.0,),
    amps: tuple[float, ...] | None = None,
    phases: tuple[float, ...] | None = None,
) -> np.ndarray:
    """Sum of sines ``sum_k amps[k] * sin(2 pi freqs[k] t + phases[k])``; same shape as t."""
    t = np.asarray(t, dtype=np.float64)
    amps = (1.0,) * len(freqs) if amps is None else amps
    phases = (0.0,) * len(freqs) if phases is None else phases
    if not (len(freqs) == len(amps) == len(phases)):
        raise ValueError(f"freqs/amps/phases: expected equal lengths, got "
                         f"{len(freqs)}, {len(amps)}, {len(phases)}")
    out = np.zeros_like(t)
    for f, a, p in zip(freqs, amps, phases):
        out += a * np.sin(2 * np.pi * f * t + p)
    return out


class SineSplit(NamedTuple):
    """Train windows from one time range, test windows from a later one.

    x_train, y_train: (n_train, T, 1); x_test, y_test: (n_test, T, 1), y one step
    ahead of x. t: (N,) the time grid; signal: (N,) the (noisy) series sampled on it;
    split_index: first grid index of the test range (signal[split_index:] is what a
    model free-running from the end of the training range should reproduce).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    t: np.ndarray
    signal: np.ndarray
    split_index: int


def sine_extrapolation(
    n_train: int,
    n_test: int,
    seq_len: int,
    seed: SeedLike = 0,
    *,
    freqs: tuple[float, ...] = (0.5, 0.23),
    amps: tuple[float, ...] | None = (1.0, 0.5),
    dt: float = 0.1,
    train_range: tuple[float, float] = (0.0, 60.0),
    test_range: tuple[float, float] = (60.0, 100.0),
    noise_std: float = 0.0,
    dtype: np.dtype | type = np.float32,
) -> SineSplit:
    """Next-step windows of one fixed sum-of-sines series, split in time.

    Each training window (inputs and its one-step-ahead targets) lies inside
    ``train_range``; each test window inside ``test_range``, so test scores measure
    prediction on a stretch of the series never seen in training. Window starts are
    uniform over the grid positions where the window fits.

    Returns:
        SineSplit (see its docstring for shapes).
    """
    T = int(seq_len)
    if dt <= 0:
        raise ValueError(f"dt: expected > 0, got {dt}")
    if not (train_range[0] < train_range[1] and test_range[0] < test_range[1]):
        raise ValueError(f"train_range/test_range: expected (start, end) with start < end, "
                         f"got {train_range}, {test_range}")
    rng = as_generator(seed)
    t_end = max(train_range[1], test_range[1])
    N = int(np.floor(t_end / dt + 1e-9)) + 1
    t = np.arange(N) * dt
    signal = sine_signal(t, freqs, amps)
    if noise_std > 0:
        signal = signal + rng.normal(0.0, noise_std, size=N)
    signal = signal.astype(dtype)

    def windows(n: int, rng_: tuple[float, float], name: str) -> tuple[np.ndarray, np.ndarray]:
        first = int(np.ceil(rng_[0] / dt - 1e-9))
        last = int(np.floor(rng_[1] / dt + 1e-9))  # last grid index inside the range
        n_starts = last - T - first + 1  # the window uses indices start .. start + T
        if n_starts < 1:
            raise ValueError(f"{name}: a window of seq_len + 1 = {T + 1} steps of dt={dt} "
                             f"does not fit in {rng_}")
        starts = first + rng.integers(0, n_starts, size=int(n))
        idx = starts[:, None] + np.arange(T + 1)[None, :]
        w = signal[idx]
        return w[:, :-1, None], w[:, 1:, None]

    x_tr, y_tr = windows(n_train, train_range, "train_range")
    x_te, y_te = windows(n_test, test_range, "test_range")
    split_index = int(np.ceil(test_range[0] / dt - 1e-9))
    return SineSplit(x_tr, y_tr, x_te, y_te, t, signal, split_index)


# ------------------------------------------------------------------------ copy task

def copy_task(
    n: int,
    seq_len: int = 10,
    delay: int = 50,
    num_symbols: int = 8,
    seed: SeedLike = 0,
    one_hot: bool = True,
    dtype: np.dtype | type = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """The copy (memory) task in the Arjovsky, Shah & Bengio 2016 form.

    Token ids: 0 = blank, 1..K = data symbols (K = num_symbols), K + 1 = delimiter.
    Input:  L data symbols, delay - 1 blanks, the delimiter, L blanks.
    Target: delay + L blanks, then the L data symbols.
    Total length T = delay + 2 L; the model must output the data after the delimiter.

    Returns:
        x: (B, T, K + 2) one-hot (or (B, T) int64 ids if ``one_hot=False``);
        y: (B, T) int64 target ids.
    """
    n, L, delay, K = int(n), int(seq_len), int(delay), int(num_symbols)
    if n < 1 or L < 1 or delay < 1 or K < 1:
        raise ValueError(f"n, seq_len, delay, num_symbols: expected >= 1, got "
                         f"{n}, {L}, {delay}, {K}")
    rng = as_generator(seed)
    T = delay + 2 * L
    data = rng.integers(1, K + 1, size=(n, L))
    ids = np.zeros((n, T), dtype=np.int64)
    ids[:, :L] = data
    ids[:, L + delay - 1] = K + 1
    y = np.zeros((n, T), dtype=np.int64)
    y[:, delay + L:] = data
    if not one_hot:
        return ids, y
    x = np.zeros((n, T, K + 2), dtype=dtype)
    np.put_along_axis(x, ids[:, :, None], 1, axis=2)
    return x, y


def copy_task_baseline(seq_len: int = 10, delay: int = 50, num_symbols: int = 8) -> float:
    """Mean per-step cross-entropy (nats) of the memoryless baseline on copy_task:
    predict blank for the first delay + L steps and uniform over the K symbols for the
    last L, i.e. ``L * ln(K) / (delay + 2 L)``."""
    L, K = int(seq_len), int(num_symbols)
    return L * float(np.log(K)) / (int(delay) + 2 * L)


# --------------------------------------------------------------------------- parity

def parity_task(
    n: int,
    seq_len: int,
    seed: SeedLike = 0,
    dtype: np.dtype | type = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Running parity: the target at t is the XOR of input bits 0..t.

    Returns:
        x: (B, T, 1) random bits; y: (B, T, 1) running parity (y[:, -1] is the
        parity of the whole sequence, for a many-to-one variant).
    """
    n, T = int(n), int(seq_len)
    if n < 1 or T < 1:
        raise ValueError(f"n, seq_len: expected >= 1, got n={n}, seq_len={T}")
    rng = as_generator(seed)
    bits = rng.integers(0, 2, size=(n, T))
    parity = np.cumsum(bits, axis=1) % 2
    return bits[:, :, None].astype(dtype), parity[:, :, None].astype(dtype)
