"""pyrnn.interop.torch: from_torch / to_torch / load_torch_state_dict copy weights bit for bit
and the converted layers compute what the originals compute. Skipped without torch.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import pyrnn
from pyrnn.interop import from_torch, load_torch_state_dict, to_torch

from conftest import assert_close

torch = pytest.importorskip("torch")

TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64}
CELLS = {"rnn_tanh": ("RNN", {"nonlinearity": "tanh"}), "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
         "lstm": ("LSTM", {}), "gru": ("GRU", {})}
CONFIGS = {  # id -> torch/pyrnn constructor keywords
    "plain": {},
    "stacked_bi": {"num_layers": 2, "bidirectional": True},
    "nobias_batch_first": {"bias": False, "batch_first": True},
    "dropout_3layers": {"num_layers": 3, "dropout": 0.25, "batch_first": True},
}
T_, B_, I_, H_ = 6, 3, 4, 5


@pytest.fixture(autouse=True, scope="module")
def torch_single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_torch(cell: str, dtype: str, seed: int = 0, **opts):
    name, extra = CELLS[cell]
    torch.manual_seed(seed)
    return getattr(torch.nn, name)(I_, H_, dtype=TORCH_DTYPE[dtype], **extra, **opts)


def run_both(module, layer, x: np.ndarray):
    """Eval-mode outputs (output, h_n[, c_n]) of a torch module and a pyrnn layer."""
    module.eval()
    layer.eval()
    with torch.no_grad():
        t_out, t_state = module(torch.from_numpy(x))
    with pyrnn.no_grad():
        p_out, p_state = layer(x)
    t = [t_out] + (list(t_state) if isinstance(t_state, tuple) else [t_state])
    p = [p_out] + (list(p_state) if isinstance(p_state, tuple) else [p_state])
    return [a.numpy() for a in t], p


def same_config(module, layer) -> None:
    for attr in ("input_size", "hidden_size", "num_layers", "bias", "batch_first",
                 "bidirectional", "dropout"):
        assert getattr(layer, attr) == getattr(module, attr), attr
    if isinstance(module, torch.nn.RNN):
        assert layer.nonlinearity == module.nonlinearity


def assert_params_identical(module, layer) -> None:
    sd = module.state_dict()
    assert list(sd) == list(layer.params), "parameter names or order differ"
    for name, t in sd.items():
        p = layer.params[name]
        assert p.dtype == t.numpy().dtype and np.array_equal(p, t.numpy()), name


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_from_torch_is_exact(cell, dtype, config):
    opts = CONFIGS[config]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        module = make_torch(cell, dtype, **opts)
    layer = from_torch(module)
    assert type(layer).__name__ == CELLS[cell][0] and layer.dtype == np.dtype(dtype)
    same_config(module, layer)
    assert layer.training == module.training
    assert_params_identical(module, layer)
    x = np.random.default_rng(1).standard_normal(
        (B_, T_, I_) if opts.get("batch_first") else (T_, B_, I_)).astype(dtype)
    for name, t, p in zip(["output", "h_n", "c_n"], *run_both(module, layer, x)):
        assert_close(p, t, dtype, "forward", name)


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("cell", list(CELLS))
def test_to_torch_is_exact_and_round_trips(cell, config):
    opts = CONFIGS[config]
    name, extra = CELLS[cell]
    layer = getattr(pyrnn, name)(I_, H_, dtype="float64", seed=3, **extra, **opts)
    layer.eval()
    module = to_torch(layer)
    assert isinstance(module, getattr(torch.nn, name)) and not module.training
    assert module.weight_ih_l0.dtype == torch.float64 and not module.weight_ih_l0.is_cuda
    same_config(module, layer)
    assert_params_identical(module, layer)
    back = from_torch(module)  # round trip: bit for bit
    for k, p in layer.params.items():
        assert np.array_equal(back.params[k], p), k
    # the module owns its weights: changing it leaves the layer alone
    snapshot = layer.state_dict()
    with torch.no_grad():
        module.weight_hh_l0.add_(1.0)
    assert np.array_equal(layer.params["weight_hh_l0"], snapshot["weight_hh_l0"])
    with torch.no_grad():
        module.weight_hh_l0.copy_(torch.from_numpy(snapshot["weight_hh_l0"]))
    x = np.random.default_rng(2).standard_normal(
        (B_, T_, I_) if opts.get("batch_first") else (T_, B_, I_))
    for label, t, p in zip(["output", "h_n", "c_n"], *run_both(module, layer, x)):
        assert_close(p, t, "float64", "forward", label)


def test_mode_follows_the_source():
    module = make_torch("lstm", "float32").train()
    assert from_torch(module).training
    assert not from_torch(module.eval()).training
    layer = pyrnn.GRU(I_, H_)
    assert to_torch(layer).training and not to_torch(layer.eval()).training


def test_load_torch_state_dict_accepts_tensors_and_prefix():
    torch.manual_seed(0)
    net = torch.nn.ModuleDict({"enc": torch.nn.GRU(I_, H_, num_layers=2, bidirectional=True),
                               "head": torch.nn.Linear(2 * H_, 3)})
    layer = pyrnn.GRU(I_, H_, num_layers=2, bidirectional=True)
    assert load_torch_state_dict(layer, net.state_dict(), prefix="enc.") is layer
    assert_params_identical(net["enc"], layer)
    other = pyrnn.GRU(I_, H_, num_layers=2, bidirectional=True)
    load_torch_state_dict(other, dict(net["enc"].named_parameters()))  # requires_grad tensors
    assert_params_identical(net["enc"], other)
    # float64 tensors into a float32 layer: cast, like torch's load_state_dict
    module64 = make_torch("lstm", "float64")
    layer32 = pyrnn.LSTM(I_, H_)
    load_torch_state_dict(layer32, module64.state_dict())
    assert layer32.params["weight_ih_l0"].dtype == np.float32
    np.testing.assert_array_equal(layer32.params["weight_ih_l0"],
                                  module64.weight_ih_l0.detach().numpy().astype(np.float32))


def test_load_torch_state_dict_checks_before_changing_anything():
    layer = pyrnn.LSTM(I_, H_)
    before = layer.state_dict()
    sd = make_torch("lstm", "float32").state_dict()
    bad = dict(sd, bias_hh_l0=torch.zeros(3))
    with pytest.raises(ValueError, match="bias_hh_l0"):
        load_torch_state_dict(layer, bad)
    with pytest.raises(ValueError, match="missing"):
        load_torch_state_dict(layer, {"weight_ih_l0": sd["weight_ih_l0"]})
    with pytest.raises(ValueError, match="prefix"):
        load_torch_state_dict(layer, sd, prefix="rnn.")
    with pytest.raises(TypeError, match="state_dict"):
        load_torch_state_dict(layer, [sd["weight_ih_l0"]])
    for k, v in before.items():
        assert np.array_equal(layer.params[k], v), k


def test_cho_gru_has_no_torch_equivalent():
    cho = pyrnn.GRU(I_, H_, reset_after=False)
    with pytest.raises(ValueError, match="reset_after=False.*no exact torch equivalent"):
        to_torch(cho)
    with pytest.raises(ValueError, match="no exact torch equivalent"):
        load_torch_state_dict(cho, make_torch("gru", "float32").state_dict())


def test_unsupported_modules_raise():
    with pytest.raises(ValueError, match="proj_size"):
        from_torch(torch.nn.LSTM(I_, H_, proj_size=2))
    with pytest.raises(ValueError, match="proj_size"):
        load_torch_state_dict(pyrnn.LSTM(I_, H_), torch.nn.LSTM(I_, H_, proj_size=2).state_dict())
    with pytest.raises(TypeError, match="module"):
        from_torch(torch.nn.Linear(3, 4))
    with pytest.raises(TypeError, match="float16"):
        from_torch(torch.nn.GRU(I_, H_).half())
    with pytest.raises(TypeError, match="layer"):
        to_torch(torch.nn.GRU(I_, H_))
