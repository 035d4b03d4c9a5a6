"""Reber grammar (Reber 1967) and embedded Reber grammar (Hochreiter & Schmidhuber 1997):
seeded generation under length bounds, validity checks, and the one-hot inputs and
"allowed next symbols" multi-hot targets that the classic next-symbol experiments use.

The automaton (every branch taken with probability 1/2)::

    0 -B-> 1;  1 -T-> 2, 1 -P-> 3;  2 -S-> 2, 2 -X-> 4;  3 -T-> 3, 3 -V-> 5;
    4 -X-> 3, 4 -S-> 6;  5 -P-> 4, 5 -V-> 6;  6 -E-> end

An embedded Reber string is ``B c <Reber string> c E`` with ``c`` in {T, P} chosen with
probability 1/2; predicting the second ``c`` needs memory of the first across the
whole inner string.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Collection, Iterable, Sequence

import numpy as np

from ._common import SeedLike, SequenceBatch, as_generator, pad_batch

SYMBOLS = "BTSXPVE"
NUM_SYMBOLS = len(SYMBOLS)
SYMBOL_INDEX = {c: i for i, c in enumerate(SYMBOLS)}

_END = 7  # accepting state after E
# state -> ((symbol, next state), ...); branches are equiprobable
_TRANSITIONS: dict[int, tuple[tuple[str, int], ...]] = {
    0: (("B", 1),),
    1: (("T", 2), ("P", 3)),
    2: (("S", 2), ("X", 4)),
    3: (("T", 3), ("V", 5)),
    4: (("X", 3), ("S", 6)),
    5: (("P", 4), ("V", 6)),
    6: (("E", _END),),
    _END: (),
}
_NUM_STATES = 8
# symbols that may leave each state, in SYMBOLS order
_ALLOWED = {q: "".join(sorted((s for s, _ in opts), key=SYMBOLS.index))
            for q, opts in _TRANSITIONS.items()}
MIN_REBER_LEN = 5  # BTXSE, BPVVE
MIN_EMBEDDED_LEN = MIN_REBER_LEN + 4
# Below this many candidate strings, sampling enumerates them all (exact and fast even
# when n is close to the number of distinct strings, where rejection would crawl).
_ENUMERATE_LIMIT = 20_000


# ----------------------------------------------------------------------------- checks

def _walk(s: str) -> list[str] | None:
    """Allowed-next-symbol sets (as strings in SYMBOLS order) after each symbol of a
    plain Reber string, or None if ``s`` is not accepted by the automaton."""
    state, allowed = 0, []
    for ch in s:
        for sym, nxt in _TRANSITIONS[state]:
            if sym == ch:
                state = nxt
                break
        else:
            return None
        allowed.append(_ALLOWED[state])
    return allowed if state == _END else None


def _walk_embedded(s: str) -> list[str] | None:
    if len(s) < MIN_EMBEDDED_LEN or s[0] != "B" or s[1] not in "TP" or s[-1] != "E":
        return None
    if s[-2] != s[1]:
        return None
    inner = _walk(s[2:-2])
    if inner is None:
        return None
    # after the inner E only the remembered symbol may follow: the long-range target
    return ["TP", "B"] + inner[:-1] + [s[1], "E", ""]


def is_valid_reber(s: str) -> bool:
    """True if ``s`` (e.g. ``"BTSSXXTVVE"``) is a complete string of the Reber grammar."""
    return isinstance(s, str) and _walk(s) is not None


def is_valid_embedded_reber(s: str) -> bool:
    """True if ``s`` is ``B c <Reber string> c E`` with the same ``c`` in {T, P} twice."""
    return isinstance(s, str) and _walk_embedded(s) is not None


def reber_allowed_next(s: str, embedded: bool = False) -> list[str]:
    """For each position t of ``s``, the symbols the grammar allows at t + 1.

    Returns a list of len(s) strings (symbols in SYMBOLS order); the entry after the
    final E is "" (nothing may follow). Raises ValueError if ``s`` is not valid.
    """
    allowed = _walk_embedded(s) if embedded else _walk(s)
    if allowed is None:
        kind = "embedded Reber" if embedded else "Reber"
        raise ValueError(f"s: expected a valid {kind} string, got {s!r}")
    return allowed


# ------------------------------------------------------------------- length tables

@lru_cache(maxsize=32)
def _exact_length_table(max_r: int, counts: bool) -> np.ndarray:
    """table[q, r]: probability (counts=False, float64) or number of strings
    (counts=True, Python ints in an object array: they outgrow int64) with which a
    walk from state q emits exactly r more symbols, E included, and stops."""
    zero = 0 if counts else 0.0
    table = [[zero] * (max_r + 1) for _ in range(_NUM_STATES)]
    table[_END][0] = 1 if counts else 1.0
    for r in range(1, max_r + 1):
        for q in range(_END):
            opts = _TRANSITIONS[q]
            s = sum(table[nxt][r - 1] for _, nxt in opts)
            table[q][r] = s if counts else s / len(opts)
    return np.array(table, dtype=object if counts else np.float64)


@lru_cache(maxsize=32)
def _at_least_table(max_a: int) -> np.ndarray:
    """table[q, a]: probability that a walk from q emits at least a more symbols."""
    table = np.zeros((_NUM_STATES, max_a + 1))
    table[:, 0] = 1.0
    for a in range(1, max_a + 1):
        for q in range(_END):
            opts = _TRANSITIONS[q]
            table[q, a] = sum(table[nxt, a - 1] for _, nxt in opts) / len(opts)
    return table


class _LengthWindow:
    """Probability that a walk from state q emits between a and b more symbols
    (b None: no upper bound). Sums of positive terms, so no cancellation even when
    the window is a 1e-12 event."""

    def __init__(self, lo: int, hi: int | None):
        self.lo, self.hi = lo, hi
        self.table = _at_least_table(lo) if hi is None else _exact_length_table(hi, False)

    def prob(self, q: int, a: int, b: int | None) -> float:
        a = max(a, 0)
        if b is None:
            return float(self.table[q, a])
        if b < a:
            return 0.0
        return float(self.table[q, a: b + 1].sum())


def _check_bounds(min_len: int | None, max_len: int | None, embedded: bool) -> tuple[int, int | None]:
    """Normalise bounds to the inner (plain Reber) string's length range."""
    extra = 4 if embedded else 0
    lo = MIN_REBER_LEN if min_len is None else int(min_len) - extra
    hi = None if max_len is None else int(max_len) - extra
    lo = max(lo, MIN_REBER_LEN)
    if hi is not None and hi < lo:
        shortest = MIN_REBER_LEN + extra
        raise ValueError(
            f"max_len: expected >= max(min_len, {shortest}) (the shortest "
            f"{'embedded ' if embedded else ''}Reber string), got min_len={min_len}, "
            f"max_len={max_len}"
        )
    return lo, hi


