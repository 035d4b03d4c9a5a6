"""The ``pyrnn demo`` job as a library call: a character-level LSTM trained with truncated
BPTT on the Python standard library's sources (always present, no network), compared to
n-gram baselines, sampled at several temperatures, visualised, saved.

``run(config, out_dir, log)`` returns the metrics dict it also writes to metrics.json.
Training ends after ``config.epochs`` passes over the text or at ``config.time_budget``
seconds, whichever comes first, so the whole demo stays within a few minutes whatever
the machine's speed and load; the metrics say how much text it saw.
"""
from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..data.text import CharVocab, python_stdlib_corpus, train_val_split
from . import _charlm as lm
from ._common import Log, stderr_is_tty, Stopwatch, format_table, quiet, write_json
from ._plot import Plot, Series, save_line_plot


@dataclass
class Config:
    """Everything the demo does, with the defaults of ``pyrnn demo``."""

    corpus_chars: int = 5_000_000     # of the stdlib sources (shuffled by file, seeded)
    val_fraction: float = 0.04
    model: lm.ModelSpec = field(default_factory=lambda: lm.ModelSpec("lstm", 256, 1, 32))
    batch_size: int = 32
    seq_len: int = 50                 # measured: learns faster per second than 100
    optimizer: str = "adam"
    lr: float = 3e-3
    clipnorm: float = 5.0
    epochs: int = 2
    rounds: int = 6                   # validation reports per epoch
    # Seconds of training at most. The two epochs (9.6M characters) took 85 s on a quiet
    # 2-core Zen 5 (AVX-512) with 2 threads; the cap is for slower or busier machines,
    # where the model needs that text to beat the 5-gram (measured there with 1 thread:
    # 3.3M characters in 50 s, 1.945 bits/char; 9.0M in 140 s, 1.687; a 128-unit LSTM's
    # two epochs, in 50 s, only reach 1.92).
    time_budget: Optional[float] = 240.0
    final_lr_fraction: Optional[float] = 0.1  # cosine annealing over the run
    val_chars_per_round: int = 60_000  # validation text scored after each round
    ngram_orders: Tuple[int, ...] = (1, 3, 5)
    prime: str = "def "
    temperatures: Tuple[float, ...] = (0.5, 0.8, 1.0)
    sample_length: int = 400
    vis_chars: int = 1500             # characters shown in the visualisation
    vis_analysis_chars: int = 20_000  # characters used to pick interesting units
    seed: int = 0


def quick_config() -> Config:
    """A ~10 s smoke version (used by tests and CI): small model, small corpus."""
    return Config(corpus_chars=400_000, val_fraction=0.05,
                  model=lm.ModelSpec("lstm", 96, 1, 16), seq_len=50, lr=5e-3, epochs=3,
                  rounds=2, time_budget=8.0, val_chars_per_round=10_000, ngram_orders=(1, 3),
                  temperatures=(0.5, 1.0), sample_length=150, vis_chars=600,
                  vis_analysis_chars=5_000)


def default_config() -> Config:
    return Config()


def _suggest_seconds(seconds: float, chars: int, planned: int) -> int:
    """Seconds of training that would cover ``planned`` characters at the speed seen
    (``chars`` in ``seconds``), with a 10% margin, rounded up to ten."""
    need = 1.1 * seconds * planned / max(chars, 1)
    return int(math.ceil(need / 10.0 - 1e-9) * 10)


def _line_start(text: str, at: int) -> int:
    """Index of the first character after the newline at or after ``at`` (or ``at``)."""
    k = text.find("\n", at)
    return at if k < 0 or k + 1 >= len(text) else k + 1


