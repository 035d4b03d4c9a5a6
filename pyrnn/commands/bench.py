"""Time pyrnn against the NumPy reference, PyTorch and onnxruntime on this machine.

``pyrnn bench`` gives every framework the same shapes, weights, inputs, dtype and thread
count, warms each up, reports medians of repeated timings, and checks each framework's
result against pyrnn's (and pyrnn's against the NumPy reference) once, outside timing.
PyTorch and onnxruntime are optional: absent ones are skipped with a note. For streaming,
``capi`` is pyrnn's embeddable C API (pyrnn.h) stepped from a C++ loop: what a C
application sees, without Python's per-call overhead.

The helpers here (shapes, FLOP counts, problem generation, framework adapters, the private
ONNX builder) are also what the pytest-benchmark suite in ``bench/`` uses.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, ContextManager, Dict, List, Optional, Sequence, Tuple

import numpy as np

Array = np.ndarray

# ---------------------------------------------------------------------------------------
# What is benchmarked
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """One problem size: B sequences of T steps, I input features, H hidden units."""

    label: str
    B: int
    T: int
    I: int  # noqa: E741 - the size letters are the project's (DESIGN.md)
    H: int

    @property
    def dims(self) -> str:
        return f"{self.B},{self.T},{self.I},{self.H}"


# The performance issue's shapes (issue 3).
SHAPES: Dict[str, Shape] = {
    "a": Shape("a", 64, 100, 256, 256),
    "b": Shape("b", 32, 200, 128, 512),
    "c": Shape("c", 16, 50, 1024, 1024),
    "d": Shape("d", 1, 1000, 64, 128),
}
# cell id -> (class name in pyrnn and torch.nn, gates G)
CELLS: Dict[str, Tuple[str, int]] = {"rnn": ("RNN", 1), "lstm": ("LSTM", 4), "gru": ("GRU", 3)}
MODES = ("inference", "training", "streaming")
COMPARE = ("reference", "torch", "onnxruntime", "capi")
STREAM_HIDDEN = (32, 128, 512)
STREAM_STEPS = 16  # distinct input steps a streaming run cycles through
PROXY_STEPS = 8    # steps of the proxy problem the reference checks when the full one is slow
# Idle pause before each framework's warm-up, and before a sample that follows another
# framework's (run_case): the previous runtime's worker threads (OpenBLAS, another
# OpenMP, onnxruntime's pool) spin-wait for a while after their last task, and on a
# small machine that steals the cores the next framework is timed on.
COOL_DOWN_S = 0.05
# Longer pauses after the frameworks whose workers spin longer. Measured on 2 cores:
# right after the reference (numpy's OpenBLAS, 2 threads) a 2-thread FMA probe runs at
# half speed for 50-100 ms (OpenBLAS's threads spin about 0.1 s before they sleep), after
# onnxruntime for 10-20 ms, after torch and pyrnn not at all.
SPIN_AFTER_S = {"reference": 0.2}


def _pause_after(framework: str) -> float:
    """How long `framework`'s workers may spin after it ran: the cool-down it needs."""
    return max(COOL_DOWN_S, SPIN_AFTER_S.get(framework, 0.0))


def _pause(seconds: float) -> None:
    """Sleep through a cool-down (one place, for the tests)."""
    time.sleep(seconds)


def _clock() -> float:
    """The clock cool-downs are measured on (one place, for the tests)."""
    return time.perf_counter()

# Relative error max|a - b| / max|b| allowed between two frameworks' results, per dtype and
# kind of result. Looser than tests/conftest.py's: the shapes here are large (sums over
# I + H terms per output, T*B terms per weight gradient) and every framework rounds and
# approximates exp/tanh its own way.
# Measured on the issue's shapes: at most ~4e-6 (float32) between any two frameworks.
CHECK_TOLERANCE = {
    ("float32", "forward"): 1e-4,
    ("float32", "training"): 1e-3,
    ("float64", "forward"): 1e-9,
    ("float64", "training"): 1e-8,
}


def stream_shape(H: int) -> Shape:
    """Streaming: one step (T=1) of one sequence (B=1), input size I = H."""
    return Shape(f"H={H}", 1, 1, H, H)


def forward_flops(cell: str, shape: Shape) -> int:
    """2*B*T*G*H*(I+H): the multiply-adds of the input and recurrent matmuls, one layer
    and direction (bias and gate arithmetic are not counted)."""
    G = CELLS[cell][1]
    return 2 * shape.B * shape.T * G * shape.H * (shape.I + shape.H)


def case_flops(cell: str, shape: Shape, mode: str) -> int:
    """FLOPs of one timed call: a forward, or a training step (forward + BPTT) = 3x that."""
    return forward_flops(cell, shape) * (3 if mode == "training" else 1)


def check_tolerance(dtype: str, mode: str) -> float:
    return CHECK_TOLERANCE[(dtype, "training" if mode == "training" else "forward")]


@dataclass
class Problem:
    """Weights (torch.nn names and layout), inputs and upstream gradient for one case."""

    cell: str
    shape: Shape
    mode: str
    dtype: str
    weights: Dict[str, Array]
    x: Array            # (T, B, I); streaming: (STREAM_STEPS, 1, I), one step per call
    h0: Array           # (1, B, H)
    c0: Optional[Array]  # (1, B, H) for LSTM
    g: Optional[Array]  # (T, B, H) dL/d(output) for training

    def truncated(self, T: int) -> "Problem":
        """The same problem over its first T steps: the proxy the slow reference checks."""
        if self.mode == "streaming" or T >= self.shape.T:
            return self
        return replace(self, shape=replace(self.shape, T=T), x=self.x[:T],
                       g=None if self.g is None else self.g[:T])


def make_problem(cell: str, shape: Shape, mode: str, dtype: str = "float32",
                 seed: int = 0) -> Problem:
    """Random weights drawn like torch.nn's default (U(+-1/sqrt(H))), x ~ N(0, 1), small
    random initial states (so state inputs are exercised) and a random upstream gradient."""
    if cell not in CELLS:
        raise ValueError(f"cell: expected one of {list(CELLS)}, got {cell!r}")
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {list(MODES)}, got {mode!r}")
    rng = np.random.default_rng(seed)
    G, (B, T, I, H) = CELLS[cell][1], (shape.B, shape.T, shape.I, shape.H)
    k = 1.0 / math.sqrt(H)
    weights = {
        "weight_ih_l0": rng.uniform(-k, k, (G * H, I)),
        "weight_hh_l0": rng.uniform(-k, k, (G * H, H)),
        "bias_ih_l0": rng.uniform(-k, k, G * H),
        "bias_hh_l0": rng.uniform(-k, k, G * H),
    }
    weights = {n: w.astype(dtype) for n, w in weights.items()}
    steps = STREAM_STEPS if mode == "streaming" else T
    x = rng.standard_normal((steps, B, I)).astype(dtype)
    h0 = (0.1 * rng.standard_normal((1, B, H))).astype(dtype)
    c0 = (0.1 * rng.standard_normal((1, B, H))).astype(dtype) if cell == "lstm" else None
    g = rng.standard_normal((T, B, H)).astype(dtype) if mode == "training" else None
    return Problem(cell, shape, mode, dtype, weights, x, h0, c0, g)


