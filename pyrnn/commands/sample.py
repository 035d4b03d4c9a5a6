"""Generate text from a character model written by 'pyrnn train' or 'pyrnn demo'.

The model file carries its vocabulary. Lower --temperature (e.g. 0.5) gives safer, more
repetitive text; higher (1.0 and above) more varied and more wrong; 0 always picks the
most likely character.

Example: pyrnn sample pyrnn_runs/demo-.../model.pyrnn --prime "def " --temperature 0.8
"""
from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sample", help="generate text from a trained character model",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL",
                   help="a .pyrnn file from 'pyrnn train'/'pyrnn demo' (or its folder)")
    p.add_argument("--prime", default="", help="text to start from (default: a newline)")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="sampling temperature >= 0 (default: 0.8; 0 = greedy)")
    p.add_argument("--length", type=int, default=500,
                   help="characters to generate (default: 500)")
    p.add_argument("--num", type=int, default=1, help="how many samples (default: 1)")
    p.add_argument("--top-k", type=int, default=None,
                   help="sample only among the k most likely characters")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed (default: a fresh one each run)")
    p.add_argument("--no-prime", action="store_true",
                   help="print only the generated text, not the prime before it")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="engine threads (default: all cores not kept busy by other "
                        "processes, at least 1)")
    return p


def run(args: argparse.Namespace) -> int:
    from ..experiments import _charlm as lm
    from ..experiments._common import apply_threads
    try:
        if not args.temperature >= 0:
            raise ValueError(f"temperature: expected a number >= 0, got {args.temperature}")
        if args.length < 1:
            raise ValueError(f"length: expected an int >= 1, got {args.length}")
        if args.num < 1:
            raise ValueError(f"num: expected an int >= 1, got {args.num}")
        if args.top_k is not None and args.top_k < 1:
            raise ValueError(f"top-k: expected an int >= 1, got {args.top_k}")
        apply_threads(args.threads)
        model, vocab, _ = lm.load_model(args.model)
        for i in range(args.num):
            seed = None if args.seed is None else args.seed + i
            text = lm.sample(model, vocab, args.prime, args.length, args.temperature, seed,
                             args.top_k)
            if args.num > 1:
                print(f"--- sample {i + 1} ---")
            print(text if args.no_prime else args.prime + text)
    except (ValueError, OSError, TypeError) as e:
        print(f"pyrnn sample: {e}", file=sys.stderr)
        return 1
    return 0
