"""Does a time loop pay for its per-step barrier? One process, interleaved rounds: each
case runs with the loop forced serial and forced parallel (``_core._set_parallel_min_work``)
at the given thread count, and prints the medians. This is how the AVX2 threshold in
csrc/kernels/fused.h (``loop_threads``) was chosen.

    python bench/parallel_crossover.py                   # shape (d): B=1, T=1000, I=64, H=128
    python bench/parallel_crossover.py --shape 1,1000,64,64 --rounds 12 --threads 2
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import pyrnn
from pyrnn import _core


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="1,1000,64,128", help="B,T,I,H (default: shape d)")
    ap.add_argument("--cells", default="rnn,lstm,gru")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--calls", type=int, default=7, help="timed calls per round and mode")
    args = ap.parse_args()
    B, T, I, H = (int(v) for v in args.shape.split(","))
    cells = {"rnn": pyrnn.RNN, "lstm": pyrnn.LSTM, "gru": pyrnn.GRU}
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    layers = {c: cells[c](I, H, seed=0) for c in args.cells.split(",")}
    before = _core._parallel_min_work()
    pyrnn.set_num_threads(args.threads)
    res: dict = {}
    try:
        for _ in range(args.rounds):
            for cell, layer in layers.items():
                for how, min_work in (("serial", 1 << 40), ("parallel", 0)):
                    _core._set_parallel_min_work(min_work)
                    with pyrnn.no_grad():
                        layer(x)
                        ts = []
                        for _ in range(args.calls):
                            t0 = time.perf_counter()
                            layer(x)
                            ts.append(time.perf_counter() - t0)
                    res.setdefault((cell, "inference", how), []).append(np.median(ts))
                    ts = []
                    for _ in range(args.calls + 1):
                        t0 = time.perf_counter()
                        y, _ = layer(x)
                        layer.backward(np.ones_like(y))
                        ts.append(time.perf_counter() - t0)
                    res.setdefault((cell, "training", how), []).append(np.median(ts[1:]))
    finally:
        _core._set_parallel_min_work(before)
    print(f"B,T,I,H = {B},{T},{I},{H}; {args.threads} threads; SIMD {pyrnn.simd_target()}; "
          f"medians over {args.rounds} interleaved rounds (ms)")
    for cell in layers:
        for mode in ("inference", "training"):
            s = np.median(res[(cell, mode, "serial")]) * 1e3
            p = np.median(res[(cell, mode, "parallel")]) * 1e3
            print(f"{cell:5} {mode:9}  serial {s:8.2f}  parallel {p:8.2f}  ({s / p:.2f}x)")


if __name__ == "__main__":
    main()