def rel_error(actual: Array, expected: Array) -> float:
    """max|actual - expected| / max|expected| (inf on a shape mismatch)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        return math.inf
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
    err = float(np.max(np.abs(actual - expected), initial=0.0)) / scale
    return err if math.isfinite(err) else math.inf


def compare_results(actual: Dict[str, Array], expected: Dict[str, Array]) -> Tuple[float, str]:
    """Worst relative error over the results both have, and which result it was."""
    worst, where = 0.0, ""
    common = [k for k in expected if k in actual]
    if not common:
        return math.inf, "no common results"
    for key in common:
        err = rel_error(actual[key], expected[key])
        if err >= worst:
            worst, where = err, key
    return worst, where


# ---------------------------------------------------------------------------------------
# Frameworks: each turns a Problem into a timed call and a result to check
# ---------------------------------------------------------------------------------------


class Unsupported(Exception):
    """This framework cannot run this case (the message says why)."""


@dataclass
class Prepared:
    """call(): one timed unit (a forward, a training step, or one streaming step with the
    state carried from the previous call). result(): the outputs of one fresh run, for the
    check (for streaming: STREAM_STEPS steps from the initial state). context(): entered
    around warm-up and timing (no_grad / inference_mode). timed(n), when given, makes n
    such calls in a native loop and returns the seconds they took; the harness then uses
    it instead of timing call() from Python (same warm-up, samples and medians)."""

    call: Callable[[], Any]
    result: Callable[[], Dict[str, Array]]
    context: Callable[[], ContextManager] = contextlib.nullcontext
    timed: Optional[Callable[[int], float]] = None


class Framework:
    """A framework adapter. Subclasses say whether they are installed, set threads, and
    prepare problems."""

    name = ""
    modes: Tuple[str, ...] = MODES

    def version(self) -> Optional[str]:
        """The version string, or None when not installed."""
        raise NotImplementedError

    def missing_note(self) -> str:
        return f"{self.name} is not installed"

    def set_threads(self, n: int) -> str:
        """Use n threads; returns how (for the header)."""
        raise NotImplementedError

    def restore_threads(self) -> None:
        pass

    def prepare(self, p: Problem) -> Prepared:
        raise NotImplementedError


def _pyrnn_layer(p: Problem, backend: str):
    import pyrnn
    layer = getattr(pyrnn, CELLS[p.cell][0])(p.shape.I, p.shape.H, dtype=p.dtype,
                                             backend=backend)
    layer.load_state_dict(p.weights)
    return layer


def model_file_bytes(p: Problem) -> bytes:
    """p's layer and weights as a .pyrnn model file (docs/model-format.md), written by
    ``Sequential.save`` as a user would: the bytes a C application loads."""
    import tempfile
    import pyrnn
    model = pyrnn.Sequential([_pyrnn_layer(p, "engine")])
    with tempfile.TemporaryDirectory(prefix="pyrnn-bench-") as folder:
        path = os.path.join(folder, f"{p.cell}.pyrnn")
        model.save(path, include_optimizer=False)
        with open(path, "rb") as f:
            return f.read()


class PyrnnFramework(Framework):
    """pyrnn's layers (``backend='engine'``, or the NumPy oracle with ``'reference'``)."""

    name = "pyrnn"
    backend = "engine"

    def __init__(self) -> None:
        self._before: Optional[int] = None

    def version(self) -> Optional[str]:
        import pyrnn
        return pyrnn.__version__

    def set_threads(self, n: int) -> str:
        import pyrnn
        if self._before is None:
            self._before = pyrnn.get_num_threads()
        pyrnn.set_num_threads(n)
        return "pyrnn.set_num_threads"

    def restore_threads(self) -> None:
        import pyrnn
        if self._before is not None:
            pyrnn.set_num_threads(self._before)

    def prepare(self, p: Problem) -> Prepared:
        import pyrnn
        layer = _pyrnn_layer(p, self.backend)
        lstm = p.cell == "lstm"
        hx = (p.h0, p.c0) if lstm else p.h0

        def states(st) -> Dict[str, Array]:
            return {"h_n": st[0], "c_n": st[1]} if lstm else {"h_n": st}

        if p.mode == "inference":
            def call():
                return layer(p.x, hx)

            def result():
                with pyrnn.no_grad():
                    out, st = layer(p.x, hx)
                return {"out": out, **states(st)}
            return Prepared(call, result, pyrnn.no_grad)

        if p.mode == "training":
            # Parameter gradients accumulate across timed calls (pyrnn's contract, like
            # torch's .grad without zeroing); result() starts from zero.
            def call():
                out, _ = layer(p.x, hx)
                return layer.backward(p.g)

            def result():
                layer.zero_grad()
                out, st = layer(p.x, hx)
                dx, dst = layer.backward(p.g)
                res = {"out": out, "dx": dx, **states(st)}
                res.update({"dh0": dst[0], "dc0": dst[1]} if lstm else {"dh0": dst})
                res.update({f"grad.{k}": v.copy() for k, v in layer.grads.items()})
                return res
            return Prepared(call, result)

        if self.backend == "reference":
            # The NumPy reference has no packed streaming path: T=1 calls, state fed back.
            xs = list(p.x[:, None])
            carried, counter = [hx], [0]

            def ref_step():
                i = counter[0]
                counter[0] = (i + 1) % len(xs)
                out, carried[0] = layer(xs[i], carried[0])
                return out

            def ref_result():
                st, outs = hx, []
                with pyrnn.no_grad():
                    for xt in xs:
                        out, st = layer(xt, st)
                        outs.append(out)
                return {"out": np.concatenate(outs), **states(st)}
            return Prepared(ref_step, ref_result, pyrnn.no_grad)

        # Streaming through the Python API: layer.stream() packs the weights once and
        # steps with the state carried inside, allocating nothing per step.
        steps = [np.ascontiguousarray(xt) for xt in p.x]  # (1, I) each
        stream = layer.stream(batch_size=1)

        def seed(s) -> None:
            if lstm:
                s.h[...], s.c[...] = hx[0], hx[1]
            else:
                s.h[...] = hx
        seed(stream)
        counter = [0]

        def step():
            i = counter[0]
            counter[0] = (i + 1) % len(steps)
            return stream.step(steps[i])

        def stream_result():
            s = layer.stream(batch_size=1)
            seed(s)
            outs = [s.step(xt)[None].copy() for xt in steps]
            st = (s.h.copy(), s.c.copy()) if lstm else s.h.copy()
            return {"out": np.concatenate(outs), **states(st)}
        return Prepared(step, stream_result, pyrnn.no_grad)


