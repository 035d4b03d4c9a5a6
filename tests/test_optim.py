"""Tests of pyrnn.optim: each update rule worked out by hand for two steps, agreement with
torch.optim over ten steps, clipping, non-finite gradients, schedules and state dicts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pyrnn.optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    ReduceLROnPlateau,
    RMSprop,
    StepLR,
    clip_grad_norm_,
    clip_grad_value_,
)


class FakeModule:
    """The optimiser protocol and nothing else: named_parameters() and grads."""

    def __init__(self, **params: np.ndarray) -> None:
        self.params = params
        self.grads = {k: np.zeros_like(v) for k, v in params.items()}

    def named_parameters(self):
        return iter(self.params.items())


# the two gradients used by every hand-worked example
G1 = [0.5, -1.0]
G2 = [-0.25, 2.0]


def run_two_steps(opt_cls, **kw) -> tuple[np.ndarray, np.ndarray]:
    """p starts at [1, -2]; returns p after step 1 and after step 2."""
    mod = FakeModule(p=np.array([1.0, -2.0]))
    opt = opt_cls(mod, **kw)
    out = []
    for g in (G1, G2):
        mod.grads["p"][...] = g
        assert opt.step() is True
        out.append(mod.params["p"].copy())
    return out[0], out[1]


# --------------------------------------------------------------------------- by hand


def test_sgd_momentum_dampening_weight_decay_by_hand():
    p1, p2 = run_two_steps(SGD, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)
    # step 1: g = G1 + 0.01*[1, -2] = [0.51, -1.02]; buf = g; p = p - 0.1*buf
    np.testing.assert_allclose(p1, [0.949, -1.898], rtol=1e-14)
    # step 2: g = G2 + 0.01*p1 = [-0.24051, 1.98102]
    #         buf = 0.9*[0.51, -1.02] + (1 - 0.1)*g = [0.242541, 0.864918]
    np.testing.assert_allclose(p2, [0.949 - 0.0242541, -1.898 - 0.0864918], rtol=1e-14)


def test_sgd_nesterov_by_hand():
    p1, p2 = run_two_steps(SGD, lr=0.1, momentum=0.9, nesterov=True)
    # step 1: buf = [0.5, -1]; g = G1 + 0.9*buf = [0.95, -1.9]
    np.testing.assert_allclose(p1, [0.905, -1.81], rtol=1e-14)
    # step 2: buf = 0.9*[0.5, -1] + G2 = [0.2, 1.1]; g = G2 + 0.9*buf = [-0.07, 2.99]
    np.testing.assert_allclose(p2, [0.912, -2.109], rtol=1e-14)


def test_plain_sgd_by_hand():
    p1, p2 = run_two_steps(SGD, lr=0.5)
    np.testing.assert_allclose(p1, [0.75, -1.5], rtol=1e-15)
    np.testing.assert_allclose(p2, [0.875, -2.5], rtol=1e-15)


def test_adam_by_hand():
    p1, p2 = run_two_steps(Adam, lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    # step 1: m = 0.1*G1 = [0.05, -0.1]; v = 0.001*G1**2 = [0.00025, 0.001]
    #         m/(1-0.9) = [0.5, -1]; sqrt(v)/sqrt(1-0.999) = [0.5, 1]
    np.testing.assert_allclose(
        p1, [1 - 0.1 * 0.5 / (0.5 + 1e-8), -2 + 0.1 * 1 / (1 + 1e-8)], rtol=1e-14
    )
    # step 2: m = 0.9*m + 0.1*G2 = [0.02, 0.11]; v = 0.999*v + 0.001*G2**2 = [0.00031225, 0.004999]
    #         1 - 0.9**2 = 0.19; 1 - 0.999**2 = 0.001999
    np.testing.assert_allclose(
        p2,
        [
            p1[0] - (0.1 / 0.19) * 0.02 / (math.sqrt(0.00031225) / math.sqrt(0.001999) + 1e-8),
            p1[1] - (0.1 / 0.19) * 0.11 / (math.sqrt(0.004999) / math.sqrt(0.001999) + 1e-8),
        ],
        rtol=1e-13,
    )


def test_adamw_by_hand():
    p1, p2 = run_two_steps(AdamW, lr=0.1, weight_decay=0.1, eps=1e-8)
    # the decay multiplies p by 1 - 0.1*0.1 = 0.99 before the Adam step of test_adam_by_hand
    a1 = [0.1 * 0.5 / (0.5 + 1e-8), -0.1 * 1 / (1 + 1e-8)]
    np.testing.assert_allclose(p1, [0.99 * 1 - a1[0], 0.99 * -2 - a1[1]], rtol=1e-14)
    a2 = [
        (0.1 / 0.19) * 0.02 / (math.sqrt(0.00031225) / math.sqrt(0.001999) + 1e-8),
        (0.1 / 0.19) * 0.11 / (math.sqrt(0.004999) / math.sqrt(0.001999) + 1e-8),
    ]
    np.testing.assert_allclose(p2, [0.99 * p1[0] - a2[0], 0.99 * p1[1] - a2[1]], rtol=1e-13)


def test_adam_l2_weight_decay_differs_from_adamw():
    # L2 decay goes through the moments: with G1 = 0 the Adam step still moves p
    mod = FakeModule(p=np.array([1.0]))
    opt = Adam(mod, lr=0.1, weight_decay=0.5, eps=0.0)
    opt.step()
    # g = 0 + 0.5*1; m/(1-b1) = 0.5, sqrt(v/(1-b2)) = 0.5 -> step of exactly lr
    np.testing.assert_allclose(mod.params["p"], [0.9], rtol=1e-15)
    mod2 = FakeModule(p=np.array([1.0]))
    AdamW(mod2, lr=0.1, weight_decay=0.5, eps=1e-8).step()
    # decoupled: p *= 1 - 0.1*0.5; the Adam part sees g = 0, so m = 0 and it adds nothing
    np.testing.assert_array_equal(mod2.params["p"], [0.95])


def test_rmsprop_by_hand():
    p1, p2 = run_two_steps(RMSprop, lr=0.01, alpha=0.9, eps=1e-8)
    # step 1: s = 0.1*G1**2 = [0.025, 0.1]
    np.testing.assert_allclose(
        p1,
        [1 - 0.01 * 0.5 / (math.sqrt(0.025) + 1e-8), -2 + 0.01 / (math.sqrt(0.1) + 1e-8)],
        rtol=1e-14,
    )
    # step 2: s = 0.9*s + 0.1*G2**2 = [0.02875, 0.49]
    np.testing.assert_allclose(
        p2,
        [p1[0] + 0.01 * 0.25 / (math.sqrt(0.02875) + 1e-8), p1[1] - 0.01 * 2 / (0.7 + 1e-8)],
        rtol=1e-14,
    )


def test_rmsprop_centered_momentum_by_hand():
    p1, p2 = run_two_steps(RMSprop, lr=0.01, alpha=0.9, eps=0.0, momentum=0.5, centered=True)
    # step 1: s = [0.025, 0.1]; a = 0.1*G1 = [0.05, -0.1]; d = sqrt(s - a**2) = [0.15, 0.3]
    #         b = G1 / d = [10/3, -10/3]
    np.testing.assert_allclose(p1, [1 - 0.1 / 3, -2 + 0.1 / 3], rtol=1e-14)
    # step 2: s = [0.02875, 0.49]; a = 0.9*a + 0.1*G2 = [0.02, 0.11]
    #         d = sqrt([0.02875 - 0.0004, 0.49 - 0.0121]); b = 0.5*b + G2/d
    b2 = [0.5 * 10 / 3 - 0.25 / math.sqrt(0.02835), -0.5 * 10 / 3 + 2 / math.sqrt(0.4779)]
    np.testing.assert_allclose(p2, [p1[0] - 0.01 * b2[0], p1[1] - 0.01 * b2[1]], rtol=1e-13)


def test_adagrad_by_hand():
    p1, p2 = run_two_steps(Adagrad, lr=0.1, lr_decay=0.5, initial_accumulator_value=0.1, eps=1e-10)
    # step 1: clr = 0.1; s = 0.1 + G1**2 = [0.35, 1.1]
    np.testing.assert_allclose(
        p1,
        [1 - 0.1 * 0.5 / (math.sqrt(0.35) + 1e-10), -2 + 0.1 / (math.sqrt(1.1) + 1e-10)],
        rtol=1e-14,
    )
    # step 2: clr = 0.1 / (1 + 1*0.5); s = [0.35 + 0.0625, 1.1 + 4]
    clr = 0.1 / 1.5
    np.testing.assert_allclose(
        p2,
        [
            p1[0] + clr * 0.25 / (math.sqrt(0.4125) + 1e-10),
            p1[1] - clr * 2 / (math.sqrt(5.1) + 1e-10),
        ],
        rtol=1e-14,
    )


def test_float32_parameters_keep_float32_state():
    mod = FakeModule(w=np.ones((2, 3), dtype=np.float32))
    mod.grads["w"][...] = 0.5
    opt = Adam(mod, lr=0.1)
    opt.step()
    assert mod.params["w"].dtype == np.float32
    assert opt.state["w"]["m"].dtype == np.float32
    np.testing.assert_allclose(mod.params["w"], 0.9, rtol=1e-6)


# --------------------------------------------------------------------------- torch


def grad_fn(xp, p, t):
    """A gradient that depends on the parameters and on the step (so moments vary)."""
    scale = [1.0, 0.01, 3.0][t % 3]  # small steps make AMSGrad's max matter
    return scale * (xp.tanh(3 * p) + 0.1 * p * p - 0.2)


CONFIGS = [
    (SGD, "SGD", dict(lr=0.1)),
    (SGD, "SGD", dict(lr=0.1, momentum=0.9)),
    (SGD, "SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    (SGD, "SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    (Adam, "Adam", dict(lr=0.01)),
    (Adam, "Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    (Adam, "Adam", dict(lr=0.01, amsgrad=True, eps=1e-6)),
    (AdamW, "AdamW", dict(lr=0.01)),
    (AdamW, "AdamW", dict(lr=0.01, weight_decay=0.5, amsgrad=True)),
    (RMSprop, "RMSprop", dict(lr=0.01)),
    (RMSprop, "RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.9, centered=True, weight_decay=0.1)),
    (Adagrad, "Adagrad", dict(lr=0.1)),
    (Adagrad, "Adagrad",
     dict(lr=0.1, lr_decay=0.1, weight_decay=0.01, initial_accumulator_value=0.5, eps=1e-6)),
]


@pytest.mark.parametrize(
    "cls, torch_name, kw", CONFIGS, ids=[f"{c[1]}-{i}" for i, c in enumerate(CONFIGS)]
)
def test_matches_torch_over_ten_steps(cls, torch_name, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    start = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    mod = FakeModule(**{k: v.copy() for k, v in start.items()})
    opt = cls(mod, **kw)
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in start.items()}
    topt = getattr(torch.optim, torch_name)(list(tparams.values()), foreach=False, **kw)
    for t in range(10):
        for k in start:
            mod.grads[k][...] = grad_fn(np, mod.params[k], t)
            tparams[k].grad = grad_fn(torch, tparams[k].detach(), t)
        opt.step()
        topt.step()
    for k in start:
        assert not np.allclose(mod.params[k], start[k], rtol=1e-3)  # it moved
        ref = tparams[k].detach().numpy()
        np.testing.assert_allclose(mod.params[k], ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("clip", ["norm", "value"])
def test_clipping_matches_torch(clip):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    start = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    mod = FakeModule(**{k: v.copy() for k, v in start.items()})
    opt = Adam(mod, lr=0.01, **({"clipnorm": 0.5} if clip == "norm" else {"clipvalue": 0.3}))
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in start.items()}
    topt = torch.optim.Adam(list(tparams.values()), lr=0.01, foreach=False)
    for t in range(10):
        for k in start:
            mod.grads[k][...] = 10 * grad_fn(np, mod.params[k], t)
            tparams[k].grad = 10 * grad_fn(torch, tparams[k].detach(), t)
        if clip == "norm":
            torch.nn.utils.clip_grad_norm_(list(tparams.values()), 0.5, foreach=False)
        else:
            torch.nn.utils.clip_grad_value_(list(tparams.values()), 0.3, foreach=False)
        opt.step()
        topt.step()
    for k in start:
        ref = tparams[k].detach().numpy()
        np.testing.assert_allclose(mod.params[k], ref, rtol=1e-10, atol=1e-12)


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal((5, 3)), rng.standard_normal(7)]
    tgrads = [torch.tensor(g.copy()) for g in grads]
    params = [torch.zeros_like(g, requires_grad=True) for g in tgrads]
    for p, g in zip(params, tgrads):
        p.grad = g
    ref_total = torch.nn.utils.clip_grad_norm_(params, 1.5, foreach=False).item()
    total = clip_grad_norm_(grads, 1.5)
    assert total == pytest.approx(ref_total, rel=1e-13)
    for g, p in zip(grads, params):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-13)


# --------------------------------------------------------------------------- clipping


def test_clipnorm_is_global_and_leaves_module_grads_alone():
    mod = FakeModule(a=np.zeros(2), b=np.zeros((2, 1)))
    mod.grads["a"][...] = [3.0, 0.0]
    mod.grads["b"][...] = [[0.0], [4.0]]  # global norm 5; each alone would be under 5
    opt = SGD(mod, lr=1.0, clipnorm=1.0)
    opt.step()
    np.testing.assert_allclose(mod.params["a"], [-3 / (5 + 1e-6), 0.0], rtol=1e-14)
    np.testing.assert_allclose(mod.params["b"], [[0.0], [-4 / (5 + 1e-6)]], rtol=1e-14)
    np.testing.assert_array_equal(mod.grads["a"], [3.0, 0.0])
    np.testing.assert_array_equal(mod.grads["b"], [[0.0], [4.0]])


def test_clipnorm_does_nothing_under_the_threshold():
    mod = FakeModule(a=np.zeros(2))
    mod.grads["a"][...] = [0.3, -0.4]
    SGD(mod, lr=1.0, clipnorm=1.0).step()
    np.testing.assert_array_equal(mod.params["a"], [-0.3, 0.4])


def test_clipvalue_then_clipnorm():
    mod = FakeModule(a=np.zeros(3))
    mod.grads["a"][...] = [-3.0, 0.2, 5.0]
    SGD(mod, lr=1.0, clipvalue=1.0).step()
    np.testing.assert_allclose(mod.params["a"], [1.0, -0.2, -1.0], rtol=1e-15)
    mod = FakeModule(a=np.zeros(2))
    mod.grads["a"][...] = [3.0, 4.0]
    SGD(mod, lr=1.0, clipvalue=1.0, clipnorm=1.0).step()
    # value clip first: [1, 1], norm sqrt(2), then scaled to norm ~1
    expected = -1 / (math.sqrt(2) + 1e-6)
    np.testing.assert_allclose(mod.params["a"], [expected, expected], rtol=1e-14)


def test_clip_functions_in_place():
    a, b = np.array([3.0, 0.0]), np.array([[0.0], [4.0]])
    total = clip_grad_norm_([a, b], 1.0)
    assert total == 5.0
    np.testing.assert_allclose(a, [0.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(b, [[0.0], [0.8]], rtol=1e-6)
    grads = {"x": np.array([0.3, 0.4])}
    assert clip_grad_norm_(grads, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(grads["x"], [0.3, 0.4])  # under max_norm: untouched
    c = np.array([-2.0, 0.5, 3.0], dtype=np.float32)
    clip_grad_value_(c, 1.0)
    np.testing.assert_array_equal(c, np.array([-1.0, 0.5, 1.0], dtype=np.float32))
    with pytest.raises(FloatingPointError, match="total norm"):
        clip_grad_norm_([np.array([np.inf])], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm must be > 0, got -1.0"):
        clip_grad_norm_([a], -1)
    with pytest.raises(TypeError, match=r"grads\[1\] must be a float numpy array, got list"):
        clip_grad_value_([a, [1.0]], 1.0)


# --------------------------------------------------------------------------- non-finite


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_gradient_raises_by_default_and_changes_nothing(bad):
    mod = FakeModule(w=np.ones(2), b=np.ones(3))
    mod.grads["w"][...] = 0.1
    mod.grads["b"][...] = [0.1, bad, 0.1]
    opt = Adam(mod, lr=0.1)
    with pytest.raises(FloatingPointError, match="parameter 'b'"):
        opt.step()
    np.testing.assert_array_equal(mod.params["w"], [1.0, 1.0])
    np.testing.assert_array_equal(mod.params["b"], [1.0, 1.0, 1.0])
    assert opt.steps == 0 and opt.state == {}


def test_skip_nonfinite_returns_false_then_continues():
    mod = FakeModule(w=np.ones(2))
    opt = SGD(mod, lr=0.1, momentum=0.9, skip_nonfinite=True)
    mod.grads["w"][...] = [np.nan, 1.0]
    assert opt.step() is False
    np.testing.assert_array_equal(mod.params["w"], [1.0, 1.0])
    assert opt.steps == 0 and "momentum_buffer/w" not in opt.state_dict()
    mod.grads["w"][...] = [1.0, 1.0]
    assert opt.step() is True
    np.testing.assert_allclose(mod.params["w"], [0.9, 0.9], rtol=1e-15)
    assert opt.steps == 1


# --------------------------------------------------------------------------- protocol


def test_zero_grad_zeroes_in_place():
    mod = FakeModule(w=np.ones((2, 2)), b=np.ones(2))
    gw = mod.grads["w"]
    gw[...] = 3.0
    mod.grads["b"][...] = -1.0
    SGD(mod, lr=0.1).zero_grad()
    assert mod.grads["w"] is gw
    assert not gw.any() and not mod.grads["b"].any()


def test_list_of_modules_prefixes_names():
    m0, m1 = FakeModule(w=np.ones(2)), FakeModule(w=np.ones(2))
    m0.grads["w"][...] = 1.0
    m1.grads["w"][...] = 2.0
    opt = SGD([m0, m1], lr=0.5, momentum=0.5)
    assert opt.parameter_names() == ["0.w", "1.w"]
    opt.step()
    np.testing.assert_array_equal(m0.params["w"], [0.5, 0.5])
    np.testing.assert_array_equal(m1.params["w"], [0.0, 0.0])
    assert {"momentum_buffer/0.w", "momentum_buffer/1.w"} <= set(opt.state_dict())


def test_lr_is_settable_and_validated():
    mod = FakeModule(w=np.ones(1))
    mod.grads["w"][...] = 1.0
    opt = SGD(mod, lr=0.1)
    opt.lr = 0.5
    opt.step()
    np.testing.assert_array_equal(mod.params["w"], [0.5])
    with pytest.raises(ValueError, match=r"lr must be in \[0.0, inf\), got -1"):
        opt.lr = -1
    with pytest.raises(ValueError, match="lr must be"):
        SGD(mod, lr=float("nan"))


def test_bad_modules_and_grads_are_reported():
    with pytest.raises(TypeError, match="modules must have a named_parameters"):
        SGD(object(), lr=0.1)
    mod = FakeModule(w=np.ones(2))
    del mod.grads["w"]
    with pytest.raises(ValueError, match="grads has no entry for parameter 'w'"):
        SGD(mod, lr=0.1)
    mod = FakeModule(w=np.ones(2))
    opt = SGD(mod, lr=0.1)
    mod.grads["w"] = np.ones(3)
    with pytest.raises(ValueError, match=r"grads\['w'\] must be an array of shape \(2,\).*\(3,\)"):
        opt.step()
    with pytest.raises(TypeError, match="parameter 'w' must be a float numpy array, got .*int64"):
        SGD(FakeModule(w=np.ones(2, dtype=np.int64)), lr=0.1)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        SGD(FakeModule(w=np.ones(2)), lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"betas\[1\] must be in \[0.0, 1.0\), got 1.0"):
        Adam(FakeModule(w=np.ones(2)), betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="clipnorm must be"):
        Adam(FakeModule(w=np.ones(2)), clipnorm=0.0)


# --------------------------------------------------------------------------- state dicts


STATEFUL = [
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (Adam, dict(lr=0.01, amsgrad=True)),
    (AdamW, dict(lr=0.01, weight_decay=0.1)),
    (RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
    (Adagrad, dict(lr=0.1, lr_decay=0.01)),
]


@pytest.mark.parametrize("cls, kw", STATEFUL, ids=[c[0].__name__ for c in STATEFUL])
def test_state_dict_round_trip_continues_identically(cls, kw):
    rng = np.random.default_rng(3)
    a = FakeModule(w=rng.standard_normal((3, 2)), b=rng.standard_normal(2))
    opt_a = cls(a, **kw)
    for t in range(3):
        for k in a.params:
            a.grads[k][...] = grad_fn(np, a.params[k], t)
        opt_a.step()
    sd = opt_a.state_dict()
    # flat: JSON-able scalars + arrays keyed "<slot>/<param>"
    scalars = {k: v for k, v in sd.items() if not isinstance(v, np.ndarray)}
    arrays = {k: v for k, v in sd.items() if isinstance(v, np.ndarray)}
    sd = {**json.loads(json.dumps(scalars)), **arrays}
    assert sd["type"] == cls.__name__ and sd["step"] == 3 and sd["lr"] == kw["lr"]
    assert arrays and all("/" in k and k.split("/", 1)[1] in ("w", "b") for k in arrays)

    b = FakeModule(**{k: v.copy() for k, v in a.params.items()})
    opt_b = cls(b, lr=123.0)  # everything, including lr and hyperparameters, comes from sd
    opt_b.load_state_dict(sd)
    for t in range(3, 6):
        for mod in (a, b):
            for k in mod.params:
                mod.grads[k][...] = grad_fn(np, mod.params[k], t)
        opt_a.step()
        opt_b.step()
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert opt_b.steps == 6


def test_state_dict_keys_and_copies():
    mod = FakeModule(w=np.ones(2), b=np.ones(1))
    mod.grads["w"][...] = 1.0
    mod.grads["b"][...] = 1.0
    opt = Adam(mod, lr=0.1, clipnorm=2.0)
    assert set(opt.state_dict()) == {
        "type", "step", "lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad",
        "clipnorm", "clipvalue", "skip_nonfinite",
    }
    opt.step()
    sd = opt.state_dict()
    assert {k for k in sd if "/" in k} == {"m/w", "v/w", "m/b", "v/b"}
    assert sd["clipnorm"] == 2.0 and sd["clipvalue"] is None
    m_saved = sd["m/w"].copy()
    opt.step()
    np.testing.assert_array_equal(sd["m/w"], m_saved)  # a copy, not the live buffer


def test_load_state_dict_rejects_mismatches_without_changing_anything():
    mod = FakeModule(w=np.ones(2))
    mod.grads["w"][...] = 1.0
    adam = Adam(mod, lr=0.1)
    adam.step()
    sd = adam.state_dict()
    with pytest.raises(ValueError, match="state_dict\\['type'\\] must be 'SGD', got 'Adam'"):
        SGD(mod, lr=0.1).load_state_dict(sd)
    other = Adam(FakeModule(w=np.ones(3)), lr=0.5)
    with pytest.raises(ValueError, match=r"state_dict\['m/w'\] must have shape \(3,\), got \(2,\)"):
        other.load_state_dict(sd)
    assert other.lr == 0.5 and other.state == {}
    with pytest.raises(ValueError, match="no parameter 'q'"):
        adam.load_state_dict({**sd, "m/q": np.ones(2)})
    with pytest.raises(ValueError, match="unknown key 'momentum'"):
        adam.load_state_dict({**sd, "momentum": 0.9})
    with pytest.raises(ValueError, match=r"beta1 must be in \[0.0, 1.0\)"):
        adam.load_state_dict({**sd, "beta1": 2.0, "lr": 0.7})
    assert adam.beta1 == 0.9 and adam.lr == 0.1


# --------------------------------------------------------------------------- schedules


def make_opt(lr: float = 1.0) -> SGD:
    return SGD(FakeModule(w=np.ones(1)), lr=lr)


def lrs(sched, n: int) -> list[float]:
    return [sched.step() for _ in range(n)]


def test_step_exponential_lambda_schedules():
    opt = make_opt(1.0)
    s = StepLR(opt, step_size=2, gamma=0.5)
    assert opt.lr == 1.0
    assert lrs(s, 5) == [1.0, 0.5, 0.5, 0.25, 0.25]
    assert opt.lr == 0.25 and s.get_last_lr() == 0.25
    opt = make_opt(1.0)
    assert lrs(ExponentialLR(opt, gamma=0.5), 3) == [0.5, 0.25, 0.125]
    opt = make_opt(0.6)
    s = LambdaLR(opt, lambda e: 1 / (e + 1))
    assert opt.lr == 0.6
    assert lrs(s, 2) == pytest.approx([0.3, 0.2], rel=1e-15)


def test_cosine_schedule():
    opt = make_opt(1.1)
    s = CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    got = lrs(s, 8)
    hi = 0.1 + (1 + math.cos(math.pi / 4)) / 2  # epochs 1 and 7
    lo = 0.1 + (1 - math.cos(math.pi / 4)) / 2  # epochs 3 and 5
    expected = [hi, 0.6, lo, 0.1, lo, 0.6, hi, 1.1]  # periodic past T_max, as PyTorch
    np.testing.assert_allclose(got, expected, rtol=1e-14)


def test_reduce_on_plateau():
    opt = make_opt(1.0)
    s = ReduceLROnPlateau(opt, factor=0.5, patience=1)
    got = [s.step(m) for m in [1.0, 0.5, 0.6, 0.7, 0.4, 0.4, 0.4, 0.4]]
    assert got == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    opt = make_opt(1.0)
    s = ReduceLROnPlateau(opt, factor=0.5, patience=0, cooldown=2, min_lr=0.2)
    got = [s.step(1.0) for _ in range(11)]
    assert got == [1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2]
    opt = make_opt(1.0)
    s = ReduceLROnPlateau(opt, patience=0)
    # 0.99995 is not below 1 * (1 - 1e-4): not an improvement under the relative threshold
    assert [s.step(m) for m in [1.0, 0.99995, 0.9]] == pytest.approx([1.0, 0.1, 0.1], rel=1e-12)
    assert s.best == 0.9
    opt = make_opt(1.0)
    s = ReduceLROnPlateau(opt, mode="max", threshold=0.1, threshold_mode="abs", patience=0)
    # 1.05 and 1.25 do not beat the best by the absolute threshold 0.1; 1.2 does
    got = [s.step(m) for m in [1.0, 1.05, 1.2, 1.25]]
    assert got == pytest.approx([1.0, 0.1, 0.1, 0.01], rel=1e-12)
    assert s.best == 1.2
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', got 'up'"):
        ReduceLROnPlateau(opt, mode="up")


def test_schedules_match_torch():
    torch = pytest.importorskip("torch")
    cases = [
        (StepLR, dict(step_size=3, gamma=0.7)),
        (ExponentialLR, dict(gamma=0.9)),
        (CosineAnnealingLR, dict(T_max=7, eta_min=0.01)),
        (LambdaLR, dict(lr_lambda=lambda e: 0.95**e / (1 + e % 2))),
    ]
    for cls, kw in cases:
        opt = make_opt(0.3)
        tp = torch.zeros(1, requires_grad=True)
        topt = torch.optim.SGD([tp], lr=0.3)
        s = cls(opt, **kw)
        ts = getattr(torch.optim.lr_scheduler, cls.__name__)(topt, **kw)
        assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)
        for _ in range(20):
            topt.step()
            ts.step()
            s.step()
            ref = topt.param_groups[0]["lr"]
            assert opt.lr == pytest.approx(ref, rel=1e-9, abs=1e-15), cls.__name__
    rng = np.random.default_rng(4)
    metrics = 5 + np.cumsum(rng.normal(0.0, 0.15, 60))  # steps of ~3%, threshold 5%
    opt = make_opt(0.3)
    tp = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([tp], lr=0.3)
    kw = dict(factor=0.5, patience=2, cooldown=1, threshold=0.05, min_lr=0.01)
    s = ReduceLROnPlateau(opt, **kw)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    changes = 0
    for m in metrics:
        before = opt.lr
        ts.step(float(m))
        s.step(float(m))
        changes += opt.lr != before
        assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)
    assert changes >= 2


@pytest.mark.parametrize(
    "make",
    [
        lambda o: StepLR(o, step_size=2, gamma=0.5),
        lambda o: CosineAnnealingLR(o, T_max=5),
        lambda o: ReduceLROnPlateau(o, patience=1, factor=0.5),
    ],
)
def test_schedule_state_dict_round_trip(make):
    metrics = [1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7, 0.8]
    opt_a = make_opt(1.0)
    a = make(opt_a)
    plateau = isinstance(a, ReduceLROnPlateau)
    for m in metrics[:4]:
        a.step(m) if plateau else a.step()
    sd = json.loads(json.dumps(a.state_dict()))
    opt_b = make_opt(1.0)
    b = make(opt_b)
    b.load_state_dict(sd)
    opt_b.load_state_dict(opt_a.state_dict())  # the lr itself travels with the optimiser
    for m in metrics[4:]:
        got_a = a.step(m) if plateau else a.step()
        got_b = b.step(m) if plateau else b.step()
        assert got_a == got_b and opt_a.lr == opt_b.lr
    assert opt_a.lr != 1.0