def run(config: Optional[Config] = None, out_dir: Optional[Path] = None,
        log: Log = quiet) -> Dict[str, Any]:
    """Train, evaluate, sample, visualise; write artifacts to ``out_dir`` (if given).

    ``log`` receives the human-readable lines (bits per char as training goes, tables,
    samples). Returns the metrics (also written to ``out_dir``/metrics.json).
    """
    import pyrnn
    cfg = config or default_config()
    cfg.model.check()
    total = Stopwatch()
    rng_seed = int(cfg.seed)

    text = python_stdlib_corpus(max_chars=cfg.corpus_chars, seed=rng_seed)
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    train_ids, val_ids = train_val_split(ids, cfg.val_fraction)
    val_text = text[len(train_ids):]
    log(f"corpus: {len(text):,} characters of Python standard library source "
        f"({vocab.size} distinct), {len(train_ids):,} for training, {len(val_ids):,} held out")

    t0 = time.perf_counter()
    baselines = lm.ngram_baselines(train_ids, val_ids, vocab.size, cfg.ngram_orders)
    log("n-gram baselines (Kneser-Ney, validation bits/char): " + ", ".join(
        f"{k} {v:.3f}" for k, v in baselines.items()) + f"  [{time.perf_counter() - t0:.1f} s]")

    model = lm.build_model(vocab.size, cfg.model, seed=rng_seed)
    lm.compile_model(model, cfg.optimizer, cfg.lr, cfg.clipnorm)
    info = lm.describe(model)
    log(f"model: Embedding({vocab.size}, {cfg.model.embed}) -> {cfg.model.cell.upper()}"
        f"({cfg.model.hidden} units x {cfg.model.layers} layer(s)) -> Dense({vocab.size}); "
        f"{info['parameters']:,} parameters; {pyrnn.get_num_threads()} thread(s), "
        f"SIMD {pyrnn.simd_target()}")
    budget = f", stopping after {cfg.time_budget:g} s" if cfg.time_budget else ""
    log(f"training: truncated BPTT, {cfg.batch_size} streams x {cfg.seq_len} steps per chunk, "
        f"{cfg.optimizer} lr {cfg.lr:g}{budget}")

    val_round = val_ids[: max(cfg.val_chars_per_round, cfg.seq_len + 2)]
    curve: List[Dict[str, float]] = []

    def on_round(rep: lm.RoundReport) -> None:
        curve.append(asdict(rep))
        log(f"  round {rep.round:2d}/{cfg.rounds} epoch {rep.epoch}  {rep.seconds:6.1f} s  "
            f"{rep.chars_seen / 1e6:5.2f}M chars  train {rep.train_bpc:.3f} bpc  "
            f"val {rep.val_bpc:.3f} bpc")

    verbose = 1 if stderr_is_tty() else 0
    train_watch = Stopwatch()
    reports = lm.train_rounds(model, train_ids, val_round, batch_size=cfg.batch_size,
                              seq_len=cfg.seq_len, epochs=cfg.epochs, rounds_per_epoch=cfg.rounds,
                              time_budget=cfg.time_budget, verbose=verbose, on_round=on_round,
                              final_lr_fraction=cfg.final_lr_fraction)
    train_seconds = train_watch.elapsed
    chars_seen = reports[-1].chars_seen if reports else 0

    t0 = time.perf_counter()
    val_bpc = lm.bits_per_char(model, val_ids, cfg.batch_size, cfg.seq_len)
    eval_seconds = time.perf_counter() - t0
    rows = [["LSTM (this run)", val_bpc, lm.perplexity(val_bpc)]]
    rows += [[f"{k} Kneser-Ney", v, lm.perplexity(v)] for k, v in baselines.items()]
    log("")
    log(format_table(["model", "val bits/char", "val perplexity"], rows,
                     f"Validation on {len(val_ids):,} held-out characters"))
    planned = cfg.epochs * len(train_ids)
    best = min(baselines.values(), default=math.inf)
    stopped = bool(cfg.time_budget) and train_seconds >= cfg.time_budget
    speed = chars_seen / train_seconds if train_seconds > 0 else None
    if val_bpc >= best and stopped:
        log(f"The LSTM has not overtaken the best n-gram yet: in {train_seconds:.0f} s this "
            f"machine trained it on {chars_seen / 1e6:.1f}M of the {planned / 1e6:.1f}M "
            f"characters of {cfg.epochs} epochs ({speed or 0:,.0f} per second, "
            f"{pyrnn.get_num_threads()} thread(s)); --seconds "
            f"{_suggest_seconds(train_seconds, chars_seen, planned)} lets it see them all.")

    samples = {}
    log("")
    for t in cfg.temperatures:
        s = lm.sample(model, vocab, cfg.prime, cfg.sample_length, temperature=t, seed=rng_seed)
        samples[f"{t:g}"] = s
        log(f"--- sample at temperature {t:g} (prime {cfg.prime!r}) ---")
        log(cfg.prime + s)
    log("---")

    result: Dict[str, Any] = {
        "task": "character-level language model, Python standard library sources",
        "config": asdict(cfg),
        "corpus": {"characters": len(text), "vocab_size": vocab.size,
                   "train_characters": len(train_ids), "val_characters": len(val_ids)},
        "model": info,
        "threads": pyrnn.get_num_threads(),
        "simd": pyrnn.simd_target(),
        "machine": platform.platform(),
        "chars_trained": chars_seen,
        "stopped_by_time_budget": stopped,
        "train_seconds": train_seconds,
        "train_chars_per_second": speed,
        "val_bpc": val_bpc,
        "val_perplexity": lm.perplexity(val_bpc),
        "ngram_bpc": baselines,
        "curve": curve,
        "samples": samples,
        "eval_seconds": eval_seconds,
    }
    if out_dir is not None:
        out_dir = Path(out_dir)
        lm.save_model(model, vocab, out_dir / "model.pyrnn",
                      {"corpus": "python_stdlib", "val_bpc": val_bpc, "chars_trained": chars_seen})
        start = _line_start(val_text, 0)
        vis = lm.write_visualisation(
            model, vocab, val_text[start:start + cfg.vis_chars], out_dir / "hidden_units.html",
            code=True, title="pyrnn demo: what the LSTM's units track",
            analysis_text=val_text[start:start + cfg.vis_analysis_chars])
        result["visualisation"] = vis
        log("interesting units (correlation of activation with a feature of the text): "
            + ", ".join(f"unit {u['unit']} ~ {u['feature']} (r={u['r']:+.2f})"
                        for u in vis["units"][:4]))
        with open(out_dir / "samples.txt", "w", encoding="utf-8") as f:
            for t, s in samples.items():
                f.write(f"--- temperature {t} (prime {cfg.prime!r}) ---\n{cfg.prime}{s}\n\n")
        plot = Plot("Character LSTM on Python stdlib sources", "characters trained",
                    "bits per character",
                    [Series([c["chars_seen"] for c in curve], [c["train_bpc"] for c in curve],
                            "train (round mean)"),
                     Series([c["chars_seen"] for c in curve], [c["val_bpc"] for c in curve],
                            "validation")],
                    hlines=[(v, f"{k} baseline") for k, v in baselines.items() if k != "1-gram"])
        # SVG only: matplotlib would write its font cache outside the output folder
        result["plots"] = save_line_plot(plot, out_dir, "bpc_curve", png=False)
        result["seconds"] = total.elapsed
        write_json(out_dir / "metrics.json", result)
    result["seconds"] = total.elapsed
    return result