def blas_thread_limit(n: int) -> Any:
    """numpy's BLAS limited to n threads until the returned threadpoolctl limiter is
    restored (also a context manager); None when threadpoolctl is not installed."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl.threadpool_limits(limits=n, user_api="blas")


class ReferenceFramework(PyrnnFramework):
    """The NumPy reference (pyrnn layers with ``backend='reference'``); BLAS threads are
    limited with threadpoolctl when it is installed."""

    name = "reference"
    backend = "reference"

    def __init__(self) -> None:
        super().__init__()
        self._limiter = None

    def version(self) -> Optional[str]:
        return f"numpy {np.__version__}"

    def set_threads(self, n: int) -> str:
        if self._limiter is not None:
            self._limiter.restore_original_limits()
        self._limiter = blas_thread_limit(n)
        if self._limiter is None:
            return "numpy BLAS threads NOT controlled (pip install threadpoolctl)"
        return "threadpoolctl (numpy's BLAS)"

    def restore_threads(self) -> None:
        if self._limiter is not None:
            self._limiter.restore_original_limits()
            self._limiter = None


class TorchFramework(Framework):
    """torch.nn.RNN/LSTM/GRU with the same weights (float32 or float64)."""

    name = "torch"

    def __init__(self) -> None:
        self._before: Optional[int] = None

    def version(self) -> Optional[str]:
        try:
            import torch
        except ImportError:
            return None
        return torch.__version__

    def missing_note(self) -> str:
        return "torch is not installed (pip install torch)"

    def set_threads(self, n: int) -> str:
        import torch
        if self._before is None:
            self._before = torch.get_num_threads()
        torch.set_num_threads(n)
        return "torch.set_num_threads"

    def restore_threads(self) -> None:
        if self._before is not None:
            import torch
            torch.set_num_threads(self._before)

    def prepare(self, p: Problem) -> Prepared:
        import torch
        tdtype = {"float32": torch.float32, "float64": torch.float64}[p.dtype]
        layer = getattr(torch.nn, CELLS[p.cell][0])(p.shape.I, p.shape.H, dtype=tdtype)
        layer.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in p.weights.items()})
        lstm = p.cell == "lstm"
        t = torch.from_numpy
        h0, c0 = t(p.h0.copy()), (t(p.c0.copy()) if lstm else None)
        hx = (h0, c0) if lstm else h0

        def states(st) -> Dict[str, Array]:
            if lstm:
                return {"h_n": st[0].detach().numpy(), "c_n": st[1].detach().numpy()}
            return {"h_n": st.detach().numpy()}

        if p.mode == "inference":
            x = t(p.x.copy())

            def call():
                return layer(x, hx)

            def result():
                with torch.inference_mode():
                    out, st = layer(x, hx)
                return {"out": out.numpy(), **states(st)}
            return Prepared(call, result, torch.inference_mode)

        if p.mode == "training":
            # Like pyrnn, compute dx and d(initial state) too; out.backward(g) is the
            # gradient of (out * g).sum().
            x = t(p.x.copy()).requires_grad_(True)
            for s in (h0, c0):
                if s is not None:
                    s.requires_grad_(True)
            g = t(p.g.copy())
            leaves = [x, h0] + ([c0] if lstm else []) + list(layer.parameters())

            def call():
                for leaf in leaves:
                    leaf.grad = None
                out, _ = layer(x, hx)
                out.backward(g)

            def result():
                for leaf in leaves:
                    leaf.grad = None
                out, st = layer(x, hx)
                out.backward(g)
                res = {"out": out.detach().numpy(), "dx": x.grad.numpy(), **states(st),
                       "dh0": h0.grad.numpy()}
                if lstm:
                    res["dc0"] = c0.grad.numpy()
                res.update({f"grad.{k}": v.grad.numpy().copy()
                            for k, v in layer.named_parameters()})
                return res
            return Prepared(call, result)

        steps = [t(xt[None].copy()) for xt in p.x]
        carried = [hx]
        counter = [0]

        def step():
            i = counter[0]
            counter[0] = (i + 1) % len(steps)
            out, carried[0] = layer(steps[i], carried[0])
            return out

        def stream_result():
            st, outs = hx, []
            with torch.inference_mode():
                for xt in steps:
                    out, st = layer(xt, st)
                    outs.append(out.numpy())
            return {"out": np.concatenate(outs), **states(st)}
        return Prepared(step, stream_result, torch.inference_mode)


def onnx_recurrent_model(cell: str, weights: Dict[str, Array], input_size: int,
                         hidden_size: int, dtype: str = "float32") -> bytes:
    """A one-node ONNX graph (RNN, LSTM or GRU) holding torch-layout weights, serialized.

    Private to the benchmark (the general exporter lives in pyrnn's interop). Inputs X
    (T, B, I), initial_h (1, B, H) [, initial_c]; outputs Y (T, 1, B, H), Y_h [, Y_c].
    Gate orders: ONNX LSTM is i,o,f,c (torch i,f,g,o); ONNX GRU is z,r,h (torch r,z,n),
    with linear_before_reset=1 for torch's reset-after form. W (1, G*H, I), R (1, G*H, H),
    B (1, 2*G*H) = [W biases, R biases].
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H = hidden_size
    perm = {"rnn": [0], "lstm": [0, 3, 1, 2], "gru": [1, 0, 2]}[cell]

    def gates(a: Array) -> Array:
        return np.concatenate([a[k * H:(k + 1) * H] for k in perm], axis=0)

    W = gates(weights["weight_ih_l0"])[None]
    R = gates(weights["weight_hh_l0"])[None]
    Bias = np.concatenate([gates(weights["bias_ih_l0"]), gates(weights["bias_hh_l0"])])[None]
    elem = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}[dtype]
    lstm = cell == "lstm"
    inputs = [helper.make_tensor_value_info("X", elem, ["T", "B", input_size]),
              helper.make_tensor_value_info("initial_h", elem, [1, "B", H])]
    outputs = [helper.make_tensor_value_info("Y", elem, ["T", 1, "B", H]),
               helper.make_tensor_value_info("Y_h", elem, [1, "B", H])]
    node_in = ["X", "W", "R", "B", "", "initial_h"]
    node_out = ["Y", "Y_h"]
    attrs: Dict[str, Any] = {"hidden_size": H}
    if lstm:
        inputs.append(helper.make_tensor_value_info("initial_c", elem, [1, "B", H]))
        outputs.append(helper.make_tensor_value_info("Y_c", elem, [1, "B", H]))
        node_in.append("initial_c")
        node_out.append("Y_c")
    if cell == "gru":
        attrs["linear_before_reset"] = 1
    op = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[cell]
    node = helper.make_node(op, node_in, node_out, **attrs)
    init = [numpy_helper.from_array(np.ascontiguousarray(a, dtype), n)
            for n, a in (("W", W), ("R", R), ("B", Bias))]
    graph = helper.make_graph([node], f"pyrnn_bench_{cell}", inputs, outputs, init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="pyrnn-bench")
    model.ir_version = 8  # old enough for any recent onnxruntime
    onnx.checker.check_model(model)
    return model.SerializeToString()


class OnnxRuntimeFramework(Framework):
    """onnxruntime's CPU provider on a one-node graph with the same weights (inference
    and streaming; training needs onnxruntime-training, which this does not use)."""

    name = "onnxruntime"
    modes = ("inference", "streaming")

    def __init__(self) -> None:
        self.threads = 1

    def version(self) -> Optional[str]:
        try:
            import onnx  # noqa: F401 - needed to build the graph
            import onnxruntime
        except ImportError:
            return None
        return onnxruntime.__version__

    def missing_note(self) -> str:
        return "onnxruntime or onnx is not installed (pip install onnx onnxruntime)"

    def set_threads(self, n: int) -> str:
        self.threads = n
        return "SessionOptions intra_op_num_threads=n, inter_op_num_threads=1"

    def prepare(self, p: Problem) -> Prepared:
        import onnxruntime as ort
        if p.dtype != "float32":
            # Sessions build, but its CPU RNN/LSTM/GRU kernels refuse doubles when run.
            raise Unsupported("onnxruntime's CPU RNN/LSTM/GRU kernels are float32 only")
        model = onnx_recurrent_model(p.cell, p.weights, p.shape.I, p.shape.H, p.dtype)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - e.g. no float64 kernel for this op
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise Unsupported(f"onnxruntime cannot run this graph: {first[:120]}") from None
        lstm = p.cell == "lstm"
        feeds = {"X": p.x, "initial_h": p.h0}
        state_names = ["Y_h", "Y_c"] if lstm else ["Y_h"]
        if lstm:
            feeds["initial_c"] = p.c0

        def states(st: Sequence[Array]) -> Dict[str, Array]:
            return {"h_n": st[0], "c_n": st[1]} if lstm else {"h_n": st[0]}

        if p.mode == "inference":
            names = ["Y"] + state_names

            def call():
                return sess.run(names, feeds)

            def result():
                y, *st = sess.run(names, feeds)
                return {"out": y[:, 0], **states(st)}
            return Prepared(call, result)

        steps = [np.ascontiguousarray(xt[None]) for xt in p.x]
        init = [p.h0, p.c0] if lstm else [p.h0]
        state_inputs = ["initial_h", "initial_c"] if lstm else ["initial_h"]
        carried = [dict(zip(state_inputs, init))]
        counter = [0]

        def step():
            i = counter[0]
            counter[0] = (i + 1) % len(steps)
            st = sess.run(state_names, {"X": steps[i], **carried[0]})
            carried[0] = dict(zip(state_inputs, st))
            return st

        def stream_result():
            st, outs = dict(zip(state_inputs, init)), []
            for xt in steps:
                new = sess.run(state_names, {"X": xt, **st})
                outs.append(new[0][0][None])  # Y_h (1, 1, H) is this step's output
                st = dict(zip(state_inputs, new))
            return {"out": np.concatenate(outs), **states([st[n] for n in state_inputs])}
        return Prepared(step, stream_result)


class CapiFramework(Framework):
    """pyrnn's embeddable C API (pyrnn.h), compiled into pyrnn._core: the case's weights
    saved as a .pyrnn file, loaded with pyrnn_model_load_memory, one pyrnn_state, and
    pyrnn_step called from a C++ loop that the harness's samples time (streaming only;
    float32 only, like the C API)."""

    name = "capi"
    modes = ("streaming",)

    def __init__(self) -> None:
        self._before: Optional[int] = None

    def version(self) -> Optional[str]:
        from pyrnn import _core
        if not hasattr(_core, "CapiStream"):
            return None
        return f"pyrnn.h {_core.capi_version()}"

    def missing_note(self) -> str:
        return "this pyrnn._core was built without the C API (reinstall pyrnn)"

    def set_threads(self, n: int) -> str:
        from pyrnn import _core
        if self._before is None:
            self._before = _core.capi_get_num_threads()
        _core.capi_set_num_threads(n)
        return "pyrnn_set_num_threads"

    def restore_threads(self) -> None:
        if self._before is not None:
            from pyrnn import _core
            _core.capi_set_num_threads(self._before)

    def prepare(self, p: Problem) -> Prepared:
        from pyrnn import _core
        if p.dtype != "float32":
            raise Unsupported("the C API (pyrnn.h) is float32 only")
        stream = _core.CapiStream(model_file_bytes(p))
        lstm, H = p.cell == "lstm", p.shape.H
        # pyrnn.h's state layout: per recurrent layer, h (H) then c (H, LSTM only).
        init = np.concatenate([p.h0.ravel(), p.c0.ravel()] if lstm else [p.h0.ravel()])
        xs = np.ascontiguousarray(p.x[:, 0])  # (STREAM_STEPS, I), one row per step
        stream.set_state(init)

        def timed(n: int) -> float:
            return stream.time_steps(xs, n)

        def step():
            stream.time_steps(xs, 1)

        def stream_result():
            stream.set_state(init)
            out = stream.steps(xs)  # (STREAM_STEPS, H)
            st = stream.get_state()
            res = {"out": out[:, None], "h_n": st[:H].reshape(1, 1, H)}
            if lstm:
                res["c_n"] = st[H:].reshape(1, 1, H)
            return res
        return Prepared(step, stream_result, timed=timed)


