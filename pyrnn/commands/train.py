"""Train a character-level language model on a text file or a folder of text files.

Truncated BPTT (state carried across chunks of --seq-len characters in --batch-size
parallel streams), bits per character on held-out text after each round, then the model
(with its vocabulary, so 'pyrnn sample' and 'pyrnn evaluate' need nothing else), metrics,
a sample, a learning curve and the hidden-state visualisation (HTML) in the output folder
named at the end.

Example: pyrnn train notes.txt --cell lstm --hidden 256 --layers 2 --epochs 5
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train a character-level language model on your text",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="PATH",
                   help="a UTF-8 text file, or a folder (every text file under it)")
    m = p.add_argument_group("model")
    m.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm",
                   help="recurrent cell (default: lstm; rnn = tanh Elman)")
    m.add_argument("--hidden", type=int, default=256, help="units per layer (default: 256)")
    m.add_argument("--layers", type=int, default=1, help="stacked layers (default: 1)")
    m.add_argument("--embed", type=int, default=32,
                   help="character embedding size (default: 32)")
    m.add_argument("--dropout", type=float, default=0.0,
                   help="dropout between stacked layers (default: 0)")
    t = p.add_argument_group("training")
    t.add_argument("--seq-len", type=int, default=100,
                   help="truncated-BPTT chunk length in characters (default: 100)")
    t.add_argument("--batch-size", type=int, default=32,
                   help="parallel streams (default: 32)")
    t.add_argument("--epochs", type=int, default=1, help="passes over the text (default: 1)")
    t.add_argument("--optimizer", choices=["adam", "adamw", "rmsprop", "sgd", "adagrad"],
                   default="adam", help="optimiser (default: adam)")
    t.add_argument("--lr", type=float, default=2e-3, help="learning rate (default: 0.002)")
    t.add_argument("--clipnorm", type=float, default=5.0,
                   help="clip the global gradient norm (default: 5; 0 = off)")
    t.add_argument("--val-fraction", type=float, default=0.05,
                   help="share of the text (its end) held out for validation (default: 0.05)")
    t.add_argument("--rounds", type=int, default=4,
                   help="validation reports per epoch (default: 4)")
    t.add_argument("--seconds", type=float, default=None,
                   help="stop training after this many seconds (default: no limit)")
    t.add_argument("--max-chars", type=int, default=None,
                   help="read at most this many characters of the text")
    t.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="engine threads (default: all cores not kept busy by other "
                        "processes, at least 1)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder (default: ./pyrnn_runs/train-<timestamp>/)")
    return p


def run(args: argparse.Namespace) -> int:
    from ..data.text import load_text
    from ..experiments import _charlm as lm
    from ..experiments._common import apply_threads, make_output_dir, stderr_log
    try:
        spec = lm.ModelSpec(args.cell, args.hidden, args.layers, args.embed, args.dropout)
        spec.check()
        settings = lm.TrainSettings(
            batch_size=args.batch_size, seq_len=args.seq_len, epochs=args.epochs,
            optimizer=args.optimizer, lr=args.lr,
            clipnorm=args.clipnorm if args.clipnorm and args.clipnorm > 0 else None,
            val_fraction=args.val_fraction, rounds=args.rounds, time_budget=args.seconds,
            seed=args.seed)
        settings.check()
        if not args.lr > 0:
            raise ValueError(f"lr: expected a number > 0, got {args.lr}")
        if args.max_chars is not None and args.max_chars < 1:
            raise ValueError(f"max-chars: expected an int >= 1, got {args.max_chars}")
        text = load_text(args.path)
        if args.max_chars is not None:
            text = text[:args.max_chars]
        threads = apply_threads(args.threads, log=stderr_log)
        out = make_output_dir(args.out, "train")
    except (ValueError, OSError) as e:
        print(f"pyrnn train: {e}", file=sys.stderr)
        return 1
    print(f"pyrnn train: {threads} thread(s); artifacts go to {out}", flush=True)
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        metrics = lm.train_text(text, spec, settings, out, source=str(args.path),
                                log=lambda s: print(s, flush=True),
                                verbose=1 if isatty and isatty() else 0)
    except ValueError as e:
        print(f"pyrnn train: {e}", file=sys.stderr)
        return 1
    print(f"\nvalidation: {metrics['val_bpc']:.3f} bits/char, perplexity "
          f"{metrics['val_perplexity']:.2f} (n-grams: " + ", ".join(
              f"{k} {v:.3f}" for k, v in metrics["ngram_bpc"].items()) + ")")
    print(f"--- sample (temperature {settings.temperature:g}) ---\n{metrics['sample']}\n---")
    print(f"Artifacts in {Path(out)}: model.pyrnn, metrics.json, sample.txt, bpc_curve.svg, "
          f"hidden_units.html")
    print(f"Next: pyrnn sample {Path(out) / 'model.pyrnn'} --prime '...' --temperature 0.8")
    return 0
