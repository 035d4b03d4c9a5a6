"""Save/load in the model format: identical outputs, safetensors compatibility, optimiser and
training state, bit-identical resume (epoch end, mid-epoch, stateful), corrupted files,
atomic writes."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import pyrnn
from pyrnn import optim, safetensors_io
from pyrnn.layers.core import Dense, Dropout, Embedding, LastStep
from pyrnn.model import Sequential, load
from pyrnn.training import Callback, ModelCheckpoint


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = pyrnn.get_num_threads()
    pyrnn.set_num_threads(1)
    yield
    pyrnn.set_num_threads(before)


def char_lm(seed=0, dtype="float32"):
    return Sequential([
        ("embed", Embedding(9, 6, dtype=dtype, seed=seed)),
        ("rnn", pyrnn.LSTM(6, 10, num_layers=2, dropout=0.25, batch_first=True, dtype=dtype,
                           seed=seed + 1)),
        ("drop", Dropout(0.2, seed=seed + 2)),
        ("head", Dense(10, 9, dtype=dtype, seed=seed + 3)),
    ], seed=seed)


def zoo_model(dtype="float32"):
    return Sequential([
        Dense(3, 4, activation="relu", dtype=dtype, seed=0),
        pyrnn.GRU(4, 5, bidirectional=True, dtype=dtype, seed=1, reset_after=False),
        Dropout(0.1),
        pyrnn.RNN(10, 6, nonlinearity="relu", bias=False, dtype=dtype, seed=2),
        LastStep(),
        Dense(6, 2, activation="sigmoid", dtype=dtype, seed=3),
    ])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_gives_identical_outputs(tmp_path, dtype):
    rng = np.random.default_rng(0)
    for model, x in ((char_lm(dtype=dtype), rng.integers(0, 9, (3, 7))),
                     (zoo_model(dtype), rng.standard_normal((7, 3, 3)).astype(dtype))):
        path = tmp_path / "m.pyrnn"
        model.save(path)
        loaded = load(path)
        assert loaded.names == model.names and loaded.batch_first == model.batch_first
        assert loaded.get_config() == model.get_config()
        model.eval()
        loaded.eval()
        lengths = np.array([7, 2, 5])
        np.testing.assert_array_equal(loaded(x, lengths=lengths), model(x, lengths=lengths))
        for (n, a), (m, b) in zip(model.named_parameters(), loaded.named_parameters()):
            assert n == m and a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_file_layout_follows_the_model_format(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    model = char_lm()
    model.compile(lambda m: optim.Adam(m, lr=3e-3), "cross_entropy", ["accuracy"])
    x = np.random.default_rng(1).integers(0, 9, (4, 5))
    model.fit(x, x, epochs=1, verbose=0)
    path = tmp_path / "m.pyrnn"
    model.save(path)
    tensors = st.load_file(str(path))  # the reference safetensors reader accepts it
    names = {n for n, _ in model.named_parameters()}
    assert names <= set(tensors)
    assert {"embed.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l1", "rnn.bias_hh_l1",
            "head.weight", "head.bias"} <= names
    assert tensors["rnn.weight_ih_l0"].shape == (40, 6) and tensors["head.weight"].shape == (9, 10)
    assert {n for n in tensors if n not in names} == {
        f"optimizer.{s}/{p}" for p in names for s in ("m", "v")}
    _, meta = safetensors_io.load_file(path)
    assert meta["format"] == "pyrnn.model" and meta["version"] == "1"
    arch = json.loads(meta["architecture"])
    assert arch == {
        "dtype": "float32", "batch_first": True, "input": {"kind": "tokens", "vocab_size": 9},
        "layers": [
            {"type": "Embedding", "name": "embed", "num_embeddings": 9, "embedding_dim": 6},
            {"type": "LSTM", "name": "rnn", "input_size": 6, "hidden_size": 10, "num_layers": 2,
             "bias": True, "bidirectional": False, "dropout": 0.25},
            {"type": "Dropout", "name": "drop", "p": 0.2},
            {"type": "Dense", "name": "head", "in_features": 10, "out_features": 9,
             "bias": True, "activation": None}]}
    opt = json.loads(meta["optimizer"])
    assert opt["type"] == "Adam" and opt["step"] == 1 and opt["lr"] == 3e-3
    training = json.loads(meta["training"])
    assert training["finished"] and training["compile"] == {"loss": "cross_entropy",
                                                            "metrics": ["accuracy"]}
    zoo = json.loads(json.dumps(zoo_model().get_config()))
    assert zoo["input"] == {"kind": "features", "size": 3} and not zoo["batch_first"]
    assert zoo["layers"][1]["reset_after"] is False and zoo["layers"][3]["nonlinearity"] == "relu"
    assert zoo["layers"][4] == {"type": "LastStep", "name": "laststep"}


def test_load_restores_optimizer_and_compile(tmp_path):
    model = char_lm()
    model.compile(lambda m: optim.AdamW(m, lr=2e-3, amsgrad=True, clipnorm=0.5),
                  pyrnn.losses.CrossEntropyLoss(ignore_index=0), ["accuracy", "bpc"])
    x = np.random.default_rng(2).integers(0, 9, (6, 5))
    model.fit(x, x, batch_size=3, epochs=2, verbose=0)
    path = tmp_path / "m.pyrnn"
    model.save(path)
    loaded = load(path)
    a, b = model.optimizer.state_dict(), loaded.optimizer.state_dict()
    assert type(loaded.optimizer) is optim.AdamW and a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert a[k] == b[k], k
    assert loaded.evaluate(x, x) == model.evaluate(x, x)
    # weights only: no optimiser, no training state
    model.save(path, include_optimizer=False)
    bare = load(path)
    assert bare.optimizer is None
    with pytest.raises(ValueError, match="compile"):
        bare.fit(x, x, verbose=0)
    # a custom loss is code, not data: the loaded model asks for it
    model.compile(loss=lambda p, t, m: pyrnn.losses.softmax_cross_entropy(p, t, m))
    model.save(path)
    with pytest.raises(ValueError, match="no loss"):
        load(path).fit(x, x, verbose=0)


class Interrupt(Callback):
    """Raise after a given number of batches (a crash / Ctrl-C stand-in)."""

    class Stop(Exception):
        pass

    def __init__(self, after_batches=None, after_epochs=None):
        self.after_batches, self.after_epochs, self.n = after_batches, after_epochs, 0

    def on_train_batch_end(self, batch, logs=None):
        self.n += 1
        if self.after_batches is not None and self.n == self.after_batches:
            raise Interrupt.Stop

    def on_epoch_end(self, epoch, logs=None):
        if self.after_epochs is not None and epoch + 1 == self.after_epochs:
            raise Interrupt.Stop


def _compiled(seed=0):
    model = char_lm(seed)
    model.compile(lambda m: optim.Adam(m, lr=1e-2, clipnorm=1.0), "cross_entropy",
                  ["accuracy", "perplexity"])
    return model


def _assert_same_run(a, b, hist_a, hist_b):
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert np.array_equal(p, q), n  # bit-identical
    sa, sb = a.optimizer.state_dict(), b.optimizer.state_dict()
    for k in sa:
        assert np.array_equal(sa[k], sb[k]) if isinstance(sa[k], np.ndarray) else sa[k] == sb[k]
    assert hist_a.history == hist_b.history and hist_a.epoch == hist_b.epoch


@pytest.mark.parametrize("interrupt", [dict(after_batches=6), dict(after_epochs=2)],
                         ids=["mid_epoch", "epoch_end"])
def test_interrupt_and_resume_is_bit_identical(tmp_path, interrupt):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 9, (18, 6))
    y = np.roll(x, -1, axis=1)
    lengths = rng.integers(2, 7, 18)
    val = (x[:6], y[:6], lengths[:6])
    kw = dict(batch_size=4, epochs=4, lengths=lengths, validation_data=val, verbose=0)
    full = _compiled()
    hist_full = full.fit(x, y, **kw)

    path = tmp_path / "ckpt.pyrnn"
    save_freq = 1 if "after_batches" in interrupt else "epoch"
    run = _compiled()
    with pytest.raises(Interrupt.Stop):
        run.fit(x, y, callbacks=[ModelCheckpoint(path, save_freq=save_freq),
                                 Interrupt(**interrupt)], **kw)
    resumed = load(path)
    assert resumed._resume is not None
    hist = resumed.fit(x, y, callbacks=[ModelCheckpoint(path, save_freq=save_freq)], **kw)
    _assert_same_run(full, resumed, hist_full, hist)
    # the final checkpoint of the resumed run holds the finished state, resumable to no-op
    again = load(path)
    assert again.fit(x, y, **kw).history == hist_full.history


def test_stateful_resume_mid_epoch_is_bit_identical(tmp_path):
    ids = np.random.default_rng(4).integers(0, 9, 400)
    kw = dict(batch_size=4, seq_len=7, epochs=3, validation_data=ids[:100], verbose=0)
    full = _compiled()
    hist_full = full.fit_stream(ids, **kw)
    path = tmp_path / "ckpt.pyrnn"
    run = _compiled()
    with pytest.raises(Interrupt.Stop):
        run.fit_stream(ids, callbacks=[ModelCheckpoint(path, save_freq=1),
                                       Interrupt(after_batches=20)], **kw)
    resumed = load(path)  # epochs have 14-15 chunks: this is the second epoch's 5th or 6th
    assert resumed._resume["epoch"] == 1 and resumed._resume["batch"] in (5, 6)
    assert resumed._resume["carry"] is not None
    hist = resumed.fit_stream(ids, **kw)
    _assert_same_run(full, resumed, hist_full, hist)


def test_resume_keeps_learning_rate_schedules(tmp_path):
    from pyrnn.training import LearningRateScheduler
    x = np.random.default_rng(7).integers(0, 9, (12, 5))
    kw = dict(batch_size=4, epochs=4, verbose=0)
    full = _compiled()
    hist_full = full.fit(x, x, callbacks=[LearningRateScheduler(
        optim.StepLR(full.optimizer, step_size=1, gamma=0.5))], **kw)
    path = tmp_path / "c.pyrnn"
    run = _compiled()
    with pytest.raises(Interrupt.Stop):
        run.fit(x, x, callbacks=[LearningRateScheduler(optim.StepLR(run.optimizer, 1, 0.5)),
                                 ModelCheckpoint(path, save_freq=1),
                                 Interrupt(after_batches=7)], **kw)
    resumed = load(path)  # its optimiser's lr is already decayed: the schedule's base is not
    hist = resumed.fit(x, x, callbacks=[LearningRateScheduler(
        optim.StepLR(resumed.optimizer, step_size=1, gamma=0.5))], **kw)
    assert hist.history["lr"] == [1e-2, 5e-3, 2.5e-3, 1.25e-3]
    _assert_same_run(full, resumed, hist_full, hist)


def test_resume_with_other_settings_is_refused(tmp_path):
    x = np.random.default_rng(5).integers(0, 9, (12, 5))
    run = _compiled()
    path = tmp_path / "c.pyrnn"
    with pytest.raises(Interrupt.Stop):
        run.fit(x, x, batch_size=4, epochs=2, verbose=0,
                callbacks=[ModelCheckpoint(path, save_freq=1), Interrupt(after_batches=2)])
    loaded = load(path)
    with pytest.raises(ValueError, match="batch_size"):
        loaded.fit(x, x, batch_size=3, epochs=2, verbose=0)
    assert loaded.fit(x, x, batch_size=4, epochs=2, verbose=0).epoch == [0, 1]  # still resumable
    # initial_epoch= starts a new run instead
    hist = load(path).fit(x, x, batch_size=3, epochs=1, initial_epoch=0, verbose=0)
    assert hist.epoch == [0]


def test_model_checkpoint_best_only_and_filename_fields(tmp_path):
    x = np.random.default_rng(6).integers(0, 9, (8, 5))
    model = _compiled()
    pattern = str(tmp_path / "m-{epoch:02d}-{val_loss:.3f}.pyrnn")
    ckpt = ModelCheckpoint(pattern, monitor="val_loss", save_best_only=True)
    hist = model.fit(x, x, epochs=3, validation_data=(x, x), verbose=0, callbacks=[ckpt])
    files = sorted(os.listdir(tmp_path))
    assert files and all(f.startswith("m-0") for f in files)
    best = int(np.argmin(hist.history["val_loss"]))
    assert ckpt.last_path.endswith(f"m-{best + 1:02d}-{hist.history['val_loss'][best]:.3f}.pyrnn")
    with pytest.raises(ValueError, match="filepath"):
        model.fit(x, x, epochs=1, verbose=0,
                  callbacks=[ModelCheckpoint(str(tmp_path / "{nope}.pyrnn"))])


# --------------------------------------------------------------------- broken files


@pytest.fixture()
def saved(tmp_path):
    model = char_lm()
    model.compile("adam", "cross_entropy")
    path = tmp_path / "good.pyrnn"
    model.save(path)
    return path


@pytest.mark.parametrize("keep", [0, 5, 8, 20, -1, -7])
def test_truncated_file_gives_a_clear_error(saved, tmp_path, keep):
    data = saved.read_bytes()
    bad = tmp_path / "bad.pyrnn"
    bad.write_bytes(data[:keep] if keep >= 0 else data[:len(data) + keep])
    with pytest.raises(ValueError, match="bad.pyrnn.*(truncated|too short|not covered|outside|"
                                         "header)"):
        load(bad)


def test_corrupted_header_gives_a_clear_error(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    n = int.from_bytes(data[:8], "little")
    header = data[8:8 + n]
    bad = tmp_path / "bad.pyrnn"
    for old, new in ((b'"F32"', b'"F16"'), (b'"__metadata__"', b'"__metadata_x"'),
                     (b'{"', b'[{')):
        corrupted = header.replace(old, new, 1)
        bad.write_bytes(bytes(data[:8]) + bytes(corrupted) + bytes(data[8 + n:]))
        with pytest.raises(ValueError, match="bad.pyrnn"):
            load(bad)
    bad.write_bytes((10 ** 12).to_bytes(8, "little") + bytes(data[8:]))
    with pytest.raises(ValueError, match="header length"):
        load(bad)


def _rewrite(path, out, tensors=None, meta=None, arch=None):
    t, m = safetensors_io.load_file(path)
    if tensors is not None:
        t = tensors(t)
    if arch is not None:
        a = json.loads(m["architecture"])
        arch(a)
        m["architecture"] = json.dumps(a)
    if meta is not None:
        meta(m)
    safetensors_io.save_file(out, t, m)
    return out


def _drop(key):
    return lambda t: {k: v for k, v in t.items() if k != key}


@pytest.mark.parametrize("change, message", [
    (dict(tensors=_drop("head.bias")), "missing tensors"),
    (dict(tensors=lambda t: {**t, "extra.weight": np.zeros(2, np.float32)}), "unexpected tensor"),
    (dict(tensors=lambda t: {**t, "head.bias": t["head.bias"].astype(np.float64)}), "dtype"),
    (dict(tensors=lambda t: {**t, "head.bias": np.zeros(3, np.float32)}), "shape"),
    (dict(meta=lambda m: m.update(format="something")), "not a pyrnn model"),
    (dict(meta=lambda m: m.update(version="2")), "version"),
    (dict(meta=lambda m: m.pop("architecture")), "architecture"),
    (dict(meta=lambda m: m.update(architecture="{nope")), "not valid JSON"),
    (dict(arch=lambda a: a["layers"][1].update(hidden_size=2 ** 21)), "hidden_size"),
    (dict(arch=lambda a: a["layers"][1].update(num_layers=65)), "num_layers"),
    (dict(arch=lambda a: a["layers"][1].update(dropout=1.5)), "dropout"),
    (dict(arch=lambda a: a["layers"][3].update(activation="gelu")), "activation"),
    (dict(arch=lambda a: a["layers"][2].update(type="Conv1d")), "type"),
    (dict(arch=lambda a: a["layers"][2].update(name="embed")), "unique"),
    (dict(arch=lambda a: a["layers"][1].update(extra=1)), "unknown keys"),
    (dict(arch=lambda a: a["layers"][1].update(input_size=7)), "input_size"),
    (dict(arch=lambda a: a["input"].update(vocab_size=10)), "vocab_size"),
    (dict(arch=lambda a: a.update(dtype="float16")), "dtype"),
    (dict(arch=lambda a: a["layers"][3].update(bias="yes")), "bias"),
    (dict(meta=lambda m: m.update(optimizer='{"type": "Lion"}')), "optimizer"),
])
def test_invalid_content_gives_a_clear_error(saved, tmp_path, change, message):
    bad = _rewrite(saved, tmp_path / "bad.pyrnn", **change)
    with pytest.raises(ValueError, match=message):
        load(bad)


def test_a_failed_write_leaves_the_previous_checkpoint_intact(saved, monkeypatch):
    before = saved.read_bytes()
    model = load(saved)
    model["head"].params["bias"] += 1.0

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated crash before the rename)")

    monkeypatch.setattr(safetensors_io.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        model.save(saved)
    monkeypatch.undo()
    assert saved.read_bytes() == before
    assert os.listdir(saved.parent) == ["good.pyrnn"]  # no temp file left behind
    model.save(saved)
    assert load(saved)["head"].params["bias"][0] == model["head"].params["bias"][0]


RUNTIME_MODELS = os.path.join(os.path.dirname(__file__), "cpp", "models")


@pytest.mark.skipif(not os.path.isdir(RUNTIME_MODELS), reason="no C runtime test models")
def test_loads_the_c_runtime_test_models_and_matches_their_outputs():
    checked = 0
    for name in sorted(os.listdir(RUNTIME_MODELS)):
        expected = os.path.join(RUNTIME_MODELS, name[:-len(".pyrnn")] + ".expected.txt")
        if not name.endswith(".pyrnn") or not os.path.exists(expected):
            continue
        rows = {}
        with open(expected) as f:
            for line in f:
                key, _, *values = line.split()
                rows[key] = np.array(values, dtype=np.float64)
        model = load(os.path.join(RUNTIME_MODELS, name), compile=False)
        model.eval()
        T = int(rows["T"][0])
        x = (rows["tokens"].astype(np.int64)[None] if "tokens" in rows
             else rows["x"].reshape(1, T, -1).astype(np.float32))
        y = model(x)
        y = y[0] if model.output_has_time else y
        run = rows["run"].reshape(y.shape)
        assert np.max(np.abs(y - run)) <= 1e-5 * max(np.max(np.abs(run)), 1.0), name
        checked += 1
    assert checked > 0
