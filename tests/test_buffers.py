"""Large output and workspace buffers are kept for reuse (csrc/bindings/buffers.h): reuse
must never leak one call's data into the next, and release_cached_memory() frees them."""
from __future__ import annotations

import gc

import numpy as np

import pyrnn
from conftest import assert_close

# out (T, B, H) float32 = 8 MB: above the 4 MB threshold of kept buffers.
T, B, I, H = 64, 32, 8, 1024


def _layer(backend="engine"):
    layer = pyrnn.GRU(I, H, seed=3, backend=backend)
    return layer


def test_released_outputs_are_kept_and_reused():
    pyrnn.release_cached_memory()
    layer = _layer()
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    with pyrnn.no_grad():
        out, _ = layer(x)
    assert out.ctypes.data % 64 == 0, "outputs start on a cache line"
    del out
    gc.collect()
    kept = pyrnn._core.cached_buffer_bytes()
    assert kept >= T * B * H * 4
    with pyrnn.no_grad():
        out2, _ = layer(x)
    after_reuse = pyrnn._core.cached_buffer_bytes()
    assert after_reuse < kept, "the kept buffer was reused"
    assert pyrnn.release_cached_memory() == after_reuse
    del out2
    gc.collect()
    assert pyrnn.release_cached_memory() >= T * B * H * 4
    assert pyrnn._core.cached_buffer_bytes() == 0


def test_reused_buffers_hold_no_stale_values():
    """A buffer that held NaN-free garbage from another call: padded steps must read zero,
    every result must equal the reference's."""
    rng = np.random.default_rng(1)
    engine, ref = _layer(), _layer("reference")
    x1 = (100 * rng.standard_normal((T, B, I))).astype(np.float32)
    lengths = rng.integers(1, T + 1, B)
    lengths[0] = T
    x2 = rng.standard_normal((T, B, I)).astype(np.float32)
    g = rng.standard_normal((T, B, H)).astype(np.float32)
    for _ in range(2):  # the second round runs on buffers the first released
        out1, _ = engine(x1)
        engine.backward(np.ones_like(out1))
        del out1
        gc.collect()
        engine.zero_grad()
        out, h_n = engine(x2, lengths=lengths)
        dx, dh0 = engine.backward(g)
        r_out, r_h = ref(x2, lengths=lengths)
        r_dx, r_dh0 = ref.backward(g)
        ref.zero_grad()
        padded = np.arange(T)[:, None] >= lengths[None, :]
        assert padded.any() and not out[padded].any(), "outputs at padded steps must be zero"
        assert_close(out, r_out, "float32", "forward", "out")
        assert_close(h_n, r_h, "float32", "forward", "h_n")
        assert_close(dx, r_dx, "float32", "backward", "dx")
        assert_close(dh0, r_dh0, "float32", "backward", "dh0")
