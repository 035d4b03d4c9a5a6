"""Strict safetensors read/write for pyrnn model files (docs/model-format.md).

Writes are atomic and deterministic; reads reject every malformed file with a
ValueError naming the problem, by the same rules as the C loader (csrc/runtime).

Rules a file must satisfy (the C loader applies exactly these):

- ``u64 little-endian N | N bytes of JSON header | data buffer``; N <= 100_000_000 and
  N <= file size - 8.
- The header is UTF-8 JSON: one object, starting at its first byte, followed only by
  spaces. Strict JSON: no duplicate keys, no NaN/Infinity, no lone surrogates.
- Each key but ``"__metadata__"`` is a non-empty tensor name mapping to an object with
  exactly ``dtype`` ("F32" | "F64" | "I64"), ``shape`` (at most 8 integers, each
  0 .. 2**63-1, product x item size <= 2**63-1) and ``data_offsets`` ([begin, end],
  integers, begin <= end).
- ``end - begin`` equals item size x product(shape); sorted by offset the tensors tile
  the data buffer exactly (no overlap, no gap, no trailing bytes), as safetensors
  itself requires.
- ``"__metadata__"``, when present, maps strings to strings.
"""
from __future__ import annotations

import json
import os
import struct
import tempfile
from typing import Dict, Mapping, Optional, Tuple, Union

import numpy as np

__all__ = ["save_file", "save_bytes", "load_file", "load_bytes", "MAX_HEADER_SIZE",
           "MAX_RANK"]

MAX_HEADER_SIZE = 100_000_000
MAX_RANK = 8
_INT_MAX = 2**63 - 1

# safetensors dtype code <-> little-endian NumPy dtype.
_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8")}
_CODES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64",
          np.dtype(np.int64): "I64"}


# ----------------------------------------------------------------------------- writing

def _check_metadata(metadata: Optional[Mapping[str, str]]) -> Dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata: expected a dict[str, str] or None, got "
                        f"{type(metadata).__name__}")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"metadata: expected str keys and values, got "
                            f"{type(k).__name__} key {k!r} -> {type(v).__name__}")
        _check_text(k, "metadata key")
        _check_text(v, f"metadata[{k!r}]")
    return dict(metadata)


