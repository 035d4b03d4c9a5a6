"""ONNX export of pyrnn recurrent layers and Sequential models, for inference.

The graph computes what pyrnn's eval-mode forward computes: recurrent layers become ONNX
RNN/LSTM/GRU nodes (one per stacked layer, gate blocks permuted to ONNX's orders),
Embedding a Gather, Dense a MatMul + Add (+ activation), Dropout the identity, LastStep a
gather of each row's last valid step. onnx is imported only inside ``export_onnx``.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..layers.core import Dense, Dropout, Embedding, LastStep
from ..layers.recurrent import RecurrentLayer
from ._gates import ONNX_ORDER, PYRNN_ORDER, reorder_gates

Array = np.ndarray

MIN_OPSET = 14  # RNN/LSTM/GRU-14, Reshape-14; Squeeze/Unsqueeze take axes as an input
DEFAULT_OPSET = 17


def _onnx():
    try:
        import onnx  # noqa: PLC0415 - lazy: onnx is optional
    except ImportError as e:  # pragma: no cover - exercised only without onnx
        raise ImportError("pyrnn.interop.onnx needs the onnx package (pip install onnx)") from e
    return onnx


class _Graph:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self, onnx: Any, dtype: np.dtype) -> None:
        self.onnx = onnx
        self.dtype = dtype
        self.nodes: List[Any] = []
        self.inits: List[Any] = []
        self.inputs: List[Any] = []
        self.outputs: List[Any] = []
        self._count: Dict[str, int] = {}

    def name(self, base: str) -> str:
        k = self._count.get(base, 0)
        self._count[base] = k + 1
        return base if k == 0 else f"{base}_{k}"

    def const(self, base: str, value: Array) -> str:
        name = self.name(base)
        # np.array, not np.ascontiguousarray: the latter turns a 0-d scalar into shape (1,)
        self.inits.append(self.onnx.numpy_helper.from_array(np.array(value, order="C"), name))
        return name

    def weight(self, base: str, value: Array) -> str:
        return self.const(base, np.asarray(value, self.dtype))

    def ints(self, base: str, values: Sequence[int]) -> str:
        return self.const(base, np.asarray(values, np.int64))

    def node(self, op: str, inputs: Sequence[str], n_out: int = 1, base: Optional[str] = None,
             **attrs: Any) -> Union[str, List[str]]:
        """Add a node; returns its output name (a list of n_out names if n_out > 1)."""
        base = base or op.lower()
        outs = [self.name(f"{base}_out{i}" if n_out > 1 else f"{base}_out") for i in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), outs,
                                                     name=self.name(f"{base}_node"), **attrs))
        return outs[0] if n_out == 1 else outs

    def value_info(self, name: str, elem: int, shape: Sequence[Any]) -> Any:
        return self.onnx.helper.make_tensor_value_info(name, elem, list(shape))


def _check_dim(name: str, value: Any) -> Union[int, str]:
    """None -> a symbolic (dynamic) dimension; else a positive int."""
    if value is None:
        return {"seq_len": "T", "batch": "B"}[name]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected None (dynamic) or an int >= 1, got {value!r}")
    return int(value)


def _kind(layer: RecurrentLayer) -> str:
    return {"LSTM": "LSTM", "GRU": "GRU"}.get(layer.mode, "RNN")


def _recurrent(g: _Graph, layer: RecurrentLayer, x: str, lens32: Optional[str],
               h0: Optional[str], c0: Optional[str], prefix: str) -> Tuple[str, str, Optional[str]]:
    """Emit one ONNX RNN/LSTM/GRU node per stacked layer.

    x: (T, B, I) time-major. h0/c0: (L*D, B, H) graph values or None (zeros).
    Returns (output (T, B, D*H), h_n (L*D, B, H), c_n or None).
    """
    kind = _kind(layer)
    D, H, L = layer.num_directions, layer.hidden_size, layer.num_layers
    src, dst = PYRNN_ORDER[kind], ONNX_ORDER[kind]
    p = layer.params
    hs: List[str] = []
    cs: List[str] = []
    for l in range(L):
        tags = [f"l{l}{sfx}" for sfx in layer._suffixes()]
        W = np.stack([reorder_gates(p[f"weight_ih_{t}"], src, dst) for t in tags])  # (D, GH, in)
        R = np.stack([reorder_gates(p[f"weight_hh_{t}"], src, dst) for t in tags])  # (D, GH, H)
        name = f"{prefix}l{l}"
        inputs = [x, g.weight(f"{name}.W", W), g.weight(f"{name}.R", R)]
        if layer.bias:  # ONNX's B is [Wb; Rb] per direction: (D, 2*G*H)
            Bv = np.stack([np.concatenate([reorder_gates(p[f"bias_ih_{t}"], src, dst),
                                           reorder_gates(p[f"bias_hh_{t}"], src, dst)])
                           for t in tags])
            inputs.append(g.weight(f"{name}.B", Bv))
        else:
            inputs.append("")
        inputs.append(lens32 or "")
        states = [h0] + ([c0] if kind == "LSTM" else [])
        for s in states:
            if s is None:
                inputs.append("")
            else:  # this layer's D rows of the (L*D, B, H) state
                inputs.append(g.node("Slice", [s, g.ints("start", [l * D]),
                                               g.ints("end", [(l + 1) * D]), g.ints("axis", [0])],
                                     base=f"{name}.{'h0' if s is h0 else 'c0'}"))
        while inputs and inputs[-1] == "":  # trailing optional inputs may be omitted
            inputs.pop()
        attrs: Dict[str, Any] = {"hidden_size": H,
                                 "direction": "bidirectional" if D == 2 else "forward"}
        if kind == "GRU":
            # 1: r * (R_h h + Rb_h), PyTorch's form; 0: R_h (r * h) + Rb_h, Cho's form
            attrs["linear_before_reset"] = 1 if layer.reset_after else 0
        elif kind == "RNN":
            attrs["activations"] = ["Relu" if layer.nonlinearity == "relu" else "Tanh"] * D
        n_out = 3 if kind == "LSTM" else 2
        outs = g.node(kind, inputs, n_out=n_out, base=name, **attrs)
        Y = outs[0]  # (T, D, B, H)
        hs.append(outs[1])
        if kind == "LSTM":
            cs.append(outs[2])
        if D == 1:
            x = g.node("Squeeze", [Y, g.ints("axes", [1])], base=f"{name}.y")
        else:  # (T, D, B, H) -> (T, B, D, H) -> (T, B, D*H): [forward, backward] per step
            Yt = g.node("Transpose", [Y], base=f"{name}.y", perm=[0, 2, 1, 3])
            x = g.node("Reshape", [Yt, g.ints("shape", [0, 0, -1])], base=f"{name}.y")
    h_n = hs[0] if L == 1 else g.node("Concat", hs, base=f"{prefix}h_n", axis=0)
    c_n = None
    if kind == "LSTM":
        c_n = cs[0] if L == 1 else g.node("Concat", cs, base=f"{prefix}c_n", axis=0)
    return x, h_n, c_n


def _dense(g: _Graph, layer: Dense, x: str, prefix: str) -> str:
    y = g.node("MatMul", [x, g.weight(f"{prefix}weight_t", layer.params["weight"].T)],
               base=f"{prefix}matmul")
    if layer.bias:
        y = g.node("Add", [y, g.weight(f"{prefix}bias", layer.params["bias"])],
                   base=f"{prefix}add")
    act = layer.activation
    if act == "softmax":
        y = g.node("Softmax", [y], base=f"{prefix}softmax", axis=-1)
    elif act is not None:
        y = g.node({"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid"}[act], [y],
                   base=f"{prefix}{act}")
    return y


def _last_step(g: _Graph, x: str, lengths: Optional[str], prefix: str) -> str:
    """x (T, B, F) -> (B, F) at step lengths[b] - 1 (T - 1 without lengths)."""
    if lengths is None:
        return g.node("Gather", [x, g.const("last", np.asarray(-1, np.int64))],
                      base=f"{prefix}gather", axis=0)
    xb = g.node("Transpose", [x], base=f"{prefix}btf", perm=[1, 0, 2])  # (B, T, F)
    idx = g.node("Sub", [lengths, g.const("one", np.asarray(1, np.int64))], base=f"{prefix}idx")
    idx = g.node("Unsqueeze", [idx, g.ints("axes", [1])], base=f"{prefix}idx")  # (B, 1)
    return g.node("GatherND", [xb, idx], base=f"{prefix}gather", batch_dims=1)


def export_onnx(model_or_layer: Any, path: Union[str, os.PathLike, None], *,
                seq_len: Optional[int] = None, batch: Optional[int] = None,
                opset: int = DEFAULT_OPSET, lengths: bool = False, initial_state: bool = False,
                dtype: Any = None) -> Any:
    """Export a pyrnn RNN/LSTM/GRU layer or a ``Sequential`` model to an ONNX file.

    model_or_layer: a recurrent layer, or a Sequential of Embedding, RNN/LSTM/GRU
        (stacked, bidirectional), Dropout, LastStep and Dense layers. The graph is the
        eval-mode forward (dropout is the identity).
    path: where to write the .onnx file (None: only return the model).
    seq_len, batch: fixed sizes, or None for dynamic dimensions 'T' and 'B'.
    opset: ONNX opset, 14 .. the installed onnx's newest (default 17).
    lengths: add an int64 input ``lengths`` (B,), valid lengths 1..T per row with pyrnn's
        (PyTorch's packed-sequence) meaning; it feeds every recurrent node's
        sequence_lens and LastStep.
    initial_state: add initial-state inputs (zeros otherwise). A layer takes ``h0`` (and
        ``c0`` for LSTM), shaped (num_layers*num_directions, B, H); a model takes
        ``<name>.h0``/``<name>.c0`` per recurrent layer and then also returns the final
        states ``<name>.h_n``/``<name>.c_n``.
    dtype: None for the model's dtype, or 'float32'/'float64' to cast the weights (and
        the float input). onnxruntime's RNN/LSTM/GRU kernels run float32 only.

    Graph inputs: ``input`` in the model's layout ((B, T, F) with batch_first, else
    (T, B, F); int64 ids (B, T)/(T, B) for a model starting with Embedding). Outputs: a
    layer gives ``output`` (like ``input``, D*H features), ``h_n`` and for LSTM ``c_n``
    (L*D, B, H); a model gives ``output``, its forward's result ((B, T, C) or (B, C)
    after LastStep). Returns the ``onnx.ModelProto`` (checked with onnx.checker).
    """
    from ..model import Sequential  # noqa: PLC0415 - lazy: keeps `import pyrnn.interop` light
    onnx = _onnx()
    if isinstance(model_or_layer, RecurrentLayer):
        layers: List[Tuple[str, Any]] = [("", model_or_layer)]
        batch_first = model_or_layer.batch_first
        is_layer = True
    elif isinstance(model_or_layer, Sequential):
        if not model_or_layer.layers:
            raise ValueError("model_or_layer: the Sequential model has no layers")
        layers = [(f"{n}.", l) for n, l in zip(model_or_layer.names, model_or_layer.layers)]
        batch_first = model_or_layer.batch_first
        is_layer = False
    else:
        raise TypeError(f"model_or_layer: expected a pyrnn RNN/LSTM/GRU layer or a "
                        f"Sequential, got {type(model_or_layer).__name__}")
    T, B = _check_dim("seq_len", seq_len), _check_dim("batch", batch)
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset: expected an int in {MIN_OPSET}..{newest}, got {opset!r}")
    for flag_name, flag in (("lengths", lengths), ("initial_state", initial_state)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{flag_name}: expected a bool, got {type(flag).__name__}")
    if dtype is None:
        dt = model_or_layer.dtype
    else:
        try:
            dt = np.dtype(dtype)
        except TypeError:
            dt = None
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype: expected None, 'float32' or 'float64', got {dtype!r}")
    for name, layer in layers:
        if not isinstance(layer, (RecurrentLayer, Dense, Dropout, Embedding, LastStep)):
            raise TypeError(f"model_or_layer: layer {name[:-1]!r} ({type(layer).__name__}) has "
                            "no ONNX export")
    TP = onnx.TensorProto
    felem = TP.FLOAT if dt == np.float32 else TP.DOUBLE
    g = _Graph(onnx, dt)

    # input, made time-major: every node below works on (T, B, ...)
    takes_ids = isinstance(layers[0][1], Embedding)
    in_shape: List[Any] = [B, T] if batch_first else [T, B]
    if not takes_ids:
        first = layers[0][1]
        F = first.input_size if isinstance(first, RecurrentLayer) else \
            first.in_features if isinstance(first, Dense) else "F"
        in_shape.append(F)
    g.inputs.append(g.value_info("input", TP.INT64 if takes_ids else felem, in_shape))
    x = "input"
    if batch_first:
        x = g.node("Transpose", [x], base="input_tm", perm=[1, 0] if takes_ids else [1, 0, 2])
    lens64 = lens32 = None
    if lengths:
        g.inputs.append(g.value_info("lengths", TP.INT64, [B]))
        lens64 = "lengths"
        lens32 = g.node("Cast", [lens64], base="lengths_i32", to=TP.INT32)

    has_time = True
    state_outputs: List[Tuple[str, str, List[Any]]] = []
    for name, layer in layers:
        if isinstance(layer, RecurrentLayer):
            D, H, L = layer.num_directions, layer.hidden_size, layer.num_layers
            h0 = c0 = None
            if initial_state:
                h0 = "h0" if is_layer else f"{name}h0"
                g.inputs.append(g.value_info(h0, felem, [L * D, B, H]))
                if layer.mode == "LSTM":
                    c0 = "c0" if is_layer else f"{name}c0"
                    g.inputs.append(g.value_info(c0, felem, [L * D, B, H]))
            x, h_n, c_n = _recurrent(g, layer, x, lens32, h0, c0, name)
            if is_layer or initial_state:
                state_outputs.append((h_n, "h_n" if is_layer else f"{name}h_n", [L * D, B, H]))
                if c_n is not None:
                    state_outputs.append((c_n, "c_n" if is_layer else f"{name}c_n",
                                          [L * D, B, H]))
        elif isinstance(layer, Embedding):
            x = g.node("Gather", [g.weight(f"{name}weight", layer.params["weight"]), x],
                       base=f"{name}gather", axis=0)
        elif isinstance(layer, Dense):
            x = _dense(g, layer, x, name)
        elif isinstance(layer, LastStep):
            x = _last_step(g, x, lens64, name)
            has_time = False
        # Dropout: the identity at inference

    # outputs, back in the user's layout
    if has_time and batch_first:
        x = g.node("Transpose", [x], base="output_bf", perm=[1, 0, 2])
    g.nodes.append(onnx.helper.make_node("Identity", [x], ["output"], name="output_node"))
    out_features = model_or_layer.output_features if not is_layer else \
        model_or_layer.hidden_size * model_or_layer.num_directions
    out_shape: List[Any] = ([B, T] if batch_first else [T, B]) if has_time else [B]
    g.outputs.append(g.value_info("output", felem, out_shape + [out_features or "C"]))
    for value, out_name, shape in state_outputs:
        g.nodes.append(onnx.helper.make_node("Identity", [value], [out_name],
                                             name=g.name(f"{out_name}_node")))
        g.outputs.append(g.value_info(out_name, felem, shape))

    graph = onnx.helper.make_graph(g.nodes, "pyrnn", g.inputs, g.outputs, g.inits)
    opsets = [onnx.helper.make_opsetid("", int(opset))]
    model = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="pyrnn")
    # the oldest IR that carries this opset, so that older runtimes load the file
    model.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(model, full_check=True)  # includes strict shape inference
    if path is not None:
        onnx.save(model, os.fspath(path))
    return model
