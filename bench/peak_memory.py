"""Peak memory of one training step (forward + BPTT) against the floor BPTT needs.

    python bench/peak_memory.py [--T 1000] [--B 32] [--I 128] [--H 512] [--torch]

Runs in this fresh process; peak RSS comes from resource.getrusage, taken after the model
and inputs exist and after the step. Floor: gates (4H) + c (H) + h (H) per step and row.
--torch measures torch.nn.LSTM the same way in a second fresh process.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys

import numpy as np


def measure(framework: str, T: int, B: int, I: int, H: int) -> float:
    """Peak RSS added by one training step, in MiB."""
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    g = np.ones((T, B, H), np.float32)
    if framework == "torch":
        import torch
        layer = torch.nn.LSTM(I, H)
        xt, gt = torch.from_numpy(x), torch.from_numpy(g)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out, _ = layer(xt)
        out.backward(gt)
    else:
        import pyrnn
        layer = pyrnn.LSTM(I, H)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out, _ = layer(x)
        layer.backward(g)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("T", 1000), ("B", 32), ("I", 128), ("H", 512)):
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--torch", action="store_true", help="also measure torch.nn.LSTM")
    ap.add_argument("--only", choices=["pyrnn", "torch"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.only:
        print(f"{measure(a.only, a.T, a.B, a.I, a.H):.1f}")
        return 0
    floor = a.T * a.B * 6 * a.H * 4 / 2**20
    for fw in ["pyrnn"] + (["torch"] if a.torch else []):
        out = subprocess.run([sys.executable, __file__, "--only", fw, "--T", str(a.T), "--B",
                              str(a.B), "--I", str(a.I), "--H", str(a.H)],
                             capture_output=True, text=True, check=True).stdout.split()[-1]
        mib = float(out)
        print(f"{fw:6s} LSTM T={a.T} B={a.B} I={a.I} H={a.H}: +{mib:.0f} MiB over model and "
              f"inputs; floor {floor:.0f} MiB; ratio {mib / floor:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
