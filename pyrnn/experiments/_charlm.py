"""Character-level language models end to end: build, train with truncated BPTT (rounds of
``fit_stream`` with validation, an optional time budget), evaluate in bits per character,
sample, save/load with the vocabulary inside the model file, and the hidden-state
visualisation (HTML: text coloured by one unit's activation, units picked automatically).

Used by ``pyrnn demo``, ``pyrnn train/sample/evaluate`` and the ``charlm`` experiment.
"""
from __future__ import annotations

import base64
import html
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import init as _init
from .. import optim as _optim
from ..data.text import CharVocab, ngram_baseline, train_val_split
from ..layers.core import Dense, Dropout, Embedding
from ..layers.recurrent import GRU, LSTM, RNN, RecurrentLayer, no_grad
from ..model import Sequential
from ..training import Callback
from ._common import Log, Stopwatch, quiet

LN2 = math.log(2.0)
CELLS = ("lstm", "gru", "rnn")
OPTIMIZERS = {"adam": _optim.Adam, "adamw": _optim.AdamW, "rmsprop": _optim.RMSprop,
              "sgd": _optim.SGD, "adagrad": _optim.Adagrad}
# Key under which the vocabulary and training notes ride in the model file's __metadata__.
# Sequential.save has no argument for extra metadata, so save_model rewrites the file once
# through pyrnn.safetensors_io with this key added; pyrnn.load and the C runtime ignore it.
META_KEY = "pyrnn.charlm"


# ------------------------------------------------------------------------------ model


