"""The C++ engine agrees with the NumPy reference: outputs, final states, every gradient.

Kernel level over cell x dtype x awkward shapes x direction x lengths x SIMD target x
threads; layer level over stacking, bidirectional, batch_first, lengths and dropout.
Tolerances come from the one table in conftest.py.
"""
from __future__ import annotations

import numpy as np
import pytest

import pyrnn
from pyrnn import _core, functional, reference
from cells import CELLS, make_problem, run, run_forward
from conftest import assert_close

# (T, B, I, H): single step, single row, sizes off the SIMD widths (4, 8, 16), a wider one,
# one with rows past the AVX-512 tiles (B = 13) and H = 150, and one whose I = 8200 makes
# the input projection's panels larger than 256 KB on every target, cell and dtype, so that
# they take the K-blocked tile path (partial sums carried between K blocks, prefetch)
SHAPES = [(1, 1, 1, 1), (1, 3, 5, 7), (4, 1, 9, 3), (6, 5, 3, 17), (3, 9, 33, 12), (5, 2, 8, 16),
          (2, 13, 20, 150), (2, 13, 8200, 20)]
LENGTHS = [None, "random"]


def _compare(cell, shape, dtype, lengths, reverse, seed=0, bias=True):
    T, B, I, H = shape
    p = make_problem(cell, T, B, I, H, dtype=dtype, lengths=lengths, reverse=reverse,
                     seed=seed, bias=bias)
    ref, eng = run(reference, p), run(functional, p)
    assert set(ref) == set(eng)
    for key in ref:
        assert eng[key].dtype == np.dtype(dtype), key
        assert_close(eng[key], ref[key], dtype, "backward" if key.startswith("d_") else "forward",
                     f"{cell} {key}")
    if lengths is not None:
        for b, n in enumerate(p.lengths):  # packed-sequence padding is exactly zero
            assert np.all(eng["out"][n:, b] == 0) and np.all(eng["d_x"][n:, b] == 0)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T%dB%dI%dH%d" % s)
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("lengths", LENGTHS, ids=["full", "lengths"])
def test_kernels_match_reference(cell, dtype, shape, reverse, lengths, simd_target, num_threads):
    _compare(cell, shape, dtype, lengths, reverse)


# The RNN, LSTM and (reset-after) GRU forwards either compute the input projection inside each
# step's register tile (rows [x_t | h] against one [W_ih; W_hh] panel; GRU keeps the n gate's
# input sums apart) or for a chunk of steps ahead of them;
# which one a shape takes depends on B and the weights' size (fused.h, fuse_projection), so
# the shapes above reach only some pairs of path and shape. Both paths, forced, on shapes with
# rows short of a tile (B = 2), partial and whole tiles (B = 9, 13), the K-blocked tile, a
# single step, and rows of I + H = 256 floats (1 KB), whose stride is bumped off 1 KB.
PROJECTION_SHAPES = [(5, 2, 8, 16), (3, 9, 33, 12), (2, 13, 20, 150), (2, 13, 8200, 20),
                     (1, 9, 20, 40), (3, 7, 100, 156)]


@pytest.fixture(params=["fused", "chunked"])
def projection_mode(request):
    before = _core._projection_mode()
    _core._set_projection_mode(request.param)
    yield request.param
    _core._set_projection_mode(before)


# lengths: none, random (one row of T), or every row shorter than T (fewer steps than T:
# h_n comes from an earlier step than T's)
PROJECTION_CASES = [(shape, lengths) for shape in PROJECTION_SHAPES
                    for lengths in (None, "random", "short") if shape[0] > 1 or lengths != "short"]


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape,lengths", PROJECTION_CASES,
                         ids=lambda v: "T%dB%dI%dH%d" % v if isinstance(v, tuple) else str(v))
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_both_projection_paths_match_reference(cell, dtype, shape, lengths, reverse,
                                               projection_mode, simd_target, num_threads):
    if lengths == "short":
        T, B = shape[:2]
        lengths = [1 + b % (T - 1) for b in range(B)]
    _compare(cell, shape, dtype, lengths, reverse)


# One row (B = 1) over more steps than a projection chunk (96 steps, or I if larger): on
# AVX-512 the chunked forward's step tiles then compute the next chunk's projection as they
# go (fused.h, rider_tile), R rows of one unit block at a time. Chunks 96 + 96 + 38 (rider
# groups past the rows), I > H (chunks of I = 150 steps), a row shorter than T (171 steps:
# the last chunk partial), and shape (d)'s I and H over 400 steps.
@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(230, 1, 20, 40), (230, 1, 150, 40), (400, 1, 64, 128)],
                         ids=lambda s: "T%dB%dI%dH%d" % s)
