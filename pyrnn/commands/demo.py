"""Train a character-level LSTM on the Python standard library's sources in a few minutes.

'pyrnn demo' needs nothing but pyrnn: the corpus is the installed Python's own library
source, read from disk (never the network). It prints bits per character as training goes
(training and held-out text), compares with character n-gram baselines, samples text at a
few temperatures, and writes the model, metrics, samples, a learning curve and the
hidden-state visualisation (HTML) to an output folder named at the end.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

DESCRIPTION = __doc__.split("\n", 1)[1].strip()


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "demo", help="train a character-level LSTM on built-in data (a few minutes)",
        description=__doc__.splitlines()[0] + "\n\n" + DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a ~10 s smoke version (small model and corpus, 8 s of training)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder (default: ./pyrnn_runs/demo-<timestamp>/)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="engine threads (default: all cores not kept busy by other "
                        "processes, at least 1)")
    p.add_argument("--seconds", type=float, default=None, metavar="S",
                   help="stop training after S seconds at most (default: 240, --quick: 8); "
                        "training also ends after its epochs (2 passes over the text, --quick: 3)")
    p.add_argument("--hidden", type=int, default=None, metavar="H",
                   help="LSTM units (default: 256, --quick: 96)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    return p


def run(args: argparse.Namespace) -> int:
    from ..experiments import demo
    from ..experiments._common import apply_threads, make_output_dir, stderr_log
    cfg = demo.quick_config() if args.quick else demo.default_config()
    try:
        if args.seconds is not None:
            if not args.seconds > 0:
                raise ValueError(f"--seconds: expected a number > 0, got {args.seconds}")
            cfg = replace(cfg, time_budget=float(args.seconds))
        if args.hidden is not None:
            if args.hidden < 1:
                raise ValueError(f"--hidden: expected an int >= 1, got {args.hidden}")
            cfg = replace(cfg, model=replace(cfg.model, hidden=args.hidden))
        cfg = replace(cfg, seed=args.seed)
        threads = apply_threads(args.threads, log=stderr_log)
        out = make_output_dir(args.out, "demo-quick" if args.quick else "demo")
    except (ValueError, OSError) as e:
        print(f"pyrnn demo: {e}", file=sys.stderr)
        return 1
    print(f"pyrnn demo{' --quick' if args.quick else ''}: character-level LSTM on the Python "
          f"standard library ({threads} thread(s)); artifacts go to {out}", flush=True)
    try:
        result = demo.run(cfg, out, log=lambda s: print(s, flush=True))
    except RuntimeError as e:  # e.g. a Python installed without its library's .py sources
        print(f"pyrnn demo: {e}", file=sys.stderr)
        return 1
    print(f"\nDone in {result['seconds']:.0f} s: validation {result['val_bpc']:.3f} bits/char "
          f"(perplexity {result['val_perplexity']:.2f}) after {result['chars_trained']:,} "
          f"training characters.")
    print(f"Artifacts in {Path(out)}:")
    for name in ("model.pyrnn", "metrics.json", "samples.txt", "hidden_units.html",
                 "bpc_curve.svg"):
        print(f"  {Path(out) / name}")
    print(f"Sample more with: pyrnn sample {Path(out) / 'model.pyrnn'} --prime 'class ' "
          f"--temperature 0.8")
    return 0
