"""Run one of the lecture's experiments and print its results beside the lecture's numbers.

Experiments: reber, embedded-reber, sine, adding, charlm, digits ('pyrnn experiment list'
describes them). Each is seeded and finishes in minutes with its default size; --full runs
the full-size version, --reduced the small one the tests use. Results (result.json, a
Markdown report, plots as SVG/CSV and PNG when matplotlib is installed) go to an output
folder named at the end.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..experiments import EXPERIMENTS
    listing = "\n".join(f"  {name:15s} {summary}" for name, (_, summary) in EXPERIMENTS.items())
    p = subparsers.add_parser(
        "experiment", help="run a lecture experiment and compare with the lecture's numbers",
        description=__doc__.splitlines()[0] + "\n\nexperiments:\n" + listing,
        epilog=__doc__.split("\n", 2)[2].strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", choices=list(EXPERIMENTS) + ["list"],
                   help="experiment to run (or 'list')")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the full-size run (slower)")
    size.add_argument("--reduced", action="store_true",
                      help="the small run the tests use (seconds)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output folder (default: ./pyrnn_runs/<name>-<timestamp>/)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="engine threads (default: 1 for the small-model experiments, where "
                        "more only add overhead; for charlm all cores not kept busy by "
                        "other processes)")
    p.add_argument("--seed", type=int, default=None,
                   help="override the experiment's seed (the defaults are chosen and "
                        "documented in each experiment)")
    return p


def run(args: argparse.Namespace) -> int:
    from .. import experiments
    from ..experiments._common import apply_threads, make_output_dir, stderr_log, write_json
    if args.name == "list":
        for name, (_, summary) in experiments.EXPERIMENTS.items():
            print(f"{name:15s} {summary}")
        return 0
    mod = experiments.load(args.name)
    cfg = (mod.full_config() if args.full else
           mod.reduced_config() if args.reduced else mod.default_config())
    if args.seed is not None:
        cfg = replace(cfg, seed=args.seed)
    size = "full" if args.full else "reduced" if args.reduced else "default"
    try:
        getattr(mod, "check_available", lambda: None)()  # before any folder is made
    except ImportError as e:
        print(f"pyrnn experiment {args.name}: {e}", file=sys.stderr)
        return 1
    try:
        threads = apply_threads(args.threads if args.threads is not None
                                else getattr(mod, "THREADS", None), log=stderr_log)
        out = make_output_dir(args.out, f"{args.name}" + ("" if size == "default" else
                                                          f"-{size}"))
    except (ValueError, OSError) as e:
        print(f"pyrnn experiment: {e}", file=sys.stderr)
        return 1
    stderr_log(f"pyrnn experiment {args.name} ({size} size, {threads} thread(s)); "
               f"artifacts go to {out}")
    try:
        result = mod.run(cfg, out_dir=out, log=stderr_log)
    except ImportError as e:  # an optional dataset that is not installed
        print(f"pyrnn experiment {args.name}: {e}", file=sys.stderr)
        return 1
    result["size"] = size
    result["threads"] = threads
    text = mod.report(result)
    print(text)
    (out / "report.md").write_text(f"# pyrnn experiment {args.name} ({size})\n\n{text}\n",
                                   encoding="utf-8")
    write_json(out / "result.json", result)
    print(f"\nFinished in {result.get('seconds', 0):.0f} s. Artifacts in {Path(out)}:")
    for f in sorted(Path(out).iterdir()):
        print(f"  {f}")
    return 0