def count_reber_strings(min_len: int | None = None, max_len: int | None = None,
                        embedded: bool = False) -> float | int:
    """Number of distinct (embedded) Reber strings with min_len <= len <= max_len.

    Returns an int, or ``float('inf')`` when ``max_len`` is None.
    """
    lo, hi = _check_bounds(min_len, max_len, embedded)
    if hi is None:
        return float("inf")
    n = int(sum(_exact_length_table(hi, True)[0, lo: hi + 1]))
    return 2 * n if embedded else n


# ---------------------------------------------------------------------- generation

def _sample_inner(rng: np.random.Generator, lo: int, hi: int | None) -> str:
    """One Reber string drawn from the random walk conditioned on lo <= len <= hi.

    Each branch is weighted by 1/2 times the probability that the rest of the walk
    lands in the window: exactly the distribution of rejection sampling, without the
    rejections (length >= 30 is a ~5e-4 event for the plain walk).
    """
    window = _LengthWindow(lo, hi)
    state, out = 0, []
    while state != _END:
        k = len(out) + 1  # length once this symbol is emitted
        opts = _TRANSITIONS[state]
        if len(opts) == 1:
            sym, state = opts[0]
        else:
            w0, w1 = (window.prob(nxt, lo - k, None if hi is None else hi - k)
                      for _, nxt in opts)
            sym, state = opts[0] if rng.random() * (w0 + w1) < w0 else opts[1]
        out.append(sym)
    return "".join(out)


def _enumerate_inner(lo: int, hi: int) -> tuple[list[str], np.ndarray]:
    """All Reber strings with lo <= len <= hi and their walk probabilities."""
    counts = _exact_length_table(hi, True)
    found: list[str] = []
    probs: list[float] = []

    def rec(state: int, prefix: str, p: float) -> None:
        if state == _END:
            found.append(prefix)
            probs.append(p)
            return
        opts = _TRANSITIONS[state]
        k = len(prefix) + 1
        for sym, nxt in opts:
            if hi - k >= 0 and any(counts[nxt, max(lo - k, 0): hi - k + 1]):  # prune dead ends
                rec(nxt, prefix + sym, p / len(opts))

    rec(0, "", 1.0)
    return found, np.array(probs)


