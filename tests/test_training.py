"""Training: models learn, masking, metrics, callbacks, truncated BPTT against full BPTT,
non-finite handling, the progress bar, and gradient diagnostics."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest

import pyrnn
from pyrnn import diagnostics, losses, optim
from pyrnn.data import copy_task, parity_task
from pyrnn.layers.core import Dense, Dropout, Embedding, LastStep
from pyrnn.model import Sequential
from pyrnn.training import (Callback, EarlyStopping, LambdaCallback, LearningRateScheduler,
                            ModelCheckpoint, ProgressBar)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = pyrnn.get_num_threads()
    pyrnn.set_num_threads(1)
    yield
    pyrnn.set_num_threads(before)


def char_lm(V=7, H=12, dtype="float32", seed=0, dropout=0.0):
    layers = [Embedding(V, 5, dtype=dtype, seed=seed),
              pyrnn.LSTM(5, H, num_layers=2, batch_first=True, dtype=dtype, seed=seed + 1)]
    if dropout:
        layers.append(Dropout(dropout, seed=seed + 2))
    layers.append(Dense(H, V, dtype=dtype, seed=seed + 3))
    return Sequential(layers, seed=seed)


# ------------------------------------------------------------------------------ learning


def test_lstm_learns_running_parity_to_zero_error():
    x, y = parity_task(512, 12, seed=0)
    xv, yv = parity_task(256, 12, seed=1)
    model = Sequential([pyrnn.LSTM(1, 24, batch_first=True, seed=0), Dense(24, 1, seed=1)],
                       seed=0)
    model.compile(lambda m: optim.Adam(m, lr=2e-2), "bce", ["accuracy"])
    hist = model.fit(x, y, batch_size=32, epochs=15, validation_data=(xv, yv), verbose=0)
    assert hist.history["val_accuracy"][-1] == 1.0
    assert hist.history["val_loss"][-1] < 0.02
    assert len(hist.epoch) == 15 and hist.epoch == list(range(15))


def test_lstm_learns_copy_task_to_zero_error():
    x, y = copy_task(1024, seq_len=3, delay=5, num_symbols=4, seed=0, one_hot=False)
    xv, yv = copy_task(256, seq_len=3, delay=5, num_symbols=4, seed=1, one_hot=False)
    model = Sequential([Embedding(6, 8, seed=0), pyrnn.LSTM(8, 32, batch_first=True, seed=0),
                        Dense(32, 6, seed=1)], seed=0)
    model.compile(lambda m: optim.Adam(m, lr=1e-2, clipnorm=1.0), "cross_entropy",
                  ["accuracy"])
    stop = EarlyStopping("val_accuracy", baseline=0.9999, patience=40)
    hist = model.fit(x, y, batch_size=32, epochs=40, validation_data=(xv, yv), verbose=0,
                     callbacks=[stop])
    assert max(hist.history["val_accuracy"]) == 1.0
    assert model.evaluate(xv, yv)["loss"] < 0.05
    # the copied symbols themselves are right, not just the blanks
    pred = model.predict(xv).argmax(-1)
    np.testing.assert_array_equal(pred[:, -3:], yv[:, -3:])


def test_loss_strictly_decreases_on_a_fixed_batch():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 7, (8, 10))
    y = np.roll(x, -1, axis=1)
    model = char_lm()
    model.compile(lambda m: optim.SGD(m, lr=0.5), "cross_entropy")
    hist = model.fit(x, y, batch_size=8, epochs=12, shuffle=False, verbose=0)
    loss = hist.history["loss"]
    assert all(b < a for a, b in zip(loss, loss[1:])), loss


def test_variable_lengths_mask_padding_out_of_loss_and_gradients():
    rng = np.random.default_rng(1)
    N, T = 12, 8
    x = rng.integers(0, 7, (N, T))
    y = rng.integers(0, 7, (N, T))
    lengths = rng.integers(1, T + 1, N)
    pad = np.arange(T)[None, :] >= lengths[:, None]
    x2, y2 = x.copy(), y.copy()
    x2[pad] = 3  # garbage past the lengths
    y2[pad] = 6
    results = []
    for xx, yy in ((x, y), (x2, y2)):
        model = char_lm(seed=3)
        model.compile(lambda m: optim.SGD(m, lr=0.1), "cross_entropy", ["accuracy"])
        ev = model.evaluate(xx, yy, lengths=lengths, batch_size=5)
        model.fit(xx, yy, lengths=lengths, batch_size=5, epochs=1, shuffle=False, verbose=0)
        results.append((ev, model.state_dict(), model.predict(xx, lengths=lengths)))
    (ev1, w1, p1), (ev2, w2, p2) = results
    assert ev1 == ev2
    for k in w1:
        np.testing.assert_array_equal(w1[k], w2[k])
    np.testing.assert_array_equal(p1, p2)
    assert np.all(p1[pad] == 0)
    # evaluate = token mean over the valid positions
    model = char_lm(seed=3)
    model.compile("sgd", "cross_entropy", ["perplexity", "bpc"])
    model.eval()
    expected, _ = losses.softmax_cross_entropy(model(x, lengths=lengths), y, ~pad)
    ev = model.evaluate(x, y, lengths=lengths, batch_size=5)
    assert abs(ev["loss"] - expected) < 1e-6
    assert abs(ev["perplexity"] - math.exp(ev["loss"])) < 1e-4 * ev["perplexity"]
    assert abs(ev["bpc"] - ev["loss"] / math.log(2)) < 1e-5


def test_many_to_one_classifier_with_lengths_learns():
    rng = np.random.default_rng(2)
    N, T = 256, 10
    x = rng.standard_normal((N, T, 2)).astype(np.float32)
    lengths = rng.integers(2, T + 1, N)
    # class = sign of the sum of feature 0 over the valid steps
    y = (np.where(np.arange(T)[None] < lengths[:, None], x[:, :, 0], 0).sum(1) > 0).astype(int)
    model = Sequential([pyrnn.GRU(2, 16, batch_first=True, seed=0), LastStep(),
                        Dense(16, 2, seed=1)], seed=0)
    model.compile(lambda m: optim.Adam(m, lr=2e-2), "cross_entropy", ["accuracy"])
    hist = model.fit(x, y, lengths=lengths, batch_size=32, epochs=12, validation_split=0.25,
                     verbose=0)
    assert hist.history["val_accuracy"][-1] > 0.9
    assert model.predict(x[:5], lengths=lengths[:5]).shape == (5, 2)


# ----------------------------------------------------------------------- truncated BPTT


class Recorder(Callback):
    def __init__(self):
        self.grads, self.carry, self.steps = [], [], []

    def on_after_backward(self, batch, logs=None):
        self.grads.append({k: g.copy() for k, g in self.model.grads.items()})

    def on_train_batch_end(self, batch, logs=None):
        self.carry.append(self.model.carried_state)
        self.steps.append(logs["steps"])


def _chunk_reference(model, x, y, start, stop):
    """Gradient of the chunk alone, started from the state of running x[:, :start]."""
    state = None
    if start > 0:
        with pyrnn.no_grad():
            _, state = model(x[:, :start], return_state=True)
    model.zero_grad()
    out = model(x[:, start:stop], initial_state=state)
    _, dout = losses.softmax_cross_entropy(out, y[:, start:stop])
    model.backward(dout)
    return {k: g.copy() for k, g in model.grads.items()}


@pytest.mark.parametrize("shuffle", [False, True])
def test_truncated_bptt_chunk_gradient_and_carried_state(shuffle):
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 7, 2 * 23 + 1)
    model = char_lm(dtype="float64", seed=4)
    model.compile(lambda m: optim.SGD(m, lr=0.0), "cross_entropy")  # weights stay put
    rec = Recorder()
    model.fit_stream(ids, batch_size=2, seq_len=5, epochs=2, shuffle=shuffle, verbose=0,
                     callbacks=[rec])
    S = 23
    x, y = ids[:2 * S].reshape(2, S), ids[1:2 * S + 1].reshape(2, S)
    per_epoch = len(rec.steps) // 2
    if not shuffle:
        assert rec.steps == [5, 5, 5, 5, 3] * 2
    else:
        assert sum(rec.steps) == 2 * S and len(rec.steps) in range(10, 13)
    model.eval()
    start = 0
    for i, (T, grads, carry) in enumerate(zip(rec.steps, rec.grads, rec.carry)):
        if sum(rec.steps[:i]) == S:  # the second epoch starts afresh
            start = 0
        stop = start + T
        expected = _chunk_reference(model, x, y, start, stop)
        for k in expected:
            assert np.allclose(grads[k], expected[k], rtol=1e-10, atol=1e-13), (i, k)
        with pyrnn.no_grad():
            _, full_state = model(x[:, :stop], return_state=True)
        for (h, c), (hf, cf) in zip(carry, full_state):
            np.testing.assert_allclose(h, hf, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(c, cf, rtol=1e-12, atol=1e-14)
        start = stop
    assert per_epoch >= 5
    # and it differs from full BPTT over the whole stream (the gradient really is cut)
    full = _chunk_reference(model, x, y, 0, S)
    assert not np.allclose(full["lstm.weight_hh_l0"], rec.grads[0]["lstm.weight_hh_l0"])


def test_fit_stream_learns_a_periodic_stream_and_evaluate_stream():
    ids = np.tile(np.array([0, 1, 2, 3, 2, 1]), 400)
    model = char_lm(V=4, H=16)
    model.compile(lambda m: optim.Adam(m, lr=2e-2), "cross_entropy", ["accuracy", "bpc"])
    hist = model.fit_stream(ids, batch_size=8, seq_len=12, epochs=6, validation_data=ids[:600],
                            verbose=0)
    assert hist.history["val_accuracy"][-1] > 0.95
    ev = model.evaluate_stream(ids[:600], batch_size=4, seq_len=12)
    assert ev["accuracy"] > 0.95 and ev["bpc"] < 0.3
    text = model.generate(np.array([0, 1, 2]), 12, sample=False)
    np.testing.assert_array_equal(text, np.tile([3, 2, 1, 0, 1, 2], 2))


def test_stateful_fit_on_feature_streams_and_summary():
    wave = np.sin(np.arange(4 * 300 + 1) * 0.3).astype(np.float32)
    x = wave[:-1].reshape(4, 300, 1)
    y = wave[1:].reshape(4, 300, 1)
    model = Sequential([pyrnn.GRU(1, 12, seed=0), Dense(12, 1, seed=1)], seed=0)  # time-major
    model.compile(lambda m: optim.Adam(m, lr=1e-2), "mse", ["mae"])
    hist = model.fit(x, y, stateful=True, seq_len=25, epochs=8, verbose=0)
    assert hist.history["loss"][-1] < 0.1 * hist.history["loss"][0]
    assert hist.history["mae"][-1] < 0.1
    text = model.summary()
    assert "gru" in text and "dense" in text and f"total parameters: {model.count_params()}" in text
    # one-to-many: the model continues the wave from a primed prefix
    cont = model.generate(wave[:50, None], 20)
    assert cont.shape == (20, 1) and np.max(np.abs(cont[:5, 0] - wave[50:55])) < 0.2


def test_stateful_fit_argument_checks():
    model = char_lm()
    model.compile("adam", "cross_entropy")
    x = np.zeros((2, 10), np.int64)
    with pytest.raises(ValueError, match="seq_len"):
        model.fit(x, x, stateful=True)
    with pytest.raises(ValueError, match="lengths"):
        model.fit(x, x, stateful=True, seq_len=3, lengths=[1, 2])
    with pytest.raises(ValueError, match="ids"):
        model.fit_stream(np.arange(3), batch_size=4)
    with pytest.raises(ValueError, match="no loss|no optimizer"):
        char_lm().fit(x, x)
    with pytest.raises(ValueError, match="on_nonfinite"):
        model.fit(x, x, on_nonfinite="ignore")
    with pytest.raises(ValueError, match="y: expected 2 targets"):
        model.fit(x, x[:1])


# ----------------------------------------------------------------------------- non-finite


def _regression(seed=0):
    return Sequential([pyrnn.GRU(2, 6, batch_first=True, seed=seed), Dense(6, 1, seed=seed)],
                      seed=seed)


def test_nonfinite_loss_raises_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 5, 2)).astype(np.float32)
    y = rng.standard_normal((16, 5, 1)).astype(np.float32)
    x[13, 2, 0] = np.nan  # batch 4 of 4 (batch_size 4, no shuffle)
    model = _regression()
    model.compile("adam", "mse")
    path = tmp_path / "ckpt.pyrnn"
    ckpt = ModelCheckpoint(path, save_freq=1)
    with pytest.raises(FloatingPointError) as info:
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[ckpt])
    msg = str(info.value)
    assert "step 4 (epoch 1, batch 4)" in msg and "loss is nan" in msg
    assert "model output holds" in msg
    assert model.first_nonfinite_parameter() is None  # the step was not applied
    good = pyrnn.model.load(path)
    assert good._resume["batch"] == 3 and good.first_nonfinite_parameter() is None
    for k, v in good.state_dict().items():
        np.testing.assert_array_equal(v, model.state_dict()[k])


def test_nonfinite_steps_are_skipped_when_asked():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((16, 5, 2)).astype(np.float32)
    y = rng.standard_normal((16, 5, 1)).astype(np.float32)
    x[1, 0, 0] = np.inf
    model = _regression()
    model.compile("adam", "mse")
    with pytest.warns(RuntimeWarning, match="skipped step"):
        hist = model.fit(x, y, batch_size=4, epochs=3, shuffle=True, verbose=0,
                         on_nonfinite="skip")
    assert hist.history["skipped"] == [1, 1, 1]
    assert all(np.isfinite(hist.history["loss"]))
    assert model.first_nonfinite_parameter() is None


def test_nonfinite_gradient_names_the_parameter():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 5, 2)).astype(np.float32)
    y = rng.standard_normal((4, 5, 1)).astype(np.float32)

    def poisoned(pred, target, mask):
        loss, grad = losses.mse(pred, target, mask)
        grad[0, 0, 0] = np.nan
        return loss, grad

    model = _regression()
    model.compile("sgd", poisoned)
    expected = r"step 1 \(epoch 1, batch 1\): the gradient of 'gru\.weight_ih_l0'"
    with pytest.raises(FloatingPointError, match=expected):
        model.fit(x, y, epochs=1, verbose=0)


def test_save_refuses_nonfinite_weights_and_checkpoint_keeps_the_old_file(tmp_path):
    model = _regression()
    model.compile("adam", "mse")
    path = tmp_path / "m.pyrnn"
    model.save(path)
    before = path.read_bytes()
    model["dense"].params["bias"][0] = np.nan
    with pytest.raises(ValueError, match="dense.bias"):
        model.save(path)
    assert path.read_bytes() == before
    ckpt = ModelCheckpoint(path)
    ckpt.set_model(model)
    with pytest.warns(RuntimeWarning, match="not finite"):
        ckpt.on_epoch_end(0, {"val_loss": 1.0})
    assert path.read_bytes() == before


# ------------------------------------------------------------------------------ callbacks


def test_early_stopping_learning_rate_schedules_and_history():
    rng = np.random.default_rng(8)
    x = rng.integers(0, 7, (8, 6))
    model = char_lm()
    model.compile(lambda m: optim.SGD(m, lr=0.0), "cross_entropy")
    stop = EarlyStopping("loss", patience=2)
    hist = model.fit(x, x, batch_size=4, epochs=20, verbose=0, callbacks=[stop])
    assert len(hist.epoch) == 3 and stop.stopped_epoch == 2 and model.stop_training
    assert model.history is hist

    model.compile(lambda m: optim.SGD(m, lr=1.0))
    sched = LearningRateScheduler(lambda epoch, lr: 0.5 ** epoch)
    hist = model.fit(x, x, epochs=4, verbose=0, callbacks=[sched])
    assert hist.history["lr"] == [1.0, 0.5, 0.25, 0.125]

    model.optimizer.lr = 1.0
    step = optim.StepLR(model.optimizer, step_size=2, gamma=0.1)
    hist = model.fit(x, x, epochs=5, verbose=0, callbacks=[LearningRateScheduler(step)])
    np.testing.assert_allclose(hist.history["lr"], [1.0, 1.0, 0.1, 0.1, 0.01])

    model.optimizer.lr = 1.0
    plateau = optim.ReduceLROnPlateau(model.optimizer, factor=0.5, patience=0, threshold=0.9)
    hist = model.fit(x, x, epochs=4, verbose=0,
                     callbacks=[LearningRateScheduler(plateau, monitor="loss")])
    # "lr" is the rate used during the epoch; the plateau cuts it at each bad epoch's end
    assert hist.history["lr"] == [1.0, 1.0, 0.5, 0.25] and model.optimizer.lr == 0.125

    seen = []
    cb = LambdaCallback(on_epoch_end=lambda e, logs: seen.append((e, sorted(logs))))
    model.fit(x, x, epochs=2, verbose=0, callbacks=[cb], validation_data=(x, x))
    assert [e for e, _ in seen] == [0, 1] and "val_loss" in seen[0][1]
    with pytest.raises(ValueError, match="unknown hook"):
        LambdaCallback(on_epoch_finish=print)


def test_early_stopping_restores_best_weights():
    rng = np.random.default_rng(9)
    x = rng.integers(0, 7, (8, 6))
    model = char_lm()
    model.compile(lambda m: optim.SGD(m, lr=3.0), "cross_entropy")
    snapshots = []
    cb = LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(model.state_dict()))
    stop = EarlyStopping("val_loss", patience=1, restore_best_weights=True)
    hist = model.fit(x, x, epochs=30, verbose=0, validation_data=(x, x), callbacks=[cb, stop])
    best = int(np.argmin(hist.history["val_loss"]))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, snapshots[best][k])


def test_compile_checks():
    model = char_lm()
    with pytest.raises(ValueError, match="unknown loss"):
        model.compile("adam", "hinge")
    with pytest.raises(ValueError, match="optimizer"):
        model.compile("adamax")
    other = char_lm(seed=5, H=8)
    with pytest.raises(ValueError, match="other parameters"):
        model.compile(optim.Adam(other))
    with pytest.raises(ValueError, match="accuracy"):
        model.compile("adam", "mse", ["accuracy"])
    with pytest.raises(ValueError, match="unknown metric"):
        model.compile("adam", "cross_entropy", ["f1"])
    soft = Sequential([pyrnn.GRU(2, 3), Dense(3, 2, activation="softmax")])
    with pytest.warns(RuntimeWarning, match="softmax"):
        soft.compile("adam", "cross_entropy")


# --------------------------------------------------------------------------- progress bar


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_renders_a_sane_line():
    out = io.StringIO()
    bar = ProgressBar(3, prefix="Epoch 1/2", unit="tok", stream=out, enabled=True,
                      min_interval=0.0)
    for i in range(1, 4):
        bar.update(i, 100.0 * i, {"loss": 1.0 / i, "size": 4})
    bar.close(3, 300.0, {"loss": 0.25, "val_loss": 0.5})
    text = out.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1
    last = text.split("\r")[-1]
    assert "Epoch 1/2 3/3 [" in last and "100%" in last and "loss 0.25" in last
    assert "val_loss 0.5" in last and "tok/s" in last and "size" not in last
    assert "nan" not in text.lower() and "1/3" in text
    quiet = io.StringIO()
    ProgressBar(3, stream=quiet).update(1, 1.0)  # auto: not a TTY -> nothing
    assert quiet.getvalue() == ""
    tty = FakeTTY()
    bar = ProgressBar(2, stream=tty, min_interval=0.0)
    bar.update(1, 5.0)
    bar.close(2, 10.0)
    assert "2/2" in tty.getvalue() and "seq/s" in tty.getvalue()


def test_fit_progress_output_modes():
    rng = np.random.default_rng(10)
    x = rng.integers(0, 7, (16, 6))
    model = char_lm()
    model.compile("adam", "cross_entropy", ["accuracy"])
    forced = io.StringIO()
    model.fit(x, x, batch_size=4, epochs=2, verbose=1, progress_stream=forced)
    text = forced.getvalue()
    assert text.count("\n") == 2 and "Epoch 1/2" in text and "Epoch 2/2" in text
    assert "4/4" in text and "tok/s" in text and "accuracy" in text
    lines = io.StringIO()  # auto on a non-TTY: one plain line per epoch
    model.fit(x, x, batch_size=4, epochs=2, verbose="auto", progress_stream=lines)
    out = lines.getvalue().splitlines()
    assert len(out) == 2 and "\r" not in lines.getvalue()
    assert out[1].startswith("Epoch 2/2") and "loss" in out[1] and "tok/s" in out[1]
    silent = io.StringIO()
    model.fit(x, x, batch_size=4, epochs=1, verbose=0, progress_stream=silent)
    assert silent.getvalue() == ""
    tty = FakeTTY()
    model.fit(x, x, batch_size=4, epochs=1, verbose="auto", progress_stream=tty)
    assert "\r" in tty.getvalue() and "[" in tty.getvalue()
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x, x, verbose=3)


# ---------------------------------------------------------------------------- diagnostics


def test_spectral_radius_per_gate_and_whole():
    lstm = pyrnn.LSTM(3, 5, num_layers=2, bidirectional=True, seed=0)
    sr = diagnostics.spectral_radius(lstm)
    assert set(sr) == {"weight_hh_l0", "weight_hh_l0_reverse", "weight_hh_l1",
                       "weight_hh_l1_reverse"}
    W = lstm.params["weight_hh_l1"]
    for k, g in enumerate("ifgo"):
        expected = np.max(np.abs(np.linalg.eigvals(W[5 * k:5 * (k + 1)].astype(np.float64))))
        assert abs(sr["weight_hh_l1"][g] - expected) < 1e-9
    assert abs(sr["weight_hh_l1"]["whole"] - np.linalg.norm(W.astype(np.float64), 2)) < 1e-9
    assert sr["weight_hh_l1"]["whole"] >= max(sr["weight_hh_l1"][g] for g in "ifgo") - 1e-9
    rnn = pyrnn.RNN(2, 4, seed=0)
    rnn.params["weight_hh_l0"][...] = 0.5 * np.eye(4)
    assert diagnostics.spectral_radius(rnn) == {"weight_hh_l0": {"h": 0.5, "whole": 0.5}}
    model = Sequential([("enc", pyrnn.GRU(2, 3)), ("head", Dense(3, 1))])
    assert set(diagnostics.spectral_radius(model)["enc.weight_hh_l0"]) == {"r", "z", "n", "whole"}
    with pytest.raises(TypeError, match="recurrent"):
        diagnostics.spectral_radius(Dense(2, 2))


def _engine_records_hidden_grads() -> bool:
    layer = pyrnn.RNN(2, 3, dtype="float64", seed=0)
    layer.record_hidden_grads = True
    out, _ = layer(np.zeros((4, 1, 2)))
    layer.backward(np.ones_like(out))
    return getattr(layer, "hidden_grad_norms", None) is not None


def test_hidden_grad_norms_match_suffix_backward():
    if not _engine_records_hidden_grads():
        pytest.skip("engine does not expose layer.hidden_grad_norms yet "
                    "(record_hidden_grads support pending)")
    rng = np.random.default_rng(11)
    rnn = pyrnn.RNN(2, 4, batch_first=True, dtype="float64", seed=1)
    T, B = 6, 3
    x = rng.standard_normal((B, T, 2))
    dout = rng.standard_normal((B, T, 4))
    rnn.record_hidden_grads = True
    out, h_n = rnn(x)
    rnn.backward(dout)
    norms = np.asarray(rnn.hidden_grad_norms)
    assert norms.shape == (1, T)
    rnn.record_hidden_grads = False
    for t in range(T):  # dL/dh_t = dout_t + what flows back from the steps after t
        dh = dout[:, t].copy()
        if t + 1 < T:
            h_t = out[:, t][None]
            rnn(x[:, t + 1:], h_t)
            _, dh_next = rnn.backward(dout[:, t + 1:])
            dh += dh_next[0]
        rnn.zero_grad()
        assert abs(norms[0, t] - np.linalg.norm(dh, axis=1).mean()) < 1e-10


def test_gradient_diagnostics_callback():
    x, y = parity_task(64, 8, seed=0)
    model = Sequential([pyrnn.LSTM(1, 8, batch_first=True, seed=0), Dense(8, 1, seed=1)])
    model.compile("adam", "bce")
    supported = _engine_records_hidden_grads()
    diag = diagnostics.GradientDiagnostics(hidden_grads=supported)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[diag])
    assert diag.epochs == [0, 1] and len(diag.spectral_radii) == 2
    assert set(diag.spectral_radii[0]) == {"lstm.weight_hh_l0"}
    assert len(diag.grad_norm) == 2 and all(g > 0 for g in diag.grad_norm)
    if supported:
        arr = diag.hidden_grad_norms["lstm"][1]
        assert arr.shape == (1, 8) and np.all(arr > 0)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="matplotlib"):
            diag.plot()
    with pytest.raises(RuntimeError, match="recording is off"):
        diagnostics.hidden_grad_norms(model)
