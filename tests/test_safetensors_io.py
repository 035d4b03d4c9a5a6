# pyrnn.safetensors_io: round trips, interop with the `safetensors` package both ways,
# determinism, atomic writes, and a ValueError (never a crash) for every malformed file.
import json
import os
import struct

import numpy as np
import pytest

from pyrnn import safetensors_io as st


def _tensors():
    rng = np.random.default_rng(0)
    return {
        "rnn.weight_ih_l0": rng.standard_normal((8, 3)).astype(np.float32),
        "rnn.bias_hh_l0": rng.standard_normal(8).astype(np.float32),
        "head.weight": rng.standard_normal((2, 5)),  # float64
        "ids": np.arange(7, dtype=np.int64),
        "empty": np.zeros((0, 4), np.float32),
        "scalar": np.array(2.5, np.float64),
    }


def _assert_same(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k])


def _raw(header: dict, data: bytes = b"", pad: int = 0, edit=(b"", b"")) -> bytes:
    h = json.dumps(header).encode().replace(*edit) + b" " * pad
    return struct.pack("<Q", len(h)) + h + data


def test_round_trip(tmp_path):
    t = _tensors()
    meta = {"format": "pyrnn.model", "version": "1", "note": "héllo ✓"}
    p = tmp_path / "m.pyrnn"
    st.save_file(p, t, meta)
    got, got_meta = st.load_file(p)
    _assert_same(t, got)
    assert got_meta == meta
    assert all(v.flags.writeable and v.flags.c_contiguous for v in got.values())
    got2, meta2 = st.load_bytes(p.read_bytes())
    _assert_same(t, got2)
    assert meta2 == meta


def test_layout_is_deterministic_and_aligned(tmp_path):
    t = _tensors()
    a = st.save_bytes(t, {"b": "2", "a": "1"})
    b = st.save_bytes(dict(reversed(list(t.items()))), {"a": "1", "b": "2"})
    assert a == b
    (n,) = struct.unpack_from("<Q", a)
    assert n % 8 == 0
    header = a[8:8 + n]
    assert header.startswith(b"{") and header.rstrip(b" ").endswith(b"}")
    st.save_file(tmp_path / "x", t, {"a": "1", "b": "2"})
    assert (tmp_path / "x").read_bytes() == a


def test_non_contiguous_and_big_endian_inputs():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = {"t": x.T, "be": x.astype(">f4"), "be64": np.arange(3, dtype=">i8")}
    got, _ = st.load_bytes(st.save_bytes(t))
    np.testing.assert_array_equal(got["t"], x.T)
    np.testing.assert_array_equal(got["be"], x)
    assert got["be"].dtype == np.float32
    np.testing.assert_array_equal(got["be64"], [0, 1, 2])


@pytest.mark.parametrize("bad, exc", [
    ({"x": np.zeros(2, np.int32)}, ValueError),
    ({"x": np.zeros(2, np.float16)}, ValueError),
    ({"x": np.zeros(2, bool)}, ValueError),
    ({"x": [1.0, 2.0]}, TypeError),
    ({"": np.zeros(2, np.float32)}, ValueError),
    ({"__metadata__": np.zeros(2, np.float32)}, ValueError),
    ({1: np.zeros(2, np.float32)}, TypeError),
    ({"x": np.zeros((1,) * 9, np.float32)}, ValueError),
])
def test_save_rejects_bad_tensors(bad, exc):
    with pytest.raises(exc):
        st.save_bytes(bad)


@pytest.mark.parametrize("meta", [{"a": 1}, {1: "a"}, ["a"], {"a": "\ud800"}])
def test_save_rejects_bad_metadata(meta):
    with pytest.raises((TypeError, ValueError)):
        st.save_bytes({"x": np.zeros(1, np.float32)}, meta)


def test_save_is_atomic(tmp_path, monkeypatch):
    p = tmp_path / "m.pyrnn"
    st.save_file(p, {"x": np.ones(3, np.float32)})
    before = p.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        st.save_file(p, {"x": np.zeros(5, np.float32)})
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.pyrnn"]  # the temporary file is gone