FRAMEWORKS: Dict[str, Callable[[], Framework]] = {
    "pyrnn": PyrnnFramework,
    "reference": ReferenceFramework,
    "torch": TorchFramework,
    "onnxruntime": OnnxRuntimeFramework,
    "capi": CapiFramework,
}

# ---------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Seconds per call, one entry per sample (each sample times calls_per_sample calls)."""

    times: List[float]
    calls_per_sample: int
    warmup_calls: int

    @property
    def median(self) -> float:
        return float(np.median(self.times))

    @property
    def iqr(self) -> float:
        """Interquartile range over the median: the run's noise."""
        q1, q3 = np.percentile(self.times, [25, 75])
        return float((q3 - q1) / self.median) if self.median > 0 else 0.0


class Sampler:
    """One framework's timed samples of one case, taken one at a time so that several
    frameworks' samples can be taken in turn (see run_case).

    Construction warms up: `warmup` calls, or one call when neither warm-up nor `estimate`
    (the time of one call, when already known from a call made before) is given. Fast
    calls are repeated inside a sample until it lasts min_sample_s (the timer and loop
    overhead then don't matter). With budget_s, fewer samples (at least one) are taken so
    that the timing stays within it, judged before and while sampling. With `timed` (see
    Prepared), every call is made and timed by timed(n) instead: warm-up calls are
    timed(1), a sample is timed(n) / n. The caller pauses the garbage collector around
    sample() (pause_gc).
    """

    def __init__(self, call: Callable[[], Any], *, repeats: int, warmup: int,
                 min_sample_s: float,
                 context: Callable[[], ContextManager] = contextlib.nullcontext,
                 estimate: Optional[float] = None, budget_s: Optional[float] = None,
                 timed: Optional[Callable[[int], float]] = None) -> None:
        self._call, self._context, self._timed, self._budget = call, context, timed, budget_s
        self.times: List[float] = []
        self._spent = 0.0
        self._last = 0.0
        with context():
            self.warmup_calls = 0
            for _ in range(warmup):
                estimate = self._one_call()
                self.warmup_calls += 1
            if estimate is None:
                estimate = self._one_call()
                self.warmup_calls += 1
        self.calls_per_sample = int(min(100_000, max(1, math.ceil(
            min_sample_s / max(estimate, 1e-7)))))
        self.samples = repeats
        if budget_s is not None:
            self.samples = max(1, min(repeats, int(budget_s // (estimate *
                                                                self.calls_per_sample))))

    def _one_call(self) -> float:
        if self._timed is not None:
            return self._timed(1)
        t0 = time.perf_counter()
        self._call()
        return time.perf_counter() - t0

    @property
    def done(self) -> bool:
        """All samples taken, or the next one would overrun the budget. (The estimate can
        be wrong on a disturbed machine: the budget holds anyway.)"""
        if len(self.times) >= self.samples:
            return True
        return (self._budget is not None and bool(self.times)
                and self._spent + self._last > self._budget)

    def sample(self) -> None:
        """Take one sample of calls_per_sample calls."""
        n = self.calls_per_sample
        with self._context():
            if self._timed is not None:
                dt = self._timed(n)
            else:
                call = self._call
                t0 = time.perf_counter()
                for _ in range(n):
                    call()
                dt = time.perf_counter() - t0
        self.times.append(dt / n)
        self._spent += dt
        self._last = dt

    @property
    def spent(self) -> float:
        """Seconds of timed samples so far."""
        return self._spent

    def timing(self) -> Timing:
        return Timing(self.times, self.calls_per_sample, self.warmup_calls)

    def take_all(self) -> Timing:
        """The samples left, in a row (the garbage collector paused), and the timing."""
        with pause_gc():
            while not self.done:
                self.sample()
        return self.timing()