def _check_text(s: str, what: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{what}: not encodable as UTF-8 ({e.reason})") from None


def save_bytes(tensors: Mapping[str, np.ndarray],
               metadata: Optional[Mapping[str, str]] = None) -> bytes:
    """Serialise ``tensors`` (float32, float64 or int64 arrays) and ``metadata``.

    Deterministic: tensors are laid out in sorted name order, the header is compact JSON
    with sorted keys, padded with spaces so that the data buffer starts 8-byte aligned.
    """
    if not isinstance(tensors, Mapping):
        raise TypeError(f"tensors: expected a dict[str, np.ndarray], got "
                        f"{type(tensors).__name__}")
    meta = _check_metadata(metadata)
    header: Dict[str, object] = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        if not isinstance(name, str):
            raise TypeError(f"tensors: names must be str, got {type(name).__name__} "
                            f"{name!r}")
        if name == "" or name == "__metadata__":
            raise ValueError(f"tensors: invalid tensor name {name!r}")
        _check_text(name, "tensor name")
        arr = tensors[name]
        if isinstance(arr, np.generic):  # a NumPy scalar is a 0-d array
            arr = np.asarray(arr)
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"tensors[{name!r}]: expected np.ndarray, got "
                            f"{type(arr).__name__}")
        code = _CODES.get(arr.dtype.newbyteorder("=")) if arr.dtype.kind in "fi" else None
        if code is None:
            raise ValueError(f"tensors[{name!r}]: expected dtype float32, float64 or "
                             f"int64, got {arr.dtype}")
        if arr.ndim > MAX_RANK:
            raise ValueError(f"tensors[{name!r}]: rank {arr.ndim} exceeds {MAX_RANK}")
        data = np.ascontiguousarray(arr, dtype=_DTYPES[code]).tobytes()
        header[name] = {"dtype": code, "shape": [int(s) for s in arr.shape],
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if meta:
        header["__metadata__"] = dict(sorted(meta.items()))
    text = json.dumps(header, separators=(",", ":"), sort_keys=True,
                      ensure_ascii=False, allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    if len(text) > MAX_HEADER_SIZE:
        raise ValueError(f"header of {len(text)} bytes exceeds {MAX_HEADER_SIZE}")
    return b"".join([struct.pack("<Q", len(text)), text, *chunks])


def _default_mode() -> int:
    # Files get the permissions open() would give them (0666 minus the umask).
    global _MODE
    if _MODE is None:
        mask = os.umask(0o022)
        os.umask(mask)
        _MODE = 0o666 & ~mask
    return _MODE


_MODE: Optional[int] = None


def save_file(path: Union[str, os.PathLike], tensors: Mapping[str, np.ndarray],
              metadata: Optional[Mapping[str, str]] = None) -> None:
    """Write ``tensors`` and ``metadata`` to ``path`` atomically.

    A temporary file in the same directory is written, flushed, fsync'ed and renamed
    over ``path``: readers see the old file or the new one, never a partial one.
    """
    blob = save_bytes(tensors, metadata)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # persist the rename too; not every platform can open a directory
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# ----------------------------------------------------------------------------- reading

class _Bad(ValueError):
    pass


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise _Bad(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constant(name):
    raise _Bad(f"{name} is not valid JSON")


class _NotAnInt(float):
    """A JSON number written with a fraction, an exponent or as -0: never an integer."""


def _parse_int(s: str):
    return _NotAnInt(s) if s.startswith("-") else int(s)


def _parse_header(raw: bytes) -> dict:
    end = len(raw.rstrip(b" "))
    if end == 0 or raw[:1] != b"{":
        raise _Bad("header does not start with '{'")
    try:
        text = raw[:end].decode("utf-8")
    except UnicodeDecodeError as e:
        raise _Bad(f"header is not valid UTF-8 at byte {e.start}") from None
    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant,
                               parse_float=_NotAnInt, parse_int=_parse_int)
    try:
        obj, stop = decoder.raw_decode(text)
        if stop != len(text):  # only the space padding (stripped above) may follow
            raise json.JSONDecodeError("extra data after the header object", text, stop)
    except _Bad:
        raise
    except RecursionError:
        raise _Bad("header JSON is nested too deeply") from None
    except json.JSONDecodeError as e:
        raise _Bad(f"header is not valid JSON: {e.msg} at byte {e.pos}") from None
    if not isinstance(obj, dict):
        raise _Bad("header is not a JSON object")
    return obj


def _uint(v, what: str) -> int:
    if type(v) is not int:
        raise _Bad(f"{what}: expected a non-negative integer, got {json.dumps(v)[:40]}"
                   if not isinstance(v, _NotAnInt) else
                   f"{what}: expected a non-negative integer, got {float(v)!r}")
    if v < 0 or v > _INT_MAX:
        raise _Bad(f"{what}: {v} out of range 0 .. 2**63-1")
    return v


def _has_lone_surrogate(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_header_length(n: int, size: int) -> None:
    if n > MAX_HEADER_SIZE:
        raise _Bad(f"header length {n} exceeds the limit of {MAX_HEADER_SIZE} bytes")
    if n > size - 8:
        raise _Bad(f"header length {n} exceeds the {size - 8} bytes after the length "
                   f"field (truncated file?)")


def _load(data: bytes) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    size = len(data)
    if size < 8:
        raise _Bad(f"file of {size} bytes is too short for the 8-byte header length")
    (n,) = struct.unpack_from("<Q", data, 0)
    _check_header_length(n, size)
    header = _parse_header(bytes(data[8:8 + n]))
    buffer_len = size - 8 - n

    metadata: Dict[str, str] = {}
    entries = []
    for name, info in header.items():
        if _has_lone_surrogate(name):
            raise _Bad("header key is not valid Unicode (lone surrogate)")
        if name == "__metadata__":
            if not isinstance(info, dict):
                raise _Bad("__metadata__: expected an object of strings")
            for k, v in info.items():
                if not isinstance(v, str):
                    raise _Bad(f"__metadata__[{k!r}]: expected a string")
                if _has_lone_surrogate(k) or _has_lone_surrogate(v):
                    raise _Bad(f"__metadata__[{k!r}]: not valid Unicode (lone surrogate)")
            metadata = dict(info)
            continue
        where = f"tensor {name!r}"
        if name == "":
            raise _Bad("empty tensor name")
        if not isinstance(info, dict):
            raise _Bad(f"{where}: expected an object with dtype, shape, data_offsets")
        if set(info) != {"dtype", "shape", "data_offsets"}:
            missing = {"dtype", "shape", "data_offsets"} - set(info)
            extra = set(info) - {"dtype", "shape", "data_offsets"}
            raise _Bad(f"{where}: " + (f"missing {sorted(missing)}" if missing
                                       else f"unexpected keys {sorted(extra)}"))
        code = info["dtype"]
        if not isinstance(code, str) or code not in _DTYPES:
            raise _Bad(f"{where}: unsupported dtype {json.dumps(code)[:40]} "
                       f"(expected F32, F64 or I64)")
        shape = info["shape"]
        if not isinstance(shape, list):
            raise _Bad(f"{where}: shape is not a list")
        if len(shape) > MAX_RANK:
            raise _Bad(f"{where}: rank {len(shape)} exceeds {MAX_RANK}")
        shape = [_uint(s, f"{where}: shape[{i}]") for i, s in enumerate(shape)]
        offs = info["data_offsets"]
        if not isinstance(offs, list) or len(offs) != 2:
            raise _Bad(f"{where}: data_offsets must be a list [begin, end]")
        begin = _uint(offs[0], f"{where}: data_offsets[0]")
        end = _uint(offs[1], f"{where}: data_offsets[1]")
        itemsize = _DTYPES[code].itemsize
        nbytes = itemsize
        for s in shape:
            nbytes *= s
        if nbytes > _INT_MAX and 0 not in shape:
            raise _Bad(f"{where}: shape {shape} overflows")
        if begin > end or end > buffer_len:
            raise _Bad(f"{where}: data_offsets [{begin}, {end}] outside the data buffer "
                       f"of {buffer_len} bytes")
        if end - begin != nbytes:
            raise _Bad(f"{where}: {end - begin} bytes for dtype {code} shape {shape} "
                       f"(expected {nbytes})")
        entries.append((begin, end, name, code, shape))

    entries.sort(key=lambda e: (e[0], e[1]))
    pos = 0
    for begin, end, name, _, _ in entries:
        if begin < pos:
            raise _Bad(f"tensor {name!r}: data_offsets [{begin}, {end}] overlap another "
                       f"tensor")
        if begin > pos:
            raise _Bad(f"tensor {name!r}: gap in the data buffer before offset {begin}")
        pos = end
    if pos != buffer_len:
        raise _Bad(f"data buffer has {buffer_len - pos} bytes not covered by any tensor")

    base = 8 + n
    tensors: Dict[str, np.ndarray] = {}
    for begin, end, name, code, shape in sorted(entries, key=lambda e: e[2]):
        dt = _DTYPES[code]
        arr = np.frombuffer(data, dtype=dt, count=(end - begin) // dt.itemsize,
                            offset=base + begin)
        tensors[name] = arr.astype(dt.newbyteorder("="), copy=True).reshape(shape)
    return tensors, metadata


def load_bytes(data: Union[bytes, bytearray, memoryview]
               ) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Parse a safetensors blob: (name -> array (native byte order, owned), metadata)."""
    if isinstance(data, memoryview):
        data = data.tobytes()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data: expected bytes, got {type(data).__name__}")
    try:
        return _load(bytes(data))
    except _Bad as e:
        raise ValueError(f"invalid safetensors data: {e}") from None


def load_file(path: Union[str, os.PathLike]
              ) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Read ``path``: (name -> array, metadata). Raises ValueError if it is malformed."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = f.read(8)
            if len(data) == 8:  # check the length before reading the whole file
                _check_header_length(struct.unpack("<Q", data)[0], size)
                data += f.read()
        return _load(data)
    except _Bad as e:
        raise ValueError(f"{path}: invalid safetensors file: {e}") from None