def reber_string(seed: SeedLike = 0, embedded: bool = False) -> str:
    """One unconstrained (embedded) Reber string from the plain random walk."""
    rng = as_generator(seed)
    inner = _sample_inner(rng, MIN_REBER_LEN, None)
    if not embedded:
        return inner
    c = "T" if rng.random() < 0.5 else "P"
    return "B" + c + inner + c + "E"


def reber_strings(
    n: int,
    min_len: int | None = None,
    max_len: int | None = None,
    seed: SeedLike = 0,
    *,
    embedded: bool = False,
    unique: bool = True,
    exclude: Collection[str] = (),
) -> list[str]:
    """Draw ``n`` (embedded) Reber strings with ``min_len <= len(s) <= max_len``.

    Strings follow the grammar's random walk (each branch 1/2) conditioned on the
    length window, i.e. the distribution you get by sampling until the bounds hold.
    Lengths count every symbol, B and E included (embedded strings are 4 longer than
    their inner Reber string).

    Args:
        n: number of strings.
        min_len, max_len: inclusive length bounds; None leaves that side open.
        seed: int, Generator or None (see ``SeedLike``).
        embedded: draw embedded Reber strings.
        unique: no string repeats (and none is in ``exclude``). Raises ValueError if
            fewer than ``n`` distinct strings exist in the window.
        exclude: strings never to return (e.g. a training set), only with unique=True.

    Returns:
        list of ``n`` strings over "BTSXPVE".
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"n: expected >= 0, got {n}")
    rng = as_generator(seed)
    lo, hi = _check_bounds(min_len, max_len, embedded)
    if _LengthWindow(lo, hi).prob(0, lo, hi) <= 0.0:
        raise ValueError(f"min_len/max_len: no Reber string has a length in [{min_len}, {max_len}]")
    excluded = set(exclude) if unique else set()
    total = count_reber_strings(min_len, max_len, embedded)

    if total <= _ENUMERATE_LIMIT:
        inner, p = _enumerate_inner(lo, hi)  # type: ignore[arg-type]
        if embedded:
            cand = ["BT" + s + "TE" for s in inner] + ["BP" + s + "PE" for s in inner]
            p = np.concatenate([p, p]) / 2
        else:
            cand = inner
        if excluded:
            keep = np.array([s not in excluded for s in cand], dtype=bool)
            cand = [s for s, k in zip(cand, keep) if k]
            p = p[keep]
        if unique and n > len(cand):
            raise ValueError(
                f"n: only {len(cand)} distinct {'embedded ' if embedded else ''}Reber strings "
                f"have a length in [{min_len}, {max_len}]"
                f"{' outside exclude' if excluded else ''}, got n={n}; widen the bounds "
                f"or pass unique=False"
            )
        if n == 0:
            return []
        idx = rng.choice(len(cand), size=n, replace=not unique, p=p / p.sum())
        return [cand[i] for i in idx]

    out: list[str] = []
    seen = set(excluded)
    attempts, max_attempts = 0, 1000 * n + 10_000
    while len(out) < n:
        attempts += 1
        if attempts > max_attempts:
            raise RuntimeError(
                f"reber_strings: found only {len(out)} distinct strings of the {n} asked for "
                f"after {max_attempts} draws; widen the length bounds or pass unique=False"
            )
        s = _sample_inner(rng, lo, hi)
        if embedded:
            c = "T" if rng.random() < 0.5 else "P"
            s = "B" + c + s + c + "E"
        if unique:
            if s in seen:
                continue
            seen.add(s)
        out.append(s)
    return out


def reber_train_test_split(
    n_train: int,
    n_test: int,
    min_len: int | None = None,
    max_len: int | None = None,
    seed: SeedLike = 0,
    *,
    embedded: bool = False,
    test_min_len: int | None = None,
    test_max_len: int | None = None,
) -> tuple[list[str], list[str]]:
    """Disjoint train and test sets of distinct (embedded) Reber strings.

    The test strings never occur in the training set, so test accuracy measures the
    grammar learnt rather than strings memorised. ``test_min_len``/``test_max_len``
    default to the training bounds; set them higher to test length generalisation.

    Returns:
        (train, test): lists of n_train and n_test strings.
    """
    rng = as_generator(seed)
    train = reber_strings(n_train, min_len, max_len, rng, embedded=embedded)
    t_lo = min_len if test_min_len is None else test_min_len
    t_hi = max_len if test_max_len is None else test_max_len
    test = reber_strings(n_test, t_lo, t_hi, rng, embedded=embedded, exclude=set(train))
    return train, test


# ------------------------------------------------------------------------ encoding

def encode_reber(s: str, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """One-hot encoding of ``s``: (T, 7) with column order SYMBOLS = "BTSXPVE"."""
    try:
        idx = np.fromiter((SYMBOL_INDEX[c] for c in s), dtype=np.int64, count=len(s))
    except KeyError as e:
        raise ValueError(f"s: expected only symbols from {SYMBOLS!r}, got {e.args[0]!r}") from None
    out = np.zeros((len(s), NUM_SYMBOLS), dtype=dtype)
    out[np.arange(len(s)), idx] = 1
    return out


def decode_reber(x: np.ndarray) -> str:
    """Inverse of encode_reber: (T, 7) scores -> string of the argmax symbols."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != NUM_SYMBOLS:
        raise ValueError(f"x: expected shape (T, {NUM_SYMBOLS}), got {x.shape}")
    return "".join(SYMBOLS[i] for i in x.argmax(axis=1))