@contextlib.contextmanager
def pause_gc():
    """The garbage collector paused while timing, for every framework alike."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def time_calls(call: Callable[[], Any], **kw: Any) -> Timing:
    """Warm up, then time all samples of call() in a row (Sampler's arguments)."""
    return Sampler(call, **kw).take_all()


def measure_gemm_peak(dtype: str, n: int, frameworks: Sequence[str], threads: int,
                      repeats: int = 3) -> Dict[str, float]:
    """Best GFLOP/s of an n x n x n matrix product with pyrnn's GEMM, numpy's matmul and
    (when in `frameworks`) torch.mm, at `threads` threads. 'best' is the max.

    pyrnn's and torch's thread counts are already set by the caller; numpy's BLAS is
    limited to `threads` here with threadpoolctl whatever frameworks are compared. Without
    threadpoolctl numpy's figure is reported as 'numpy matmul (threads not controlled)'
    and left out of 'best' unless `threads` covers every usable CPU (numpy's default)."""
    import pyrnn
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    c = np.empty((n, n), dtype)
    flops = 2.0 * n ** 3
    calls: Dict[str, Callable[[], Any]] = {
        "pyrnn gemm": lambda: pyrnn._core.gemm(False, False, 1.0, a, b, 0.0, c),
        "numpy matmul": lambda: np.matmul(a, b, out=c),
    }
    if "torch" in frameworks:
        import torch
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(np.empty_like(c))
        calls["torch mm"] = lambda: torch.mm(ta, tb, out=tc)
    peaks = {}
    excluded = None  # numpy's label when its threads could not be set
    for name, call in calls.items():
        _pause(COOL_DOWN_S)
        limit = blas_thread_limit(threads) if name == "numpy matmul" else None
        if name == "numpy matmul" and limit is None and threads < usable_cpus():
            name = excluded = "numpy matmul (threads not controlled)"
        with limit or contextlib.nullcontext():
            timing = time_calls(call, repeats=repeats, warmup=1, min_sample_s=0.05)
        peaks[name] = flops / min(timing.times) / 1e9
    peaks["best"] = max(v for k, v in peaks.items() if k != excluded)
    return peaks


def measure_fma_peak(dtype: str, repeats: int = 10) -> float:
    """GFLOP/s of independent vector FMAs of pyrnn's active SIMD target, on all of the
    engine's threads at once (the caller sets the count): the machine's floating-point
    peak as the kernels can use it, which every '% peak' is of. The best of `repeats`
    runs of 0.05 s: a core taken away by the host for a moment lowers a run, never
    raises it."""
    import pyrnn
    _pause(COOL_DOWN_S)
    return float(pyrnn._core.fma_peak(dtype, 0.05, repeats))


# ---------------------------------------------------------------------------------------
# Running the cases
# ---------------------------------------------------------------------------------------


@dataclass
class Row:
    """One framework on one case; JSON-ready via dataclasses.asdict."""

    cell: str
    shape: str
    B: int
    T: int
    I: int  # noqa: E741
    H: int
    mode: str
    threads: int
    dtype: str
    framework: str
    status: str = "ok"  # ok | skipped | error
    note: str = ""
    median_s: Optional[float] = None
    iqr: Optional[float] = None
    times_s: List[float] = field(default_factory=list)
    calls_per_sample: int = 0
    flops: int = 0
    gflops: Optional[float] = None
    pct_peak: Optional[float] = None
    speedup: Optional[float] = None  # this framework's median / pyrnn's: > 1 = pyrnn faster
    check: Optional[Dict[str, Any]] = None
    wall_s: float = 0.0  # all time spent on this framework for this case (setup to samples)


@dataclass
class Settings:
    cells: List[str]
    shapes: List[Shape]
    modes: List[str]
    threads: List[int]
    compare: List[str]
    stream_hidden: List[int]
    repeats: int
    warmup: int
    min_sample_s: float
    peak_size: int
    reference_cap_s: float
    max_time_s: Optional[float]
    dtype: str
    seed: int
    quick: bool
    quiet: bool
    interleave: bool = True  # the frameworks' samples taken in turn (see run_case)


def _log(settings: Settings, msg: str) -> None:
    if not settings.quiet:
        print(msg, file=sys.stderr, flush=True)


def _check(result: Dict[str, Array], expected: Dict[str, Array], dtype: str, mode: str,
           against: str, scope: str) -> Dict[str, Any]:
    err, worst = compare_results(result, expected)
    tol = check_tolerance(dtype, mode)
    # JSON has no infinity: a mismatched shape or a NaN is reported as rel_error None.
    return {"against": against, "scope": scope,
            "rel_error": err if math.isfinite(err) else None, "worst": worst,
            "tolerance": tol, "ok": bool(err <= tol)}


def _row(p: Problem, threads: int, fw: str, **kw) -> Row:
    s = p.shape
    return Row(p.cell, s.label, s.B, s.T, s.I, s.H, p.mode, threads, p.dtype, fw,
               flops=case_flops(p.cell, s, p.mode), **kw)


def _fill_timing(row: Row, timing: Timing) -> None:
    row.median_s, row.iqr = timing.median, timing.iqr
    row.times_s, row.calls_per_sample = timing.times, timing.calls_per_sample
    row.gflops = row.flops / row.median_s / 1e9


def _timed_result(prep: Prepared, mode: str, pause: float) -> Tuple[Dict[str, Array], float]:
    """prep.result() after a cool-down of `pause` seconds, and the time per call it
    implies (it is also the first warm-up call)."""
    if pause > 0:
        _pause(pause)
    t0 = time.perf_counter()
    res = prep.result()
    est = time.perf_counter() - t0
    return res, est / STREAM_STEPS if mode == "streaming" else est


def run_case(p: Problem, threads: int, fws: Dict[str, Framework],
             settings: Settings) -> List[Row]:
    """All selected frameworks on one problem, pyrnn (the anchor) first.

    Per framework, one after another: prepare, a cool-down, one result() call (checked,
    and the first warm-up), warmup - 1 more warm-up calls. Then the timed samples, in
    rounds (settings.interleave): each round takes one sample of every framework that has
    samples left, beginning with the next framework each round, and a cool-down precedes
    every sample that follows another framework's (until the workers of every framework
    that ran are quiet: _pause_after). A disturbance of the machine (a busy
    neighbour, a frequency change) then falls on every framework's samples alike instead
    of on one framework's, and the ratios stay honest; every framework of the case stays
    prepared (its layers, buffers, sessions) until the rounds end. Without interleave,
    each framework takes its samples as soon as it is warmed up, and is freed before the
    next one is prepared. If pyrnn fails, the case ends: there is nothing to compare with.
    """
    anchor = _row(p, threads, "pyrnn")
    rows: List[Row] = [anchor]
    waiting: List[Tuple[Row, Sampler]] = []  # warmed up, samples to take
    quiet_at = [0.0]  # perf_counter time from which no framework's workers still spin

    def ran(framework: str) -> None:
        """`framework` has just run: its workers may spin for _pause_after(framework)."""
        quiet_at[0] = max(quiet_at[0], _clock() + _pause_after(framework))

    def quiet_in() -> float:
        """Seconds until every framework that ran is quiet (at least 0)."""
        return max(0.0, quiet_at[0] - _clock())

    def fail(row: Row, e: Exception) -> None:
        if isinstance(e, Unsupported):
            row.status, row.note = "skipped", str(e)
        else:
            row.status, row.note = "error", f"{type(e).__name__}: {e}"

    def warm_up(row: Row, prep: Prepared, est: float, budget: Optional[float],
                started: float) -> None:
        """Warm-up calls, then the samples (sequential) or a place in the rounds."""
        s = Sampler(prep.call, repeats=settings.repeats, warmup=max(0, settings.warmup - 1),
                    min_sample_s=settings.min_sample_s, context=prep.context, estimate=est,
                    budget_s=budget, timed=prep.timed)
        if settings.interleave:
            waiting.append((row, s))
        else:
            _fill_timing(row, s.take_all())
        ran(row.framework)
        row.wall_s = time.perf_counter() - started  # the rounds add their share

    pyrnn_fw = fws["pyrnn"]
    started = time.perf_counter()
    try:
        prep = pyrnn_fw.prepare(p)
        # (the previous case may have ended with any framework)
        expected, est = _timed_result(prep, p.mode, max([COOL_DOWN_S, *SPIN_AFTER_S.values()]))
        ran("pyrnn")
        warm_up(anchor, prep, est, settings.max_time_s, started)
        del prep
    except Exception as e:  # noqa: BLE001 - report it; without an anchor the case ends
        fail(anchor, e)
        return rows

    # The reference, first on the proxy (the first PROXY_STEPS steps): that checks pyrnn
    # cheaply and estimates what the full run would cost.
    ref_fw = fws.get("reference") or ReferenceFramework()
    proxy = p.truncated(PROXY_STEPS)
    ref_proxy_result, est = _timed_result(ref_fw.prepare(proxy), p.mode, 0.0)
    ran("reference")
    ref_est = est * p.shape.T / proxy.shape.T
    scope = "full" if proxy is p else f"proxy T={proxy.shape.T}"
    if proxy is not p:
        anchor_proxy = pyrnn_fw.prepare(proxy).result()
        ran("pyrnn")
    else:
        anchor_proxy = expected
    anchor.check = _check(anchor_proxy, ref_proxy_result, p.dtype, p.mode, "reference", scope)

    for name, fw in fws.items():
        if name == "pyrnn":
            continue
        row = _row(p, threads, name)
        rows.append(row)
        started = time.perf_counter()
        if p.mode not in fw.modes:
            row.status, row.note = "skipped", f"{name} has no {p.mode} mode here"
            continue
        try:
            if name == "reference" and ref_est > settings.reference_cap_s:
                row.status = "skipped"
                row.note = (f"estimated {ref_est:.1f} s per call > --reference-cap "
                            f"{settings.reference_cap_s:g} s")
                continue
            prep = fw.prepare(p)
            res, est = _timed_result(prep, p.mode, quiet_in())
            ran(name)
            row.check = _check(res, expected, p.dtype, p.mode, "pyrnn", "full")
            budget = settings.max_time_s
            if name == "reference":
                anchor.check = _check(expected, res, p.dtype, p.mode, "reference", "full")
                left = max(settings.reference_cap_s - est, est)
                budget = left if budget is None else min(budget, left)
            warm_up(row, prep, est, budget, started)
            del prep
        except Exception as e:  # noqa: BLE001 - one framework failing must not end the run
            fail(row, e)

    with pause_gc():
        turn, last_s = 0, None
        while waiting:
            k = turn % len(waiting)
            for row, s in waiting[k:] + waiting[:k]:
                t0 = time.perf_counter()
                if s is not last_s:  # the other frameworks' workers stop spinning
                    _pause(quiet_in())
                last_s = s
                try:
                    s.sample()
                except Exception as e:  # noqa: BLE001 - as above
                    fail(row, e)
                ran(row.framework)
                row.wall_s += time.perf_counter() - t0
                if row is anchor and row.status != "ok":
                    break
            if anchor.status != "ok":
                for row, s in waiting:
                    if row is not anchor and row.status == "ok":
                        row.status = "skipped"
                        row.note = "not timed to the end: pyrnn failed, nothing to compare with"
                break
            for row, s in waiting:
                if row.status == "ok" and s.done:
                    _fill_timing(row, s.timing())
            waiting[:] = [(row, s) for row, s in waiting if row.status == "ok" and not s.done]
            turn += 1
    if anchor.median_s:
        for row in rows[1:]:
            if row.median_s:
                row.speedup = row.median_s / anchor.median_s
    return rows


def _cases(settings: Settings) -> List[Tuple[str, str, Shape]]:
    cases = []
    for mode in settings.modes:
        for cell in settings.cells:
            shapes = ([stream_shape(h) for h in settings.stream_hidden] if mode == "streaming"
                      else settings.shapes)
            cases += [(mode, cell, s) for s in shapes]
    return cases


def run_benchmarks(settings: Settings) -> Dict[str, Any]:
    """Run every case at every thread count; return the JSON-ready report."""
    import pyrnn
    started = time.time()
    load_before = _loadavg()
    fws: Dict[str, Framework] = {"pyrnn": PyrnnFramework()}
    versions: Dict[str, Optional[str]] = {"pyrnn": pyrnn.__version__}
    notes: List[str] = []
    for name in settings.compare:
        fw = FRAMEWORKS[name]()
        versions[name] = fw.version()
        if versions[name] is None:
            notes.append(f"{name}: skipped, {fw.missing_note()}")
        else:
            fws[name] = fw
    if "onnxruntime" in fws and "training" in settings.modes:
        notes.append("onnxruntime: inference and streaming only (training a graph needs "
                      "onnxruntime-training)")
    if "capi" in fws and "streaming" in settings.modes:
        notes.append("capi: pyrnn's C API (pyrnn.h) on a .pyrnn file of the same weights: "
                     "pyrnn_step timed by a C++ loop, i.e. without Python's per-call "
                     "overhead (streaming only, float32 only)")
    if settings.dtype == "float64":
        notes.append("float64 runs the same kernels for exact checks; it is not tuned for speed")
    report: Dict[str, Any] = {
        "pyrnn_version": pyrnn.__version__,
        "simd_target": pyrnn.simd_target(),
        "has_openmp": bool(pyrnn.has_openmp),
        "machine": _machine(),
        "versions": versions,
        "command": command_line(settings),
        "settings": {**asdict(settings), "shapes": [asdict(s) for s in settings.shapes]},
        "load_before": load_before,
        "thread_control": {},
        "peak": {},
        "results": [],
        "notes": notes,
    }
    cases = _cases(settings)
    rows: List[Row] = []
    try:
        peaks: Dict[int, Dict[str, float]] = {}
        for n in settings.threads:
            for name, fw in fws.items():
                report["thread_control"][name] = fw.set_threads(n)
            _log(settings, f"measuring FMA peak and {settings.peak_size}^3 GEMMs, {n} "
                           "thread(s) ...")
            peaks[n] = {"fma": measure_fma_peak(settings.dtype),
                        "gemm": measure_gemm_peak(settings.dtype, settings.peak_size,
                                                  list(fws), n)}
        report["peak"] = {str(n): v for n, v in peaks.items()}
        total = len(cases) * len(settings.threads)
        k = 0
        for mode, cell, shape in cases:
            problem = make_problem(cell, shape, mode, settings.dtype, settings.seed)
            for n in settings.threads:
                k += 1
                for fw in fws.values():
                    fw.set_threads(n)
                case_rows = run_case(problem, n, fws, settings)
                rows += case_rows
                _log(settings, f"[{k}/{total}] {cell} {shape.label} {mode} {n}thr: " + ", ".join(
                    f"{r.framework} {_fmt_time(r.median_s) if r.median_s else r.status}"
                    for r in case_rows))
        # The FMA probe again after the cases, at each thread count: a busy moment at the
        # start would otherwise understate the peak (and overstate every % peak) of the
        # whole run. The peak is the better of the two; every % peak is of it, set here.
        for n in settings.threads:
            for fw in fws.values():
                fw.set_threads(n)
            again = measure_fma_peak(settings.dtype)
            peaks[n]["fma_probes"] = [peaks[n]["fma"], again]
            peaks[n]["fma"] = max(peaks[n]["fma"], again)
        for r in rows:
            if r.gflops is not None and peaks[r.threads]["fma"] > 0:
                r.pct_peak = 100.0 * r.gflops / peaks[r.threads]["fma"]
    finally:
        # Last set, first restored: pyrnn and capi share the engine's one thread count.
        for fw in reversed(list(fws.values())):
            fw.restore_threads()
    report["results"] = [asdict(r) for r in rows]
    report["summary"] = _summary(rows)
    report["checks_ok"] = all(r.check is None or r.check["ok"] for r in rows)
    report["errors"] = [f"{r.framework} {r.cell} {r.shape} {r.mode} {r.threads}thr: {r.note}"
                        for r in rows if r.status == "error"]
    report["load_after"] = _loadavg()
    report["duration_s"] = time.time() - started
    return report


def command_line(settings: Settings) -> str:
    """A ``pyrnn bench`` command that reproduces these settings (defaults resolved)."""
    named = [s.label for s in settings.shapes if s.label in SHAPES
             and SHAPES[s.label] == s]
    custom = [s for s in settings.shapes if s.label not in SHAPES]
    parts = ["pyrnn bench", "--cells", ",".join(settings.cells)]
    if named:
        parts += ["--shapes", ",".join(named)]
    for s in custom:
        parts += ["--shape", s.dims]
    parts += ["--modes", ",".join(settings.modes)]
    if "streaming" in settings.modes:
        parts += ["--stream-hidden", ",".join(map(str, settings.stream_hidden))]
    parts += ["--threads", ",".join(map(str, settings.threads)),
              "--compare", ",".join(settings.compare) or "none",
              "--repeats", str(settings.repeats), "--warmup", str(settings.warmup),
              "--dtype", settings.dtype, "--reference-cap", f"{settings.reference_cap_s:g}",
              "--min-sample-time", f"{settings.min_sample_s:g}",
              *(["--max-time", f"{settings.max_time_s:g}"] if settings.max_time_s else []),
              "--peak-size", str(settings.peak_size)]
    if settings.seed:
        parts += ["--seed", str(settings.seed)]
    if not settings.interleave:
        parts.append("--sequential")
    return " ".join(parts)


def _summary(rows: List[Row]) -> Dict[str, Any]:
    """Per framework: geometric mean, min and max of pyrnn's speed-up over it."""
    out: Dict[str, Any] = {}
    by_fw: Dict[str, List[Row]] = {}
    for r in rows:
        if r.speedup is not None:
            by_fw.setdefault(r.framework, []).append(r)
    for fw in [f for f in COMPARE if f in by_fw]:
        rs = by_fw[fw]
        ups = [r.speedup for r in rs]
        lo, hi = min(rs, key=lambda r: r.speedup), max(rs, key=lambda r: r.speedup)
        out[fw] = {"cases": len(rs), "geomean_speedup": float(np.exp(np.mean(np.log(ups)))),
                   "min_speedup": lo.speedup, "min_case": _case_name(lo),
                   "max_speedup": hi.speedup, "max_case": _case_name(hi)}
    return out


def _case_name(r: Row) -> str:
    return f"{r.cell} {r.shape} {r.mode} {r.threads}thr"


# ---------------------------------------------------------------------------------------
# Machine facts and printing
# ---------------------------------------------------------------------------------------


def _loadavg() -> Optional[List[float]]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _machine() -> Dict[str, Any]:
    return {"cpu": _cpu_model(), "logical_cpus": os.cpu_count(), "usable_cpus": usable_cpus(),
            "platform": platform.platform(), "python": platform.python_version()}


def _fmt_time(s: Optional[float]) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms" if s < 0.1 else f"{s * 1e3:.0f} ms"
    return f"{s * 1e6:.3g} us"


def _load_warning(load: Optional[List[float]], cpus: int) -> Optional[str]:
    if load is None or load[0] <= 0.5 * cpus:
        return None
    return (f"WARNING: 1-minute load average {load[0]:.1f} on {cpus} CPU(s): other processes "
            f"compete for the cores, so timings will be slower and noisier than on an idle "
            f"machine. Rerun when it is quiet, or compare only numbers from the same run.")


def format_report(report: Dict[str, Any]) -> str:
    """The header, the results table, the summary and the notes, as printed."""
    lines: List[str] = []
    m = report["machine"]
    v = report["versions"]
    st = report["settings"]
    lines.append(f"pyrnn {report['pyrnn_version']} bench: SIMD target {report['simd_target']}, "
                 f"OpenMP {'on' if report['has_openmp'] else 'off'}, {st['dtype']}")
    lines.append(f"machine: {m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} "
                 f"logical CPUs; {m['platform']}; Python {m['python']}")
    lines.append("frameworks: " + ", ".join(
        f"{k} {val}" if val else f"{k} (absent)" for k, val in v.items()))
    lines.append(f"threads: {', '.join(map(str, st['threads']))}, the same for every "
                 "framework (" + "; ".join(f"{k}: {how}" for k, how in
                                          report["thread_control"].items()) + ")")
    cap = f"; at most {st['max_time_s']:g} s of samples per framework and case" \
        if st["max_time_s"] else ""
    order = ("the frameworks' samples taken in turn" if st.get("interleave", True)
             else "each framework's samples in a row")
    lines.append(f"timing: median of {st['repeats']} samples after {st['warmup']} warm-up "
                 f"call(s), {order}{cap}; reference capped at {st['reference_cap_s']:g} s "
                 "per case")
    if report["load_before"] is not None:
        lines.append(f"load average before: {' '.join(map(str, report['load_before']))}")
        warn = _load_warning(report["load_before"], m["usable_cpus"])
        if warn:
            lines.append(warn)
    for n, peak in report["peak"].items():
        gemm = peak["gemm"]
        parts = ", ".join(f"{k} {val:.1f}" for k, val in gemm.items() if k != "best")
        probes = peak.get("fma_probes", [])
        disturbed = len(probes) == 2 and min(probes) < 0.9 * max(probes)
        lines.append(f"measured peak, {n} thread(s): FMA {peak['fma']:.1f} GFLOP/s "
                     f"({report['simd_target']} vector FMAs on every thread"
                     + (f"; probes before/after the cases {probes[0]:.0f}/{probes[1]:.0f}: "
                        "the machine was busy during one" if disturbed else "") + "); best "
                     f"{st['peak_size']}^3 {'s' if st['dtype'] == 'float32' else 'd'}gemm "
                     f"{gemm['best']:.1f} = {_pct(gemm['best'], peak['fma'])} of it ({parts})")
    lines.append("")
    header = ["cell", "shape", "B,T,I,H", "mode", "thr", "framework", "median", "IQR",
              "GFLOP/s", "%peak", "pyrnn speed-up", "check"]
    table = [header]
    prev_case = None
    for r in report["results"]:
        case = (r["cell"], r["shape"], r["mode"], r["threads"])
        first = case != prev_case
        prev_case = case
        lead = [r["cell"], r["shape"], f"{r['B']},{r['T']},{r['I']},{r['H']}", r["mode"],
                str(r["threads"])] if first else [""] * 5
        if r["status"] != "ok":
            table.append(lead + [r["framework"], r["status"] + ": " + r["note"]])
            continue
        chk = r["check"]
        if chk is None:
            check = "-"
        else:
            err = "inf" if chk["rel_error"] is None else f"{chk['rel_error']:.0e}"
            check = f"{'ok' if chk['ok'] else 'FAIL'} {err}"
            if r["framework"] == "pyrnn":
                check += " vs ref" + ("" if chk["scope"] == "full" else f" ({chk['scope']})")
            if not chk["ok"]:
                check += f" ({chk['worst']})"
        table.append(lead + [
            r["framework"], _fmt_time(r["median_s"]), f"{100 * r['iqr']:.0f}%",
            f"{r['gflops']:.3g}" if r["gflops"] < 100 else f"{r['gflops']:.0f}",
            f"{r['pct_peak']:.0f}%" if r["pct_peak"] is not None else "-",
            "-" if r["speedup"] is None else f"{r['speedup']:.2f}x", check])
    widths = [max(len(row[i]) for row in table if i < len(row) and
                  (len(row) == len(header) or i < len(row) - 1))
              for i in range(len(header))]
    right = {"thr", "median", "IQR", "GFLOP/s", "%peak", "pyrnn speed-up"}
    for row in table:
        cells = []
        for i, val in enumerate(row):
            if len(row) < len(header) and i == len(row) - 1:
                cells.append(val)  # a skip note runs past the columns
            elif header[i] in right:
                cells.append(val.rjust(widths[i]))
            else:
                cells.append(val.ljust(widths[i]))
        lines.append("  ".join(cells).rstrip())
        if row is header:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("median: time per call (streaming: per step); IQR: interquartile range / "
                 "median (noise); GFLOP/s counts 2*B*T*G*H*(I+H) per forward, 3x for a "
                 "training step; %peak: of the measured FMA peak above (the best large GEMM "
                 "is quoted beside it for scale); pyrnn speed-up: that framework's median / "
                 "pyrnn's (>1: pyrnn is faster); check: max relative error of the result vs "
                 "pyrnn's (pyrnn's own row: vs the NumPy reference, on the first "
                 f"{PROXY_STEPS} steps when the reference is too slow for the full shape); "
                 "capi: pyrnn_step of the C API (pyrnn.h) timed in a C++ loop, checked "
                 "against pyrnn's Python stream.")
    for fw, s in report["summary"].items():
        lines.append(f"pyrnn vs {fw}: {s['geomean_speedup']:.2f}x geometric mean over "
                     f"{s['cases']} cases (min {s['min_speedup']:.2f}x {s['min_case']}; "
                     f"max {s['max_speedup']:.2f}x {s['max_case']})")
    for note in report["notes"]:
        lines.append(f"note: {note}")
    for err in report["errors"]:
        lines.append(f"ERROR: {err}")
    if report["load_after"] is not None:
        lines.append(f"load average after: {' '.join(map(str, report['load_after']))}")
    failed = [r for r in report["results"] if r["check"] is not None and not r["check"]["ok"]]
    lines.append("result checks: " + ("all passed" if not failed else
                                      f"{len(failed)} FAILED"))
    lines.append(f"took {report['duration_s']:.1f} s")
    return "\n".join(lines)


def format_markdown(report: Dict[str, Any]) -> str:
    """A compact Markdown table, one row per case: pyrnn's median, GFLOP/s and % of peak,
    then each other framework's median with pyrnn's speed-up over it in parentheses."""
    st, m = report["settings"], report["machine"]
    fws = [f for f in COMPARE if f in report["versions"]]
    lines = [f"`{report['command']}`", "",
             f"{m['cpu']}, {m['usable_cpus']} usable CPUs; SIMD target "
             f"{report['simd_target']}; {st['dtype']}; "
             + ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v) + ".  ",
             "load average before / after: "
             f"{_fmt_load(report['load_before'])} / {_fmt_load(report['load_after'])}.  ",
             "measured peak (% peak is of it): FMA " + ", ".join(
                 f"{p['fma']:.0f} GFLOP/s at {n} thread(s)" for n, p in report["peak"].items())
             + "; best large GEMM " + ", ".join(
                 f"{p['gemm']['best']:.0f}" for p in report["peak"].values()) + " GFLOP/s.", ""]
    head = ["cell", "shape (B,T,I,H)", "mode", "threads", "pyrnn", "IQR", "GFLOP/s",
            "% peak"] + fws
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    cases: Dict[Tuple, Dict[str, Dict[str, Any]]] = {}
    for r in report["results"]:
        key = (r["cell"], r["shape"], f"{r['B']},{r['T']},{r['I']},{r['H']}", r["mode"],
               r["threads"])
        cases.setdefault(key, {})[r["framework"]] = r
    for (cell, label, dims, mode, thr), rows in cases.items():
        a = rows.get("pyrnn", {})
        ok = a.get("status") == "ok"
        cells = [cell, dims if label == "custom" else f"{label} {dims}", mode, str(thr),
                 _fmt_time(a.get("median_s")) if ok else a.get("status", "-"),
                 f"{100 * a['iqr']:.0f}%" if ok else "-",
                 f"{a['gflops']:.3g}" if ok else "-",
                 f"{a['pct_peak']:.0f}%" if ok and a.get("pct_peak") is not None else "-"]
        for fw in fws:
            r = rows.get(fw)
            if r is None or r["status"] != "ok":
                cells.append("-" if r is None or "no " in r["note"] else r["status"])
            else:
                up = "" if r["speedup"] is None else f" ({r['speedup']:.2f}x)"
                cells.append(_fmt_time(r["median_s"]) + up)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.0f}%" if whole > 0 else "-"


