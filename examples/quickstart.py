"""Quickstart: train an LSTM to predict the next value of noisy sine waves, with nothing
but pyrnn's layer API (forward, backward, grads) and a NumPy linear read-out.

    python examples/quickstart.py
"""
import time

import numpy as np

import pyrnn

rng = np.random.default_rng(0)
T, B, H = 50, 64, 32

def batch():
    phase = rng.uniform(0, 2 * np.pi, (1, B, 1))
    freq = rng.uniform(0.1, 0.3, (1, B, 1))
    t = np.arange(T + 1, dtype=np.float32)[:, None, None]
    wave = (np.sin(freq * t + phase) + 0.05 * rng.standard_normal((T + 1, B, 1))).astype(np.float32)
    return wave[:-1], wave[1:]          # inputs (T, B, 1), next-step targets (T, B, 1)

lstm = pyrnn.LSTM(1, H, seed=0)         # same API and weight names as torch.nn.LSTM
W = (rng.standard_normal((H, 1)) * 0.1).astype(np.float32)
lr, t0 = 0.5, time.perf_counter()
print(f"pyrnn {pyrnn.__version__}: SIMD target {pyrnn.simd_target()}, "
      f"{pyrnn.get_num_threads()} threads")
for step in range(301):
    x, y = batch()
    out, _ = lstm(x)                    # (T, B, H)
    pred = out @ W
    err = pred - y
    loss = float(np.mean(err ** 2))
    dpred = 2 * err / err.size
    dW = out.reshape(-1, H).T @ dpred.reshape(-1, 1)
    lstm.zero_grad()
    lstm.backward(dpred @ W.T)          # BPTT; parameter gradients land in lstm.grads
    norm = np.sqrt(sum(float(np.sum(g * g)) for g in lstm.grads.values()) + float(np.sum(dW * dW)))
    scale = min(1.0, 1.0 / (norm + 1e-12))  # clip the global gradient norm at 1
    for name, p in lstm.named_parameters():
        p -= lr * scale * lstm.grads[name]
    W -= lr * scale * dW
    if step % 50 == 0:
        print(f"step {step:4d}  mse {loss:.4f}")
print(f"trained in {time.perf_counter() - t0:.1f} s; final mse {loss:.4f} "
      f"(predicting the previous value gives {float(np.mean((x - y) ** 2)):.4f})")
