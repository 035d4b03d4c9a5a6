"""Layers Dense/Embedding/Dropout/LastStep and Sequential: backward against central finite
differences in float64, engine models against reference-backend models, layout and
argument checks, step/generate."""
from __future__ import annotations

import numpy as np
import pytest

import pyrnn
from pyrnn.layers.core import Dense, Dropout, Embedding, LastStep
from pyrnn.layers.recurrent import BackwardError
from pyrnn.model import Sequential

F64 = "float64"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # small kernels: one thread avoids OpenMP spin-waits on a busy CI box
    before = pyrnn.get_num_threads()
    pyrnn.set_num_threads(1)
    yield
    pyrnn.set_num_threads(before)


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b), initial=0.0)) / max(float(np.max(np.abs(b), initial=0.0)),
                                                           1e-12)


def numeric_grad(f, arr: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to arr (perturbed in place)."""
    g = np.zeros_like(arr, dtype=np.float64)
    flat, gflat = arr.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


def check_layer_grads(layer, x, forward, rng, tol=1e-6, check_x=True):
    """Compare layer.backward with finite differences of L = sum(forward(x) * R)."""
    y = forward(x)
    R = rng.standard_normal(y.shape)
    layer.zero_grad()
    dx = layer.backward(R)
    loss = lambda: float(np.sum(forward(x) * R))  # noqa: E731
    if check_x:
        assert rel_err(dx, numeric_grad(loss, x)) < tol
    for name, p in layer.named_parameters():
        assert rel_err(layer.grads[name], numeric_grad(loss, p)) < tol, name
    return dx


# ------------------------------------------------------------------------- single layers


@pytest.mark.parametrize("activation", [None, "tanh", "relu", "sigmoid", "softmax"])
@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 5)])
def test_dense_backward_matches_finite_differences(activation, shape):
    rng = np.random.default_rng(0)
    layer = Dense(5, 3, activation=activation, dtype=F64, seed=1)
    x = rng.standard_normal(shape)
    check_layer_grads(layer, x, layer.forward, rng)


def test_dense_without_bias_and_glorot_init():
    rng = np.random.default_rng(1)
    layer = Dense(4, 6, bias=False, dtype=F64, seed=2, init="glorot_uniform")
    assert list(layer.params) == ["weight"] and layer.params["weight"].shape == (6, 4)
    check_layer_grads(layer, rng.standard_normal((2, 3, 4)), layer.forward, rng)


def test_embedding_backward_scatters_into_looked_up_rows():
    rng = np.random.default_rng(2)
    layer = Embedding(7, 3, dtype=F64, seed=0)
    ids = np.array([[0, 3, 3], [6, 0, 3]])  # repeated ids must accumulate
    y = layer(ids)
    R = rng.standard_normal(y.shape)
    assert layer.backward(R) is None
    W = layer.params["weight"]
    num = numeric_grad(lambda: float(np.sum(layer.forward(ids) * R)), W)
    assert rel_err(layer.grads["weight"], num) < 1e-6
    assert np.all(layer.grads["weight"][[1, 2, 4, 5]] == 0)


def test_dropout_backward_with_fixed_mask_and_eval_identity():
    rng = np.random.default_rng(3)
    layer = Dropout(0.4, seed=5)
    x = rng.standard_normal((4, 5, 6))
    state = layer.rng.bit_generator.state

    def forward(x_):
        layer.rng.bit_generator.state = state  # the same mask at every evaluation
        return layer.forward(x_)

    check_layer_grads(layer, x, forward, rng)
    y = forward(x)
    kept = y != 0
    assert 0.2 < 1 - kept.mean() < 0.6  # p=0.4 on 120 elements
    np.testing.assert_allclose(y[kept], x[kept] / 0.6)
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)


@pytest.mark.parametrize("batch_first", [True, False])
def test_last_step_picks_last_valid_step_and_backward(batch_first):
    rng = np.random.default_rng(4)
    B, T, F = 3, 5, 2
    x = rng.standard_normal((B, T, F) if batch_first else (T, B, F))
    lengths = np.array([5, 1, 3])
    layer = LastStep(batch_first=batch_first)
    y = layer(x, lengths)
    for b, n in enumerate(lengths):
        np.testing.assert_array_equal(y[b], x[b, n - 1] if batch_first else x[n - 1, b])
    check_layer_grads(layer, x, lambda x_: layer.forward(x_, lengths), rng)
    np.testing.assert_array_equal(layer(x), x[:, -1] if batch_first else x[-1])


def test_layer_argument_errors_name_the_argument():
    with pytest.raises(ValueError, match="activation"):
        Dense(2, 3, activation="gelu")
    with pytest.raises(TypeError, match="in_features"):
        Dense(2.0, 3)
    with pytest.raises(ValueError, match="p:"):
        Dropout(1.5)
    emb = Embedding(4, 2)
    with pytest.raises(ValueError, match=r"ids in \[0, 4\)"):
        emb(np.array([[0, 4]]))
    with pytest.raises(TypeError, match="integer"):
        emb(np.zeros((1, 2), np.float32))
    d = Dense(3, 2)
    with pytest.raises(ValueError, match="3 in_features"):
        d(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="float32"):
        d(np.zeros((2, 3), np.float64))
    with pytest.raises(BackwardError):
        Dense(3, 2).backward(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="batch_first"):
        LastStep()(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="lengths"):
        LastStep(batch_first=True)(np.zeros((2, 3, 4), np.float32), [1, 4])


# ----------------------------------------------------------------------------- Sequential


def char_model(backend="engine", dtype=F64, dropout=0.0, bidirectional=False, seed=0):
    return Sequential([
        Embedding(6, 3, dtype=dtype, seed=seed),
        pyrnn.LSTM(3, 4, num_layers=2, batch_first=True, dtype=dtype, seed=seed + 1,
                   backend=backend, bidirectional=bidirectional, dropout=dropout),
        Dropout(0.3, seed=seed + 2),
        Dense(8 if bidirectional else 4, 5, dtype=dtype, seed=seed + 3),
    ])


def classifier(backend="engine", dtype=F64, batch_first=True, mode="GRU", seed=0):
    cls = {"GRU": pyrnn.GRU, "RNN": pyrnn.RNN, "LSTM": pyrnn.LSTM}[mode]
    return Sequential([
        Dense(2, 3, activation="tanh", dtype=dtype, seed=seed),
        cls(3, 4, batch_first=batch_first, dtype=dtype, seed=seed + 1, backend=backend),
        LastStep(),
        Dense(4, 3, dtype=dtype, seed=seed + 2),
    ])


def model_loss_and_grads(model, x, R, lengths=None, rng_states=None):
    if rng_states:
        for layer, s in rng_states:
            layer.rng.bit_generator.state = s
    y = model(x, lengths=lengths)
    return float(np.sum(y * R)), y


def test_sequential_gradients_match_finite_differences_many_to_many():
    rng = np.random.default_rng(5)
    model = char_model()
    x = rng.integers(0, 6, (2, 4))
    drop = model["dropout"]
    states = [(drop, drop.rng.bit_generator.state)]
    _, y = model_loss_and_grads(model, x, 0, rng_states=states)
    R = rng.standard_normal(y.shape)
    model.zero_grad()
    model_loss_and_grads(model, x, R, rng_states=states)
    assert model.backward(R) is None  # ids have no gradient
    f = lambda: model_loss_and_grads(model, x, R, rng_states=states)[0]  # noqa: E731
    for name, p in model.named_parameters():
        assert rel_err(model.grads[name], numeric_grad(f, p)) < 1e-6, name


@pytest.mark.parametrize("batch_first", [True, False])
def test_sequential_gradients_match_finite_differences_many_to_one_lengths(batch_first):
    rng = np.random.default_rng(6)
    model = classifier(batch_first=batch_first)
    B, T = 3, 5
    x = rng.standard_normal((B, T, 2) if batch_first else (T, B, 2))
    lengths = np.array([5, 2, 3])
    y = model(x, lengths=lengths)
    assert y.shape == (B, 3)
    R = rng.standard_normal(y.shape)
    model.zero_grad()
    model(x, lengths=lengths)
    dx = model.backward(R)
    f = lambda: float(np.sum(model(x, lengths=lengths) * R))  # noqa: E731
    assert rel_err(dx, numeric_grad(f, x)) < 1e-6
    # steps past a sequence's length do not influence its output
    pad = (np.arange(T)[None, :] >= lengths[:, None])
    pad = pad if batch_first else pad.T
    assert np.all(dx[pad] == 0)
    for name, p in model.named_parameters():
        assert rel_err(model.grads[name], numeric_grad(f, p)) < 1e-6, name


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_engine_model_gradients_match_reference_backend(mode):
    rng = np.random.default_rng(7)
    eng, ref = classifier(mode=mode), classifier(backend="reference", mode=mode)
    ref.load_state_dict(eng.state_dict())
    x = rng.standard_normal((4, 6, 2))
    lengths = np.array([6, 1, 4, 2])
    ye, yr = eng(x, lengths=lengths), ref(x, lengths=lengths)
    assert rel_err(ye, yr) < 1e-10
    R = rng.standard_normal(ye.shape)
    eng.zero_grad()
    ref.zero_grad()
    dxe, dxr = eng.backward(R), ref.backward(R)
    assert rel_err(dxe, dxr) < 1e-10
    for name, g in eng.grads.items():
        assert rel_err(g, ref.grads[name]) < 1e-10, name


def test_engine_char_model_matches_reference_bidirectional_with_dropout():
    rng = np.random.default_rng(8)
    eng = char_model(bidirectional=True, dropout=0.3)
    ref = char_model(backend="reference", bidirectional=True, dropout=0.3)
    ref.load_state_dict(eng.state_dict())
    x = rng.integers(0, 6, (3, 5))
    ye, yr = eng(x), ref(x)  # same seeds: same dropout masks
    assert rel_err(ye, yr) < 1e-10
    R = rng.standard_normal(ye.shape)
    eng.zero_grad()
    ref.zero_grad()
    eng.backward(R)
    ref.backward(R)
    for name, g in eng.grads.items():
        assert rel_err(g, ref.grads[name]) < 1e-10, name


def test_sequential_names_parameters_and_state_dict_roundtrip():
    model = char_model(dtype="float32")
    assert model.names == ["embedding", "lstm", "dropout", "dense"]
    names = [n for n, _ in model.named_parameters()]
    assert names[0] == "embedding.weight" and "lstm.weight_hh_l1" in names
    assert names[-2:] == ["dense.weight", "dense.bias"]
    assert set(model.grads) == set(names)
    other = char_model(dtype="float32", seed=10)
    other.load_state_dict(model.state_dict())
    for (_, a), (_, b) in zip(model.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unexpected key"):
        other.load_state_dict({"nope.weight": np.zeros(1)})
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict({"dense.bias": np.zeros(7)}, strict=False)
    m2 = Sequential([("enc", pyrnn.GRU(2, 3)), ("head", Dense(3, 1))])
    assert m2.names == ["enc", "head"] and m2["head"] is m2[1]


def test_sequential_rejects_inconsistent_stacks():
    with pytest.raises(ValueError, match="input_size=5"):
        Sequential([Embedding(4, 3), pyrnn.LSTM(5, 2)])
    with pytest.raises(ValueError, match="in_features=3"):
        Sequential([pyrnn.GRU(2, 4), Dense(3, 1)])
    with pytest.raises(ValueError, match="batch_first"):
        Sequential([pyrnn.GRU(2, 4, batch_first=True), pyrnn.GRU(4, 4)])
    with pytest.raises(ValueError, match="first layer"):
        Sequential([Dropout(0.1), Embedding(3, 2)])
    with pytest.raises(ValueError, match="LastStep"):
        Sequential([pyrnn.GRU(2, 4), LastStep(), pyrnn.GRU(4, 4)])
    with pytest.raises(TypeError, match="dtype"):
        Sequential([pyrnn.GRU(2, 4), Dense(4, 1, dtype="float64")])
    with pytest.raises(ValueError, match="unique"):
        Sequential([("a", Dense(2, 2)), ("a", Dense(2, 2))])
    with pytest.raises(TypeError, match="layer"):
        Sequential([object()])
    m = Sequential([Embedding(4, 3), pyrnn.GRU(3, 2, batch_first=True)])
    with pytest.raises(ValueError, match="2-D"):
        m(np.zeros((2, 3, 1), np.int64))
    with pytest.raises(ValueError, match="initial_state"):
        m(np.zeros((2, 3), np.int64), initial_state=[None, None])


def test_time_major_model_matches_batch_first_model():
    rng = np.random.default_rng(9)
    bf, tm = classifier(batch_first=True), classifier(batch_first=False)
    tm.load_state_dict(bf.state_dict())
    x = rng.standard_normal((3, 4, 2))
    lengths = np.array([4, 2, 1])
    np.testing.assert_allclose(bf(x, lengths=lengths), tm(x.transpose(1, 0, 2).copy(),
                                                          lengths=lengths), rtol=1e-12)
    # predict takes samples first whatever the layout
    np.testing.assert_allclose(bf.predict(x, lengths=lengths), tm.predict(x, lengths=lengths),
                               rtol=1e-12)


def test_initial_state_and_return_state_chain_like_one_long_run():
    rng = np.random.default_rng(10)
    model = char_model(dtype=F64)
    model.eval()
    x = rng.integers(0, 6, (2, 9))
    full, s_full = model(x, return_state=True)
    a, s_a = model(x[:, :4], return_state=True)
    b, s_b = model(x[:, 4:], initial_state=s_a, return_state=True)
    np.testing.assert_allclose(np.concatenate([a, b], axis=1), full, rtol=1e-12)
    np.testing.assert_allclose(s_b[0][0], s_full[0][0], rtol=1e-12)
    np.testing.assert_allclose(s_b[0][1], s_full[0][1], rtol=1e-12)


def test_step_matches_forward_and_generate_is_reproducible():
    rng = np.random.default_rng(11)
    model = char_model(dtype="float32")
    model.eval()
    x = rng.integers(0, 6, (2, 5))
    full = model(x)
    state = None
    for t in range(5):
        y, state = model.step(x[:, t], state)
        np.testing.assert_allclose(y, full[:, t], rtol=1e-5, atol=1e-6)
    model.train()
    g1 = model.generate(np.array([1, 2, 3]), 20, temperature=0.8, seed=3)
    g2 = model.generate(np.array([1, 2, 3]), 20, temperature=0.8, seed=3)
    assert g1.shape == (20,) and g1.dtype == np.int64 and np.array_equal(g1, g2)
    assert g1.min() >= 0 and g1.max() < 5
    assert model.training  # mode restored
    greedy = model.generate(np.array([[1, 2], [3, 4]]), 6, sample=False)
    assert greedy.shape == (2, 6)
    # greedy generation = argmax of a forward over the generated sequence
    model.eval()
    seq = np.concatenate([np.array([[1, 2], [3, 4]]), greedy], axis=1)
    np.testing.assert_array_equal(model(seq[:, :-1]).argmax(-1)[:, 1:], seq[:, 2:])


def test_generate_text_with_vocab_and_feature_models():
    from pyrnn.data import CharVocab
    vocab = CharVocab.from_text("abcde")
    model = Sequential([Embedding(5, 4, seed=0), pyrnn.GRU(4, 8, batch_first=True, seed=1),
                        Dense(8, 5, seed=2)])
    text = model.generate("abc", 15, vocab=vocab, temperature=0.5, seed=0)
    assert isinstance(text, str) and len(text) == 15 and set(text) <= set("abcde")
    with pytest.raises(ValueError, match="vocab"):
        model.generate("abc", 3)
    # a feature model feeds its output back as the next input
    reg = Sequential([pyrnn.LSTM(2, 6, batch_first=True, seed=0), Dense(6, 2, seed=1)])
    prime = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    out = reg.generate(prime, 5)
    assert out.shape == (5, 2)
    reg.eval()
    y = reg(np.concatenate([prime, out[:-1]])[None])[0]
    np.testing.assert_allclose(y[3:], out, rtol=1e-4, atol=1e-5)
    bad = Sequential([pyrnn.LSTM(2, 6, batch_first=True, bidirectional=True), Dense(12, 2)])
    with pytest.raises(ValueError, match="bidirectional"):
        bad.generate(prime, 3)