def _fmt_load(load: Optional[List[float]]) -> str:
    return "n/a" if load is None else " ".join(f"{v:.1f}" for v in load)


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def _csv(kind: str, allowed: Sequence[str]) -> Callable[[str], List[str]]:
    def parse(text: str) -> List[str]:
        items = [t.strip().lower() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in allowed]
        if not items or bad:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {kind} from {','.join(allowed)}, got "
                f"{text!r}")
        return list(dict.fromkeys(items))
    return parse


def _compare_list(text: str) -> List[str]:
    if text.strip().lower() == "none":
        return []
    return _csv("frameworks", COMPARE)(text)


def _int_list(kind: str) -> Callable[[str], List[int]]:
    def parse(text: str) -> List[int]:
        try:
            values = [int(t) for t in text.split(",") if t.strip()]
        except ValueError:
            values = []
        if not values or any(v < 1 for v in values):
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {kind} (integers >= 1), got {text!r}")
        return list(dict.fromkeys(values))
    return parse


def _custom_shape(text: str) -> Shape:
    try:
        dims = [int(t) for t in text.split(",")]
    except ValueError:
        dims = []
    if len(dims) != 4 or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(
            f"expected B,T,I,H as four integers >= 1, got {text!r}")
    return Shape("custom", *dims)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _positive(kind: type, name: str) -> Callable[[str], Any]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value <= 0:
            raise argparse.ArgumentTypeError(f"expected a {name} > 0, got {text!r}")
        return value
    return parse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``pyrnn bench`` and its options."""
    shapes = "; ".join(f"({k}) B={s.B},T={s.T},I={s.I},H={s.H}" for k, s in SHAPES.items())
    p = subparsers.add_parser(
        "bench", help="time pyrnn against the NumPy reference, PyTorch and onnxruntime",
        description=(
            "Time pyrnn's RNN/LSTM/GRU layers side by side with the NumPy reference, "
            "PyTorch and onnxruntime (when installed) on the same shapes, weights, dtype "
            "and thread count, and for streaming also pyrnn's C API (capi: pyrnn_step "
            "timed from C++). Prints medians, GFLOP/s, % of the measured FMA peak, "
            "pyrnn's speed-up over each and a result check of each. Shapes: " + shapes +
            ". Exit code 1 if a result check fails."))
    p.add_argument("--quick", action="store_true",
                   help="a run of under a minute on an idle machine: shapes a,d, the usable "
                        "CPUs as the only thread count, 3 repeats, 1 warm-up, 2 s of samples "
                        "per framework and case, 1024^3 peak probe, reference capped at 1 s "
                        "(explicit options override these)")
    p.add_argument("--cells", type=_csv("cells", list(CELLS)), default=list(CELLS),
                   help="cells to time (default rnn,lstm,gru)")
    p.add_argument("--shapes", type=_csv("shapes", list(SHAPES)), default=None,
                   help="named shapes (default a,b,c,d; a,d with --quick)")
    p.add_argument("--shape", type=_custom_shape, action="append", default=None,
                   metavar="B,T,I,H", help="a custom shape (repeatable); only these are "
                   "run unless --shapes is also given")
    p.add_argument("--modes", type=_csv("modes", MODES), default=list(MODES),
                   help="inference (forward, no cache), training (forward + BPTT with "
                        "parameter gradients), streaming (one step, B=1, state carried) "
                        "(default: all three)")
    p.add_argument("--stream-hidden", type=_int_list("hidden sizes"), default=None,
                   metavar="H,...", help="hidden sizes of the streaming cases (I = H) "
                   f"(default {','.join(map(str, STREAM_HIDDEN))})")
    p.add_argument("--threads", type=_int_list("thread counts"), default=None,
                   metavar="N,...", help="thread counts, each used by every framework "
                   "(default 1 and the usable CPUs; the usable CPUs with --quick)")
    p.add_argument("--compare", type=_compare_list, default=list(COMPARE),
                   metavar="FW,...", help="frameworks timed next to pyrnn, from "
                   f"{','.join(COMPARE)} (capi: the C API pyrnn.h, streaming only), or "
                   "'none' (default: all; absent ones are "
                   "skipped with a note)")
    p.add_argument("--repeats", type=_positive(int, "sample count"), default=None,
                   help="timed samples per framework and case; the median is reported "
                        "(default 7; 3 with --quick)")
    p.add_argument("--warmup", type=_non_negative_int, default=None,
                   help="untimed warm-up calls before timing; the first is the call whose "
                        "result is checked (default 2; 1 with --quick)")
    p.add_argument("--sequential", action="store_true",
                   help="take each framework's samples in a row, right after its warm-up, "
                        "instead of in turn with the other frameworks' (the default, which "
                        "spreads a disturbance of the machine over every framework alike)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="float32 (the fast path, default) or float64")
    p.add_argument("--reference-cap", type=_positive(float, "number of seconds"), default=None,
                   metavar="SECONDS", help="time allowed to the NumPy reference per case; "
                   "skipped when one call is estimated to take longer (default 10; 1 with "
                   "--quick)")
    p.add_argument("--max-time", type=_positive(float, "number of seconds"), default=None,
                   metavar="SECONDS", help="cap on each framework's timed samples per case: "
                   "fewer samples (at least one) when calls are slow (default: no cap; 2 "
                   "with --quick)")
    p.add_argument("--min-sample-time", type=_positive(float, "number of seconds"),
                   default=None, metavar="SECONDS",
                   help="fast calls are repeated within a sample until it lasts this long "
                        "(default 0.02; 0.01 with --quick)")
    p.add_argument("--peak-size", type=_positive(int, "matrix size"), default=None,
                   metavar="N", help="N of the N x N x N GEMMs quoted beside the FMA peak "
                   "(default 2048; 1024 with --quick)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and inputs (default 0)")
    p.add_argument("--markdown", metavar="PATH", default=None,
                   help="also write a compact Markdown table (one row per case) to this file")
    p.add_argument("--json", metavar="PATH", default=None,
                   help="also write every setting, sample and result to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Resolve defaults (which depend on --quick) into Settings."""
    quick = bool(args.quick)
    cpus = usable_cpus()
    if args.shapes is None and args.shape is None:
        named = ["a", "d"] if quick else list(SHAPES)
    else:
        named = args.shapes or []
    shapes = [SHAPES[k] for k in named] + list(args.shape or [])
    threads = args.threads or ([cpus] if quick else list(dict.fromkeys([1, cpus])))

    def pick(value, full, fast):
        return value if value is not None else (fast if quick else full)
    return Settings(
        cells=args.cells, shapes=shapes, modes=args.modes, threads=threads,
        compare=args.compare, stream_hidden=args.stream_hidden or list(STREAM_HIDDEN),
        repeats=pick(args.repeats, 7, 3), warmup=pick(args.warmup, 2, 1),
        min_sample_s=pick(args.min_sample_time, 0.02, 0.01),
        peak_size=pick(args.peak_size, 2048, 1024),
        reference_cap_s=pick(args.reference_cap, 10.0, 1.0),
        max_time_s=pick(args.max_time, None, 2.0), dtype=args.dtype,
        seed=args.seed, quick=quick, quiet=bool(args.quiet),
        interleave=not args.sequential)


