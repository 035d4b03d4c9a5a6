"""Streaming (one step at a time, state carried) equals running the whole sequence."""
from __future__ import annotations

import re

import numpy as np
import pytest

import pyrnn

CASES = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {}),
         ("GRU", {"reset_after": False}), ("LSTM", {"num_layers": 3}),
         ("GRU", {"num_layers": 2, "bias": False})]


@pytest.mark.parametrize("mode,kwargs", CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("H", [1, 7, 32, 37])
def test_steps_equal_whole_sequence(mode, kwargs, dtype, H, simd_target, num_threads):
    layer = getattr(pyrnn, mode)(5, H, dtype=dtype, seed=1, **kwargs)
    x = np.random.default_rng(0).standard_normal((9, 3, 5)).astype(dtype)
    with pyrnn.no_grad():
        expected, _ = layer(x)
    stream = layer.stream(batch_size=3)
    got = np.stack([stream.step(x[t]).copy() for t in range(9)])
    tol = 1e-12 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("mode,kwargs", CASES[:5], ids=lambda v: str(v))
@pytest.mark.parametrize("B,I,H", [(13, 50, 37), (2, 70, 100)])
def test_steps_equal_whole_sequence_wide(mode, kwargs, B, I, H, simd_target, num_threads):
    # More rows than a register tile has (13 > 12), and K = I + H past the tile's k block
    # (a step runs one pass over [x | h]), with several unit blocks per thread.
    layer = getattr(pyrnn, mode)(I, H, seed=2, **kwargs)
    x = np.random.default_rng(3).standard_normal((4, B, I)).astype(np.float32)
    with pyrnn.no_grad():
        expected, _ = layer(x)
    stream = layer.stream(batch_size=B)
    got = np.stack([stream.step(x[t]).copy() for t in range(4)])
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5)


def test_reset_and_independent_rows():
    layer = pyrnn.LSTM(4, 6, seed=0)
    x = np.random.default_rng(1).standard_normal((5, 2, 4)).astype(np.float32)
    stream = layer.stream(batch_size=2)
    for t in range(5):
        stream.step(x[t])
    stream.reset(rows=[1])              # row 1 starts a new sequence; row 0 carries on
    y = stream.step(x[0]).copy()
    with pyrnn.no_grad():
        fresh, _ = layer(x[:1])
        whole, _ = layer(np.concatenate([x, x[:1]]))
    np.testing.assert_allclose(y[1], fresh[0, 1], rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(y[0], whole[-1, 0], rtol=2e-5, atol=2e-6)


def test_stream_rejects_bad_input():
    with pytest.raises(ValueError, match="^layer"):
        pyrnn.GRU(3, 4, bidirectional=True).stream()
    with pytest.raises(ValueError, match="^batch_size"):
        pyrnn.GRU(3, 4).stream(batch_size=0)
    s = pyrnn.GRU(3, 4).stream(batch_size=2)
    with pytest.raises(ValueError, match=re.escape("x: expected shape (B, I) = (2, 3), got (3, 3)")):
        s.step(np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match=re.escape("x: expected shape (B, I) = (2, 3), got (6,)")):
        s.step(np.zeros(6, np.float32))
    with pytest.raises(TypeError, match=re.escape("x: expected a numpy float32 array (B, I) = "
                                                  "(2, 3), got float64")):
        s.step(np.zeros((2, 3), np.float64))
    with pytest.raises(TypeError, match=re.escape("got list")):
        s.step([[0.0] * 3] * 2)
    with pytest.raises(TypeError, match=re.escape("got >f4")):
        s.step(np.zeros((2, 3), ">f4"))
    assert np.all(s.state == 0)  # rejected steps changed nothing


def test_stream_step_takes_strided_input_and_returns_its_own_buffer():
    layer = pyrnn.LSTM(3, 5, num_layers=2, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 2, 6)).astype(np.float32)[:, :, ::2]
    assert not x[0].flags.c_contiguous
    with pyrnn.no_grad():
        expected, _ = layer(np.ascontiguousarray(x))
    s = layer.stream(batch_size=2)
    outs = [s.step(x[t]) for t in range(4)]
    assert all(o is outs[0] for o in outs)  # the stream's buffer, overwritten every step
    np.testing.assert_allclose(outs[0], expected[-1], rtol=2e-5, atol=2e-5)
    assert np.shares_memory(outs[0], s.state[0][1])


def test_stream_keeps_the_kernels_it_packed_for():
    """Packed layouts follow the packing target's vector width (8 or 16 floats): a stream
    made under one target and stepped after a switch must still give the same outputs."""
    targets = pyrnn._core.available_simd_targets()
    if len(targets) < 2:
        pytest.skip("one SIMD target on this CPU")
    layer = pyrnn.LSTM(20, 37, seed=4)
    x = np.random.default_rng(5).standard_normal((6, 2, 20)).astype(np.float32)
    with pyrnn.no_grad():
        expected, _ = layer(x)
    before = pyrnn._core.simd_target()
    try:
        pyrnn._core.set_simd_target(targets[-1])
        stream = layer.stream(batch_size=2)
        pyrnn._core.set_simd_target(targets[0])
        got = np.stack([stream.step(x[t]).copy() for t in range(6)])
    finally:
        pyrnn._core.set_simd_target(before)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_equal_dtype_objects_are_accepted():
    # numpy hands out equal dtypes that are different objects (an unpickled array's, as
    # multiprocessing passes them); the engine must take them, and refuse swapped bytes.
    import pickle
    layer = pyrnn.GRU(3, 4, seed=0)
    x = pickle.loads(pickle.dumps(np.ones((2, 1, 3), np.float32)))
    assert x.dtype is not np.dtype(np.float32) and x.dtype == np.float32
    with pyrnn.no_grad():
        out, _ = layer(x)
        want, _ = layer(np.ones((2, 1, 3), np.float32))
    np.testing.assert_array_equal(out, want)
    s = layer.stream()
    np.testing.assert_array_equal(s.step(x[0]), want[0])
    with pytest.raises(TypeError, match=re.escape("got >f4")):
        s.step(np.ones((1, 3), ">f4"))


def test_concurrent_steps_of_one_stream_raise_instead_of_tearing_the_state():
    # A step this large runs without the GIL, so two threads can be inside it at once.
    # Each overlapping call must fail cleanly, and the state must be exactly that of the
    # steps that succeeded: with the same input every step, order does not matter.
    import threading
    layer = pyrnn.LSTM(256, 512, seed=0)
    x = (0.1 * np.random.default_rng(0).standard_normal((16, 256))).astype(np.float32)
    stream = layer.stream(batch_size=16)
    done, errors = [0, 0], []
    start = threading.Barrier(2)

    def worker(k):  # tries until it has stepped 40 times itself
        start.wait()
        while done[k] < 40:
            try:
                stream.step(x)
                done[k] += 1
            except RuntimeError as e:
                errors.append(str(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors, "no step overlapped another: the test did not exercise the guard"
    assert all("another thread" in e for e in errors)
    assert done == [40, 40]
    serial = layer.stream(batch_size=16)
    for _ in range(sum(done)):
        serial.step(x)
    np.testing.assert_array_equal(stream.h, serial.h)
    np.testing.assert_array_equal(stream.c, serial.c)
    stream.step(x)  # and the stream still works once the threads are gone
