"""Score a character model on a text: bits per character and perplexity.

The text (a file or a folder of text files) is read as one stream, with the model's state
carried from chunk to chunk. Characters the model's vocabulary does not hold cannot be
scored; they are dropped and counted in the report.

Example: pyrnn evaluate model.pyrnn held_out.txt
"""
from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate", help="bits per character and perplexity of a character model on a text",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="a .pyrnn file from 'pyrnn train'/'demo'")
    p.add_argument("path", metavar="PATH", help="a UTF-8 text file or a folder of them")
    p.add_argument("--batch-size", type=int, default=32,
                   help="parallel streams the text is cut into (default: 32)")
    p.add_argument("--seq-len", type=int, default=100,
                   help="chunk length; the state is carried across chunks (default: 100)")
    p.add_argument("--max-chars", type=int, default=None,
                   help="score at most this many characters")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="engine threads (default: all cores not kept busy by other "
                        "processes, at least 1)")
    return p


def run(args: argparse.Namespace) -> int:
    from ..data.text import load_text
    from ..experiments import _charlm as lm
    from ..experiments._common import Stopwatch, apply_threads
    try:
        for name in ("batch_size", "seq_len"):
            if getattr(args, name) < 1:
                raise ValueError(f"{name.replace('_', '-')}: expected an int >= 1, got "
                                 f"{getattr(args, name)}")
        if args.max_chars is not None and args.max_chars < 2:
            raise ValueError(f"max-chars: expected an int >= 2, got {args.max_chars}")
        apply_threads(args.threads)
        model, vocab, notes = lm.load_model(args.model)
        text = load_text(args.path)
        if args.max_chars is not None:
            text = text[:args.max_chars]
        ids, missing = lm.encode_known(vocab, text)
        if len(ids) < 2:
            raise ValueError(f"path: {args.path} holds fewer than 2 characters the model knows")
        watch = Stopwatch()
        bpc = lm.bits_per_char(model, ids, args.batch_size, args.seq_len)
    except (ValueError, OSError) as e:
        print(f"pyrnn evaluate: {e}", file=sys.stderr)
        return 1
    result = {"model": str(args.model), "text": str(args.path), "characters": len(text),
              "scored_characters": lm.stream_layout(len(ids), args.batch_size, args.seq_len)[1], "bits_per_char": bpc,
              "perplexity": lm.perplexity(bpc), "nats_per_char": bpc * lm.LN2,
              "dropped_unknown": sum(missing.values()), "seconds": watch.elapsed}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.path}: {result['scored_characters']:,} characters scored")
        print(f"  bits per character  {bpc:.4f}")
        print(f"  perplexity          {result['perplexity']:.3f}")
        if missing:
            shown = ", ".join(f"{c!r} x{n}" for c, n in sorted(missing.items(),
                                                                key=lambda kv: -kv[1])[:8])
            print(f"  dropped {result['dropped_unknown']:,} characters outside the model's "
                  f"vocabulary: {shown}")
    return 0