@dataclass
class ModelSpec:
    """Sizes of a character model: Embedding(V, embed) -> cell(hidden, layers) -> Dense(V)."""

    cell: str = "lstm"
    hidden: int = 256
    layers: int = 1
    embed: int = 32
    dropout: float = 0.0

    def check(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell: expected one of {list(CELLS)}, got {self.cell!r}")
        for name in ("hidden", "layers", "embed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {v!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout: expected a number in [0, 1), got {self.dropout!r}")


def build_model(vocab_size: int, spec: ModelSpec, seed: int = 0) -> Sequential:
    """A fresh character model; recurrent weights orthogonal, LSTM forget bias 1. With
    ``spec.dropout`` > 0, dropout acts between stacked layers and before the output."""
    spec.check()
    cls = {"lstm": LSTM, "gru": GRU, "rnn": RNN}[spec.cell]
    rec = cls(spec.embed, spec.hidden, num_layers=spec.layers, batch_first=True,
              dropout=spec.dropout if spec.layers > 1 else 0.0, seed=seed)
    _init.init_recurrent(rec, seed=seed)
    layers: List[Tuple[str, Any]] = [("embed", Embedding(vocab_size, spec.embed, seed=seed)),
                                     ("rnn", rec)]
    if spec.dropout > 0:
        layers.append(("drop", Dropout(spec.dropout, seed=seed + 2)))
    layers.append(("head", Dense(spec.hidden, vocab_size, seed=seed + 1)))
    return Sequential(layers, seed=seed)


def compile_model(model: Sequential, optimizer: str = "adam", lr: float = 2e-3,
                  clipnorm: Optional[float] = 5.0) -> Sequential:
    """Cross-entropy over next characters, bits-per-char metric, the named optimiser."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr: expected a number > 0, got {lr!r}")
    opt = OPTIMIZERS[optimizer](model, lr=float(lr), clipnorm=clipnorm)
    return model.compile(optimizer=opt, loss="cross_entropy", metrics=["bpc"])


def describe(model: Sequential) -> Dict[str, Any]:
    """Cell, sizes and parameter count of a character model (for metrics and messages)."""
    rec = [layer for layer in model.layers if isinstance(layer, RecurrentLayer)]
    emb = model.layers[0] if isinstance(model.layers[0], Embedding) else None
    info: Dict[str, Any] = {"parameters": model.count_params()}
    if rec:
        r = rec[-1]
        info.update(cell={"LSTM": "lstm", "GRU": "gru"}.get(r.mode, "rnn"),
                    hidden=r.hidden_size, layers=r.num_layers)
    if emb is not None:
        info.update(vocab_size=emb.num_embeddings, embed=emb.embedding_dim)
    return info


# --------------------------------------------------------------------------- save/load


def save_model(model: Sequential, vocab: CharVocab, path: Union[str, os.PathLike],
               notes: Optional[Dict[str, Any]] = None) -> Path:
    """Write the model (weights and architecture, no optimiser state) with the vocabulary
    in its metadata, so ``load_model(path)`` alone can sample from it."""
    from .. import safetensors_io
    path = Path(path)
    model.save(path, include_optimizer=False)
    tensors, meta = safetensors_io.load_file(path)
    meta[META_KEY] = json.dumps({"vocab": vocab.to_dict(), **(notes or {})},
                                ensure_ascii=True)
    safetensors_io.save_file(path, tensors, meta)
    return path


def load_model(path: Union[str, os.PathLike]) -> Tuple[Sequential, CharVocab, Dict[str, Any]]:
    """(model, vocab, notes) from a file written by ``save_model``.

    Also accepts a plain pyrnn model with a ``vocab.json`` (CharVocab.save) beside it.
    Raises ValueError naming the file when it is not a character model.
    """
    from .. import safetensors_io
    from ..model import load
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.pyrnn"))
        if len(found) != 1:
            raise ValueError(f"model: expected a .pyrnn file or a folder holding exactly one, "
                             f"got {path} with {len(found)}")
        path = found[0]
    if not path.is_file():
        raise FileNotFoundError(f"model: no such file: {path}")
    model = load(path, compile=False)
    _, meta = safetensors_io.load_file(path)
    notes: Dict[str, Any] = {}
    if META_KEY in meta:
        try:
            notes = json.loads(meta[META_KEY])
            vocab = CharVocab.from_dict(notes.pop("vocab"))
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"model: {path}: metadata {META_KEY!r} is not a valid vocabulary "
                             f"({e})") from None
    elif (path.parent / "vocab.json").is_file():
        vocab = CharVocab.load(path.parent / "vocab.json")
    else:
        raise ValueError(f"model: {path} carries no vocabulary (no {META_KEY!r} metadata and "
                         f"no vocab.json beside it); was it written by 'pyrnn train'?")
    if not model.takes_tokens or model.layers[0].num_embeddings != vocab.size:
        raise ValueError(f"model: {path}: its input is not {vocab.size} character ids "
                         f"(the vocabulary's size)")
    return model, vocab, notes


# ----------------------------------------------------------------------------- metrics


def stream_layout(n_ids: int, batch_size: int, seq_len: int) -> Tuple[int, int]:
    """(streams, characters scored) when ``n_ids`` ids are scored as parallel streams:
    no more streams than there are chunks of ``seq_len``; the tail that does not fill
    every stream is left out (at most streams - 1 characters)."""
    bs = max(1, min(batch_size, (n_ids - 1) // max(seq_len, 1)))
    return bs, bs * ((n_ids - 1) // bs)


def bits_per_char(model: Sequential, ids: np.ndarray, batch_size: int = 32,
                  seq_len: int = 100) -> float:
    """Mean -log2 p(next char) over ``ids`` (state carried across chunks, eval mode)."""
    ids = np.asarray(ids)
    bs, _ = stream_layout(len(ids), batch_size, seq_len)
    model.compile(loss="cross_entropy")  # a model loaded for sampling has no loss yet
    logs = model.evaluate_stream(ids, batch_size=bs, seq_len=seq_len)
    return float(logs["loss"]) / LN2


def perplexity(bpc: float) -> float:
    """Per-character perplexity 2^bpc."""
    return float(2.0 ** bpc)


def ngram_baselines(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int,
                    orders: Sequence[int] = (1, 3, 5), max_train: int = 3_000_000
                    ) -> Dict[str, float]:
    """Validation bits/char of Kneser-Ney character n-grams fitted on (the last
    ``max_train`` ids of) the training ids: {"1-gram": ..., "3-gram": ..., ...}."""
    tr = np.asarray(train_ids)[-max_train:]
    return {f"{n}-gram": ngram_baseline(tr, val_ids, n=n, vocab_size=vocab_size)
            for n in orders}


# ---------------------------------------------------------------------------- training


class _Tracker(Callback):
    """Counts the characters trained on, anneals the learning rate, and stops fit once
    the stopwatch's budget is spent (checked after each chunk).

    Annealing: lr = lr0 * (f + (1 - f) (1 + cos(pi p)) / 2) with f = ``final_lr_fraction``
    and p the progress, the larger of characters done / planned and time used / budget, so
    the rate is low at the end whichever limit ends the run. (Measured on the demo: the
    last rounds gain ~0.1 bits/char over a constant rate.)
    """

    def __init__(self, watch: Stopwatch, planned_chars: int,
                 final_lr_fraction: Optional[float]) -> None:
        self.watch = watch
        self.stopped = False
        self.chars = 0
        self.planned = max(1, planned_chars)
        self.final = final_lr_fraction
        self.lr0: Optional[float] = None

    def progress(self) -> float:
        p = self.chars / self.planned
        if self.watch.budget:
            p = max(p, self.watch.elapsed / self.watch.budget)
        return min(1.0, p)

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        logs = logs or {}
        self.chars += int(logs.get("size", 0)) * int(logs.get("steps", 0))
        opt = self.model.optimizer
        if self.final is not None and opt is not None:
            if self.lr0 is None:
                self.lr0 = float(opt.lr)
            f = self.final
            opt.lr = self.lr0 * (f + (1 - f) * 0.5 * (1 + math.cos(math.pi * self.progress())))
        if self.watch.over():
            self.stopped = True
            self.model.stop_training = True


@dataclass
class RoundReport:
    """What one training round left: where it was, the bits per char, the time."""

    epoch: int
    round: int
    chars_seen: int
    train_bpc: float
    val_bpc: float
    seconds: float


def train_rounds(model: Sequential, train_ids: np.ndarray, val_ids: Optional[np.ndarray], *,
                 batch_size: int, seq_len: int, epochs: int = 1, rounds_per_epoch: int = 1,
                 time_budget: Optional[float] = None, verbose: Union[int, str] = 0,
                 on_round: Optional[Callable[[RoundReport], None]] = None,
                 final_lr_fraction: Optional[float] = None) -> List[RoundReport]:
    """Truncated BPTT over ``train_ids``, reporting after every round.

    Each epoch cuts ``train_ids`` into ``rounds_per_epoch`` contiguous segments; a round
    is one ``model.fit_stream`` over a segment (``batch_size`` streams, chunks of
    ``seq_len``, state carried across chunks), then validation on ``val_ids``. With a
    ``time_budget`` (seconds) training stops after the chunk that spends it (the round
    still validates). ``final_lr_fraction`` (e.g. 0.1) anneals the learning rate along a
    cosine to that fraction of its start by the end of the run (see ``_Tracker``).
    ``verbose`` goes to fit (1: progress bar on stderr).
    """
    train_ids = np.asarray(train_ids)
    need = batch_size * 2 * rounds_per_epoch + 1
    if len(train_ids) < need:
        raise ValueError(f"text: {len(train_ids)} training characters are too few for "
                         f"batch_size={batch_size} x {rounds_per_epoch} round(s); need at "
                         f"least {need}")
    watch = Stopwatch(time_budget)
    tracker = _Tracker(watch, epochs * len(train_ids), final_lr_fraction)
    bounds = np.linspace(0, len(train_ids), rounds_per_epoch + 1).astype(int)
    reports: List[RoundReport] = []
    for epoch in range(epochs):
        for r in range(rounds_per_epoch):
            segment = train_ids[bounds[r]:bounds[r + 1] + 1]
            S = (len(segment) - 1) // batch_size
            hist = model.fit_stream(segment, batch_size=batch_size, seq_len=min(seq_len, S),
                                    epochs=1, validation_data=val_ids, verbose=verbose,
                                    callbacks=[tracker])
            logs = {k: v[-1] for k, v in hist.history.items() if v}
            rep = RoundReport(epoch + 1, r + 1, tracker.chars, float(logs.get("bpc", math.nan)),
                              float(logs.get("val_bpc", math.nan)), watch.elapsed)
            reports.append(rep)
            if on_round is not None:
                on_round(rep)
            if tracker.stopped:
                return reports
    return reports


# ----------------------------------------------------------------------------- sampling


def sample(model: Sequential, vocab: CharVocab, prime: str, length: int,
           temperature: float = 1.0, seed: Optional[int] = 0, top_k: Optional[int] = None
           ) -> str:
    """``length`` characters continuing ``prime`` (the prime not included).

    Characters of the prime outside the vocabulary raise ValueError naming them; an empty
    prime starts from a newline (or the vocabulary's first character)."""
    if not isinstance(prime, str):
        raise TypeError(f"prime: expected a str, got {type(prime).__name__}")
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length: expected an int >= 1, got {length!r}")
    if not prime:
        prime = "\n" if "\n" in vocab else vocab.chars[0]
    missing = sorted({c for c in prime if c not in vocab})
    if missing and vocab.unk is None:
        raise ValueError(f"prime: characters not in the model's vocabulary: {missing[:10]}")
    return model.generate(prime, length, temperature=float(temperature), vocab=vocab,
                          seed=seed, top_k=top_k, sample=temperature > 0)


# ------------------------------------------------------------------------ visualisation


def hidden_activations(model: Sequential, ids: np.ndarray) -> np.ndarray:
    """(T, H) outputs h_t of the last recurrent layer (its top layer) over ``ids`` run as
    one sequence from a zero state, in eval mode. h_t = o * tanh(c_t) for LSTM, in (-1, 1)."""
    ids = np.asarray(ids, dtype=np.int64)[None, :]
    last = max(i for i, layer in enumerate(model.layers) if isinstance(layer, RecurrentLayer))
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            x: Any = ids if model.batch_first else ids.T
            for layer in model.layers[:last + 1]:
                if isinstance(layer, RecurrentLayer):
                    x, _ = layer(x)
                else:
                    x = layer(x)
    finally:
        model.train(was_training)
    out = x[0] if model.batch_first else x[:, 0]
    return np.asarray(out, dtype=np.float64)


def text_features(text: str, code: bool = True) -> Dict[str, np.ndarray]:
    """Per-character features of the text that interesting units tend to track.

    position_in_line (column), position_in_word, bracket_depth (open ( [ {), and for code:
    inside_string (Python quotes, triple quotes, escapes), inside_comment, indentation
    (leading spaces of the line); for prose: inside_quotes. Each (T,) float64; a feature
    is taken at the character just read (what the unit has seen).
    """
    T = len(text)
    col = np.zeros(T)
    word = np.zeros(T)
    depth = np.zeros(T)
    in_str = np.zeros(T)
    in_com = np.zeros(T)
    indent = np.zeros(T)
    c_col = c_word = c_depth = 0
    quote: Optional[str] = None  # the open string's delimiter (' " ''' or \"\"\")
    comment = False
    escaped = False
    line_indent = 0
    at_line_start = True
    i = 0
    while i < T:
        ch = text[i]
        if ch == "\n":
            c_col, c_word = 0, 0
            comment = False
            line_indent, at_line_start = 0, True
            if quote is not None and len(quote) == 1:
                quote = None  # an unterminated one-line string ends with its line
        else:
            c_col += 1
            c_word = 0 if ch.isspace() else c_word + 1
            if at_line_start:
                if ch == " ":
                    line_indent += 1
                else:
                    at_line_start = False
        step = 1
        if quote is not None:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif text.startswith(quote, i):
                step = len(quote)
                quote = None
        elif comment:
            pass
        elif ch == "#" and code:
            comment = True
        elif ch in "'\"":
            triple = ch * 3
            quote = triple if code and text.startswith(triple, i) else ch
            step = len(quote)
        elif ch in "([{":
            c_depth += 1
        elif ch in ")]}":
            c_depth = max(0, c_depth - 1)
        for j in range(i, min(i + step, T)):
            col[j], word[j], depth[j] = c_col, c_word, c_depth
            in_str[j] = 1.0 if (quote is not None or step > 1 or ch in "'\"") else 0.0
            in_com[j] = 1.0 if comment else 0.0
            indent[j] = line_indent
        if step > 1:  # the rest of a triple quote: same line, column advances
            c_col += step - 1
        i += step
    feats = {"position_in_line": col, "position_in_word": word, "bracket_depth": depth}
    if code:
        feats.update(inside_string=in_str, inside_comment=in_com, indentation=indent)
    else:
        feats["inside_quotes"] = in_str
    return feats


def correlations(acts: np.ndarray, feats: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Pearson r of every unit (columns of acts (T, H)) with every feature; (H,) each,
    0 where a unit or the feature is constant."""
    a = acts - acts.mean(axis=0)
    a_norm = np.sqrt((a * a).sum(axis=0))
    out = {}
    for name, f in feats.items():
        fc = f - f.mean()
        f_norm = math.sqrt(float(fc @ fc))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (fc @ a) / (a_norm * f_norm)
        out[name] = np.nan_to_num(r)
    return out


def pick_units(acts: np.ndarray, feats: Dict[str, np.ndarray]) -> List[Dict[str, Any]]:
    """For each feature, the unit whose activation correlates most (|r|) with it."""
    picks = []
    for name, r in correlations(acts, feats).items():
        if not np.any(r):
            continue
        u = int(np.argmax(np.abs(r)))
        picks.append({"feature": name, "unit": u, "r": float(r[u])})
    return sorted(picks, key=lambda p: -abs(p["r"]))


def _colour(v: float) -> str:
    """-1 red, 0 white, +1 blue (Karpathy's convention)."""
    v = max(-1.0, min(1.0, v))
    if v < 0:
        g = int(round(255 * (1 + v)))
        return f"#ff{g:02x}{g:02x}"
    g = int(round(255 * (1 - v)))
    return f"#{g:02x}{g:02x}ff"


def _coloured(text: str, values: np.ndarray) -> str:
    parts = []
    for ch, v in zip(text, values):
        shown = "\u21b5\n" if ch == "\n" else html.escape(ch)
        parts.append(f'<span style="background:{_colour(float(v))}">{shown}</span>')
    return "".join(parts)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 1em auto; color: #222; }}
pre {{ font-family: monospace; font-size: 13px; line-height: 1.45; white-space: pre-wrap;
      border: 1px solid #ccc; padding: 6px; }}
.legend span {{ padding: 2px 8px; font-family: monospace; }}
</style></head><body>
<h1>{title}</h1>
<p>{intro}</p>
<p class="legend">Colour = the unit's activation h<sub>t</sub> after reading the character:
<span style="background:#ff0000">-1</span><span style="background:#ff8080">-0.5</span>
<span style="background:#ffffff">0</span><span style="background:#8080ff">+0.5</span>
<span style="background:#0000ff;color:#fff">+1</span> (&#8629; marks a newline).</p>
{sections}
<h2>Explore any unit</h2>
<p>Units sorted by their strongest correlation with a feature. <select id="unit"></select>
<span id="info"></span></p>
<pre id="explore"></pre>
<script>
const TEXT = Array.from({text_json});  // code points, as the model read them
const H = {H}, T = TEXT.length;
const RAW = atob("{acts_b64}");
const ORDER = {order_json};
const INFO = {info_json};
function colour(v) {{
  v = Math.max(-1, Math.min(1, v));
  if (v < 0) {{ const g = Math.round(255 * (1 + v)); return `rgb(255,${{g}},${{g}})`; }}
  const g = Math.round(255 * (1 - v)); return `rgb(${{g}},${{g}},255)`;
}}
function show(u) {{
  const pre = document.getElementById("explore");
  pre.textContent = "";
  for (let t = 0; t < T; t++) {{
    let b = RAW.charCodeAt(t * H + u); if (b > 127) b -= 256;
    const s = document.createElement("span");
    s.style.background = colour(b / 127);
    s.textContent = TEXT[t] === "\\n" ? "\\u21b5\\n" : TEXT[t];
    pre.appendChild(s);
  }}
  document.getElementById("info").textContent = INFO[u];
}}
const sel = document.getElementById("unit");
for (const u of ORDER) {{
  const o = document.createElement("option"); o.value = u; o.textContent = "unit " + u;
  sel.appendChild(o);
}}
sel.onchange = () => show(+sel.value);
show(ORDER[0]);
</script>
</body></html>
"""


def coloured_text_svg(text: str, values: np.ndarray, title: str, max_lines: int = 24,
                      max_cols: int = 100) -> str:
    """The same picture as the HTML sections, as a standalone SVG (for documents that
    cannot hold HTML): one cell per character, background = the unit's activation."""
    from xml.sax.saxutils import escape
    cw, lh, top, left = 7.8, 17, 30, 8
    cells = []
    row = col = 0
    width = 0
    for ch, v in zip(text, values):
        if row >= max_lines:
            break
        if col < max_cols:
            x, y = left + col * cw, top + row * lh
            cells.append(f'<rect x="{x:.1f}" y="{y}" width="{cw:.1f}" height="{lh}" '
                         f'fill="{_colour(float(v))}"/>')
            if ch not in "\n ":
                cells.append(f'<text x="{x + cw / 2:.1f}" y="{y + lh - 5}">{escape(ch)}</text>')
            width = max(width, col + 1)
        if ch == "\n":
            row, col = row + 1, 0
        else:
            col += 1
    W = int(max(left * 2 + max(width, 40) * cw, left * 2 + 7.5 * len(title)))
    H = top + (min(row + 1, max_lines)) * lh + 8
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
            f'viewBox="0 0 {W} {H}" font-family="monospace" font-size="13" '
            f'text-anchor="middle">\n<rect width="{W}" height="{H}" fill="white"/>\n'
            f'<text x="{left}" y="20" text-anchor="start" font-family="sans-serif" '
            f'font-size="14">{escape(title)}</text>\n' + "\n".join(cells) + "\n</svg>\n")


def _script_json(obj: Any) -> str:
    """JSON safe inside a <script> element: "</script>" in the text must not end it."""
    return json.dumps(obj).replace("<", "\\u003c")


def write_visualisation(model: Sequential, vocab: CharVocab, text: str,
                        path: Union[str, os.PathLike], code: bool = True,
                        title: str = "Hidden-state visualisation",
                        analysis_text: Optional[str] = None, svg_units: int = 3
                        ) -> Dict[str, Any]:
    """Write the HTML page (and SVG pictures of the ``svg_units`` best units beside it,
    named ``<page stem>_<rank>.svg``); return the picked units and the files.

    ``text`` is shown; the units are picked on ``analysis_text`` (default: ``text``), a
    longer stretch, by correlating every unit with ``text_features``. The page shows one
    section per picked unit and an explorer (a few lines of JavaScript) for any unit.
    """
    analysis_text = text if analysis_text is None else analysis_text
    acts_a = hidden_activations(model, vocab.encode(analysis_text))
    picks = pick_units(acts_a, text_features(analysis_text, code=code))
    acts = hidden_activations(model, vocab.encode(text))
    T, H = acts.shape
    corr = correlations(acts_a, text_features(analysis_text, code=code))
    best = np.max(np.abs(np.stack(list(corr.values()))), axis=0) if corr else np.zeros(H)
    order = [int(u) for u in np.argsort(-best)]
    info = []
    for u in range(H):
        name = max(corr, key=lambda k: abs(corr[k][u])) if corr else ""
        info.append(f"strongest: {name} (r = {corr[name][u]:+.2f})" if corr else "")
    sections = []
    for p in picks:
        sections.append(f"<h2>Unit {p['unit']}: {html.escape(p['feature'].replace('_', ' '))} "
                        f"(r = {p['r']:+.2f})</h2>\n<pre>{_coloured(text, acts[:, p['unit']])}"
                        f"</pre>")
    q = np.clip(np.round(acts * 127), -127, 127).astype(np.int8)
    page = _PAGE.format(
        title=html.escape(title),
        intro=(f"{describe(model).get('cell', 'rnn').upper()} with {H} units in its last "
               f"recurrent layer. Units were picked by the correlation of their activation "
               f"with simple features of the text over {len(analysis_text):,} characters; "
               f"the text shown is the first {T:,}."),
        sections="\n".join(sections),
        text_json=_script_json(text),
        H=H,
        acts_b64=base64.b64encode(q.tobytes()).decode("ascii"),
        order_json=json.dumps(order),
        info_json=_script_json(info),
    )
    Path(path).write_text(page, encoding="utf-8")
    pictures = []
    for rank, p in enumerate(picks[:svg_units]):
        svg = Path(path).with_name(f"{Path(path).stem}_{rank + 1}.svg")
        svg.write_text(coloured_text_svg(
            text, acts[:, p["unit"]], f"unit {p['unit']}: {p['feature'].replace('_', ' ')} "
                                     f"(r = {p['r']:+.2f}); red -1, blue +1"), encoding="utf-8")
        pictures.append(str(svg))
    return {"path": str(path), "units": picks, "pictures": pictures}


# ------------------------------------------------------------------- train on any text


@dataclass
class TrainSettings:
    """What ``pyrnn train`` takes besides the text and the model sizes."""

    batch_size: int = 32
    seq_len: int = 100
    epochs: int = 1
    optimizer: str = "adam"
    lr: float = 2e-3
    clipnorm: Optional[float] = 5.0
    val_fraction: float = 0.05
    rounds: int = 4                 # validation reports per epoch
    time_budget: Optional[float] = None
    sample_length: int = 300
    temperature: float = 0.8
    seed: int = 0

    def check(self) -> None:
        for name in ("batch_size", "seq_len", "epochs", "rounds", "sample_length"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name.replace('_', '-')}: expected an int >= 1, got {v!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val-fraction: expected a number in (0, 1), got "
                             f"{self.val_fraction!r}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ValueError(f"seconds: expected a number > 0, got {self.time_budget!r}")


VAL_CHARS_PER_ROUND = 200_000  # validation text scored after each round (all of it at the end)


def train_text(text: str, spec: ModelSpec, settings: TrainSettings, out_dir: Path,
               source: str = "", log: Log = quiet, verbose: Union[int, str] = 0
               ) -> Dict[str, Any]:
    """Train a character model on ``text``; write model.pyrnn (vocabulary inside),
    metrics.json, sample.txt and bpc_curve.svg/.csv to ``out_dir``; return the metrics."""
    from ._common import write_json
    from ._plot import Plot, Series, save_line_plot
    spec.check()
    settings.check()
    if not text:
        raise ValueError("text: the input holds no characters")
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    need = 2 * settings.batch_size * settings.rounds + 2
    if len(ids) * (1 - settings.val_fraction) < need:
        raise ValueError(f"text: {len(ids):,} characters are too few for batch-size "
                         f"{settings.batch_size} and {settings.rounds} round(s) per epoch; "
                         f"give more text or lower --batch-size/--rounds")
    train_ids, val_ids = train_val_split(ids, settings.val_fraction)
    log(f"text: {len(text):,} characters{' from ' + source if source else ''}, "
        f"{vocab.size} distinct; {len(train_ids):,} for training, {len(val_ids):,} held out")
    model = build_model(vocab.size, spec, seed=settings.seed)
    compile_model(model, settings.optimizer, settings.lr, settings.clipnorm)
    log(f"model: {spec.cell.upper()} {spec.hidden} units x {spec.layers} layer(s), "
        f"{model.count_params():,} parameters; {settings.optimizer} lr {settings.lr:g}, "
        f"{settings.batch_size} streams x {settings.seq_len} steps")
    curve: List[Dict[str, Any]] = []

    def on_round(rep: RoundReport) -> None:
        curve.append(asdict(rep))
        log(f"  epoch {rep.epoch}/{settings.epochs} round {rep.round}/{settings.rounds}  "
            f"{rep.seconds:7.1f} s  {rep.chars_seen:,} chars  train {rep.train_bpc:.3f}  "
            f"val {rep.val_bpc:.3f} bits/char")

    watch = Stopwatch()
    val_round = val_ids[:VAL_CHARS_PER_ROUND]
    reports = train_rounds(model, train_ids, val_round, batch_size=settings.batch_size,
                           seq_len=settings.seq_len, epochs=settings.epochs,
                           rounds_per_epoch=settings.rounds, time_budget=settings.time_budget,
                           verbose=verbose, on_round=on_round)
    seconds = watch.elapsed
    val_bpc = reports[-1].val_bpc
    if len(val_ids) > len(val_round):
        val_bpc = bits_per_char(model, val_ids, settings.batch_size, settings.seq_len)
    baselines = ngram_baselines(train_ids, val_ids, vocab.size, (1, 3))
    prime = "\n" if "\n" in vocab else text[:1]
    s = sample(model, vocab, prime, settings.sample_length, settings.temperature, settings.seed)
    metrics: Dict[str, Any] = {
        "source": source, "characters": len(text), "vocab_size": vocab.size,
        "train_characters": len(train_ids), "val_characters": len(val_ids),
        "model": {**asdict(spec), **describe(model)}, "settings": asdict(settings),
        "chars_trained": reports[-1].chars_seen, "train_seconds": seconds,
        "val_bpc": val_bpc, "val_perplexity": perplexity(val_bpc), "ngram_bpc": baselines,
        "curve": curve, "sample": prime + s}
    save_model(model, vocab, out_dir / "model.pyrnn",
               {"source": source, "val_bpc": val_bpc, "spec": asdict(spec)})
    write_json(out_dir / "metrics.json", metrics)
    (out_dir / "sample.txt").write_text(prime + s + "\n", encoding="utf-8")
    code = text.count("def ") + text.count("import ") > len(text) / 5000  # Python-like?
    start = _line_start(text, len(train_ids))
    vis = write_visualisation(model, vocab, text[start:start + 1500],
                              out_dir / "hidden_units.html", code=code,
                              title=f"Hidden units of a character {spec.cell.upper()}",
                              analysis_text=text[start:start + 20_000])
    metrics["visualisation"] = vis
    plot = Plot("Character model: bits per character", "characters trained",
                "bits per character",
                [Series([c["chars_seen"] for c in curve], [c["train_bpc"] for c in curve],
                        "train (round mean)"),
                 Series([c["chars_seen"] for c in curve], [c["val_bpc"] for c in curve],
                        "validation")],
                hlines=[(v, f"{k} baseline") for k, v in baselines.items()])
    metrics["plots"] = save_line_plot(plot, out_dir, "bpc_curve")
    return metrics


def _line_start(text: str, at: int) -> int:
    """Index just after the first newline at or after ``at`` (``at`` if there is none)."""
    k = text.find("\n", at)
    return at if k < 0 or k + 1 >= len(text) else k + 1


def encode_known(vocab: CharVocab, text: str) -> Tuple[np.ndarray, Dict[str, int]]:
    """Ids of the characters of ``text`` that the vocabulary knows, and the counts of the
    ones it does not (which are dropped: a model cannot score what it cannot read)."""
    if vocab.unk is not None:
        return vocab.encode(text), {}
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    known = np.isin(cps, vocab._cps)
    missing: Dict[str, int] = {}
    if not known.all():
        uniq, counts = np.unique(cps[~known], return_counts=True)
        missing = {chr(int(c)): int(n) for c, n in zip(uniq, counts)}
        text = cps[known].astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")
    return vocab.encode(text), missing