def test_interop_with_safetensors_package(tmp_path):
    sn = pytest.importorskip("safetensors.numpy")
    t = _tensors()
    del t["scalar"]  # safetensors.numpy cannot save NumPy 0-d scalars in every version
    # ours -> theirs
    p = tmp_path / "ours.safetensors"
    st.save_file(p, t, {"format": "pyrnn.model"})
    _assert_same(t, sn.load_file(str(p)))
    from safetensors import safe_open
    with safe_open(str(p), framework="numpy") as f:
        assert f.metadata() == {"format": "pyrnn.model"}
    # theirs -> ours
    q = tmp_path / "theirs.safetensors"
    sn.save_file(t, str(q), metadata={"k": "v"})
    got, meta = st.load_file(q)
    _assert_same(t, got)
    assert meta == {"k": "v"}
    got, meta = st.load_bytes(sn.save(t))
    _assert_same(t, got)
    assert meta == {}


F4 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize("blob, match", [
    (b"", "too short"),
    (b"\x01\x00\x00", "too short"),
    (struct.pack("<Q", 2**63) + b"{}", "exceeds the limit"),
    (struct.pack("<Q", 100_000_001) + b"{}", "exceeds the limit"),
    (struct.pack("<Q", 10) + b"{}", "truncated"),
    (struct.pack("<Q", 0), "start"),
    (_raw({}, pad=0)[:8] + b" {}", "start"),
    (struct.pack("<Q", 2) + b"[]", "start"),
    (struct.pack("<Q", 4) + b"{}\n ", "not valid JSON"),
    (struct.pack("<Q", 5) + b'{"a":', "not valid JSON"),
    (struct.pack("<Q", 4) + b"{}{}", "not valid JSON"),
    (struct.pack("<Q", 3) + b"{\xff}", "UTF-8"),
    (struct.pack("<Q", 2) + b"{}" + b"\0" * 4, "not covered"),
    (_raw({"a": F4, "a ": F4}, b"\0" * 8, edit=(b'"a "', b'"a"')), "duplicate"),
    (_raw({"a": F4}, b"\0" * 8, edit=(b"[0, 8]", b"[0, 8.0]")), "integer"),
    (_raw({"a": F4}, b"\0" * 8, edit=(b"[0, 8]", b"[-0, 8]")), "integer"),
    (_raw({"a": F4}, b"\0" * 8, edit=(b"[0, 8]", b"[0, 8e0]")), "integer"),
    (_raw({"a": {**F4, "dtype": "F16"}}, b"\0" * 8), "unsupported dtype"),
    (_raw({"a": {**F4, "dtype": 1}}, b"\0" * 8), "unsupported dtype"),
    (_raw({"a": {**F4, "shape": [-2]}}, b"\0" * 8), "non-negative"),
    (_raw({"a": {**F4, "shape": [True]}}, b"\0" * 8), "non-negative"),
    (_raw({"a": {**F4, "shape": "2"}}, b"\0" * 8), "not a list"),
    (_raw({"a": {**F4, "shape": [1] * 9}}, b"\0" * 8), "rank"),
    (_raw({"a": {**F4, "shape": [2**62, 2**62]}}, b"\0" * 8), "overflow"),
    (_raw({"a": {**F4, "shape": [2**64]}}, b"\0" * 8), "out of range"),
    (_raw({"a": {**F4, "shape": [3]}}, b"\0" * 8), "expected 12"),
    (_raw({"a": {**F4, "data_offsets": [0, 16]}}, b"\0" * 8), "outside"),
    (_raw({"a": {**F4, "data_offsets": [8, 0]}}, b"\0" * 8), "outside"),
    (_raw({"a": {**F4, "data_offsets": [0]}}, b"\0" * 8), "begin, end"),
    (_raw({"a": {**F4, "data_offsets": [2**64, 2**64 + 8]}}, b"\0" * 8), "out of range"),
    (_raw({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8), "missing"),
    (_raw({"a": {**F4, "extra": 1}}, b"\0" * 8), "unexpected"),
    (_raw({"a": [1]}, b"\0" * 8), "expected an object"),
    (_raw({"": F4}, b"\0" * 8), "empty tensor name"),
    (_raw({"a": F4, "b": F4}, b"\0" * 8), "overlap"),
    (_raw({"a": F4, "b": {**F4, "data_offsets": [4, 12]}}, b"\0" * 12), "overlap"),
    (_raw({"a": {**F4, "data_offsets": [8, 16]}}, b"\0" * 16), "gap"),
    (_raw({"a": F4}, b"\0" * 9), "not covered"),
    (_raw({"a": F4, "__metadata__": {"k": 1}}, b"\0" * 8), "expected a string"),
    (_raw({"a": F4, "__metadata__": ["k"]}, b"\0" * 8), "object of strings"),
    (_raw({"a": F4, "__metadata__": {"k": "\ud800"}}, b"\0" * 8), "surrogate"),
    (struct.pack("<Q", 9) + b'{"a":NaN}', "not valid JSON"),
    (struct.pack("<Q", 2002) + b"{" + b"[" * 2000 + b"]", "nested|not valid JSON"),
    (struct.pack("<Q", 100002) + b'{"a":' + b"[" * 99996 + b"]", "nested|not valid JSON"),
])
def test_load_rejects_malformed(blob, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        st.load_bytes(blob)
    p = tmp_path / "bad"
    p.write_bytes(blob)
    with pytest.raises(ValueError, match=match):
        st.load_file(p)


def test_safetensors_package_agrees_on_rejections():
    """Files we reject for layout reasons, the reference implementation rejects too."""
    sn = pytest.importorskip("safetensors.numpy")
    for blob in [
        _raw({"a": F4, "b": F4}, b"\0" * 8),  # overlap
        _raw({"a": {**F4, "data_offsets": [8, 16]}}, b"\0" * 16),  # gap
        _raw({"a": F4}, b"\0" * 9),  # trailing bytes
        _raw({"a": {**F4, "shape": [3]}}, b"\0" * 8),  # size mismatch
        struct.pack("<Q", 10) + b"{}",  # truncated
    ]:
        with pytest.raises(Exception):
            sn.load(blob)
        with pytest.raises(ValueError):
            st.load_bytes(blob)


def test_truncations_and_bit_flips_never_crash():
    blob = st.save_bytes(_tensors(), {"format": "pyrnn.model"})
    for cut in range(0, len(blob), 7):
        with pytest.raises(ValueError):
            st.load_bytes(blob[:cut])
    rng = np.random.default_rng(1)
    (n,) = struct.unpack_from("<Q", blob)
    for _ in range(500):
        b = bytearray(blob)
        for i in rng.integers(0, 8 + n, size=rng.integers(1, 4)):
            b[i] ^= 1 << int(rng.integers(0, 8))
        try:
            st.load_bytes(bytes(b))
        except ValueError:
            pass


def test_accepts_memoryview_and_bytearray():
    blob = st.save_bytes({"x": np.ones(2, np.float32)})
    for v in (bytearray(blob), memoryview(blob)):
        got, _ = st.load_bytes(v)
        np.testing.assert_array_equal(got["x"], [1, 1])
    with pytest.raises(TypeError):
        st.load_bytes("not bytes")


def _corpus():
    from pathlib import Path
    d = Path(__file__).parent / "cpp" / "corpus"
    if not (d / "EXPECTED.txt").exists():
        return []
    return [tuple(line.split()) for line in (d / "EXPECTED.txt").read_text().splitlines()
            if line.strip()]


@pytest.mark.parametrize("name, status", _corpus() or [pytest.param("-", "-", marks=pytest.mark.skip)])
def test_same_container_rules_as_the_c_loader(name, status):
    """tests/cpp/corpus: the C loader's FORMAT rejections are exactly the files this module
    rejects; the other cases are well-formed containers with a bad model inside."""
    from pathlib import Path
    blob = (Path(__file__).parent / "cpp" / "corpus" / name).read_bytes()
    if status == "PYRNN_ERR_FORMAT":
        with pytest.raises(ValueError):
            st.load_bytes(blob)
    else:
        st.load_bytes(blob)