def _writable(path: Optional[str]) -> Optional[str]:
    """Why `path` cannot be written, or None (checked before a long run, not after)."""
    if path is None:
        return None
    if os.path.isdir(path):
        return "is a directory"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"folder {folder!r} does not exist"
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return "permission denied"
    return None


def run(args: argparse.Namespace) -> int:
    """``pyrnn bench``: run, print the table, write JSON / Markdown; 1 if a check failed or
    a framework errored, 2 on bad arguments."""
    for option, path in (("--json", args.json), ("--markdown", args.markdown)):
        why = _writable(path)
        if why:
            print(f"pyrnn bench: error: argument {option}: cannot write {path!r}: {why}",
                  file=sys.stderr)
            return 2
    settings = settings_from_args(args)
    cpus = usable_cpus()
    too_many = [n for n in settings.threads if n > cpus]
    if too_many:
        print(f"pyrnn bench: warning: --threads {too_many} exceed the {cpus} usable CPU(s); "
              "those timings measure oversubscription", file=sys.stderr)
    warn = _load_warning(_loadavg(), cpus)
    if warn:
        if max(settings.threads) >= cpus:
            # Seen here: with one core taken, a 2-thread torch step can stall 1000x longer.
            warn += (f" With {max(settings.threads)} threads on {cpus} busy CPU(s), every "
                     "framework's thread barriers wait for the scheduler; --threads 1 gives "
                     "steadier numbers.")
        print(warn, file=sys.stderr)
    report = run_benchmarks(settings)
    print(format_report(report), flush=True)
    try:
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(report, f, indent=1, default=_json_default)
                f.write("\n")
        if args.markdown:
            with open(args.markdown, "w", encoding="utf-8") as f:
                f.write(format_markdown(report))
    except OSError as e:
        print(f"pyrnn bench: error: cannot write the results: {e}", file=sys.stderr)
        return 1
    return 0 if report["checks_ok"] and not report["errors"] else 1


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")