@pytest.mark.parametrize("lengths", [None, [171]], ids=["full", "171"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_one_row_over_many_chunks(cell, dtype, shape, lengths, reverse, simd_target,
                                  num_threads):
    _compare(cell, shape, dtype, lengths, reverse)


def test_projection_mode_is_checked():
    with pytest.raises(ValueError, match="mode: expected 'auto', 'fused' or 'chunked'"):
        _core._set_projection_mode("always")
    assert _core._projection_mode() == "auto"


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernels_without_bias(cell, dtype, simd_target):
    _compare(cell, (4, 3, 5, 6), dtype, "random", True, bias=False)


@pytest.mark.parametrize("cell", list(CELLS))
def test_larger_problem_with_threads(cell, simd_target, num_threads):
    """Big enough that GEMMs and epilogues actually split across threads."""
    _compare(cell, (7, 64, 40, 72), "float32", "random", False, seed=2)


@pytest.mark.parametrize("cell", list(CELLS))
def test_inference_forward_equals_training_forward(cell, simd_target):
    """store_cache=False takes a different path (no gates cache); results must not differ."""
    p = make_problem(cell, 5, 4, 6, 9, dtype=np.float32, lengths="random", reverse=True)
    G, prefix, extra = CELLS[cell]
    with_cache, _ = run_forward(functional, p)
    fwd = getattr(functional, f"{prefix}_forward")
    args = [p.x, p.h0] + ([p.c0] if prefix == "lstm" else []) + [p.W_ih, p.W_hh, p.b_ih, p.b_hh]
    res = fwd(*args, p.lengths, p.reverse, **extra, store_cache=False)
    assert res[-1] == ()
    for got, key in zip(res[:-1], with_cache):
        np.testing.assert_array_equal(got, with_cache[key])


def test_threads_do_not_change_results():
    """1 and 2 threads agree to the forward tolerance on every output and gradient."""
    p = make_problem("lstm", 6, 48, 30, 40, dtype=np.float32, lengths="random")
    before = pyrnn.get_num_threads()
    try:
        pyrnn.set_num_threads(1)
        one = run(functional, p)
        pyrnn.set_num_threads(2)
        two = run(functional, p)
    finally:
        pyrnn.set_num_threads(before)
    for key in one:
        assert_close(two[key], one[key], np.float32, "forward", key)


LAYER_CASES = [
    ("LSTM", dict(num_layers=3, bidirectional=True)),
    ("LSTM", dict(num_layers=2, batch_first=True, dropout=0.3)),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True, dropout=0.5)),
    ("GRU", dict(reset_after=False, num_layers=2, bidirectional=True)),
    ("RNN", dict(nonlinearity="relu", num_layers=2, bidirectional=True, dropout=0.2)),
    ("RNN", dict(bias=False, batch_first=True)),
]


@pytest.mark.parametrize("mode,kwargs", LAYER_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("lengths", [None, [7, 2, 5, 1, 7]], ids=["full", "lengths"])
def test_layers_match_reference_backend(mode, kwargs, dtype, lengths, simd_target, num_threads):
    """Same seed -> same weights and dropout masks on both backends."""
    make = lambda backend: getattr(pyrnn, mode)(6, 11, dtype=dtype, seed=4, backend=backend,
                                                **kwargs)
    eng, ref = make("engine"), make("reference")
    rng = np.random.default_rng(0)
    T, B = 7, 5
    x = rng.standard_normal((B, T, 6) if kwargs.get("batch_first") else (T, B, 6)).astype(dtype)
    LD = eng.num_layers * eng.num_directions
    states = [rng.standard_normal((LD, B, 11)).astype(dtype) for _ in range(4)]
    hx = (states[0], states[1]) if mode == "LSTM" else states[0]
    dhx = (states[2], states[3]) if mode == "LSTM" else states[2]
    results = {}
    for name, layer in (("eng", eng), ("ref", ref)):
        out, hn = layer(x, hx, lengths=lengths)
        dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
        dx, dh = layer.backward(dout, dhx)
        flat = {"out": out, "dx": dx}
        for i, (a, b) in enumerate(zip(hn if mode == "LSTM" else (hn,), dh if mode == "LSTM" else (dh,))):
            flat[f"state{i}"], flat[f"dstate{i}"] = a, b
        flat.update({f"grad {k}": v for k, v in layer.grads.items()})
        results[name] = flat
    for key, expected in results["ref"].items():
        assert_close(results["eng"][key], expected, dtype,
                     "backward" if key.startswith(("d", "grad")) else "forward", key)