def reber_targets(s: str, embedded: bool = False, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Multi-hot next-symbol targets for ``s``: (T, 7).

    Row t has a 1 for every symbol the automaton allows right after s[t]; the row of
    the final E is all zeros. For embedded strings, the row that predicts the
    penultimate symbol (t = T-3, after the inner E) is one-hot on s[1].
    """
    out = np.zeros((len(s), NUM_SYMBOLS), dtype=dtype)
    for t, allowed in enumerate(reber_allowed_next(s, embedded)):
        for c in allowed:
            out[t, SYMBOL_INDEX[c]] = 1
    return out


def reber_batch(
    strings: Sequence[str],
    embedded: bool = False,
    dtype: np.dtype | type = np.float32,
    time_major: bool = False,
) -> SequenceBatch:
    """Pad strings into one batch for next-symbol prediction.

    Returns SequenceBatch(x, y, lengths, mask) with
        x: (B, T_max, 7) one-hot symbols, y: (B, T_max, 7) allowed-next multi-hot,
        lengths: (B,) int64, mask: (B, T_max) bool (True for t < lengths[b]);
    x, y, mask are time-major (T_max, B, ...) if ``time_major``. Each sequence's last
    valid row of y (after E) is all zeros; drop it from a loss with
    ``mask & (t < lengths - 1)`` if your loss needs a nonempty target.
    """
    if isinstance(strings, str):
        raise TypeError("strings: expected a sequence of strings, got a single str")
    xs = [encode_reber(s, dtype) for s in strings]
    ys = [reber_targets(s, embedded, dtype) for s in strings]
    return pad_batch(xs, ys, dtype, time_major)


def reber_prediction_correct(
    outputs: np.ndarray,
    targets: np.ndarray,
    lengths: np.ndarray | Iterable[int],
    threshold: float = 0.5,
) -> np.ndarray:
    """Hochreiter & Schmidhuber's success criterion, per sequence.

    A sequence counts as correctly predicted when, at every step t < lengths[b] - 1
    (the step after E has no target), exactly the allowed symbols have output above
    ``threshold``.

    Args:
        outputs: (B, T, 7) per-symbol probabilities (e.g. sigmoid outputs).
        targets: (B, T, 7) multi-hot targets from reber_batch.
        lengths: (B,) valid lengths.
    Returns:
        (B,) bool.
    """
    outputs = np.asarray(outputs)
    targets = np.asarray(targets)
    lengths = np.asarray(list(lengths) if not isinstance(lengths, np.ndarray) else lengths)
    if outputs.shape != targets.shape or outputs.ndim != 3:
        raise ValueError(
            f"outputs: expected shape (B, T, 7) equal to targets' {targets.shape}, got {outputs.shape}"
        )
    if lengths.shape != (outputs.shape[0],):
        raise ValueError(f"lengths: expected shape ({outputs.shape[0]},), got {lengths.shape}")
    agree = ((outputs > threshold) == (targets > 0.5)).all(axis=2)  # (B, T)
    scored = np.arange(outputs.shape[1])[None, :] < (lengths[:, None] - 1)
    return (agree | ~scored).all(axis=1)
