#!/usr/bin/env python3
"""The optimizer step on a real model's parameter list, side by side in one run:
l2o.torch.LearnedOptimizer (the learned optimizer, one multi-tensor call per step),
torch.optim.Adam(foreach=True) (and fused=True on CUDA where torch has it), and the
pure-PyTorch LSTM optimizer of bench/pytorch_l2o.py applied tensor by tensor.

The model: a 10-layer MLP of width 316 (about 1.0 M parameters in 20 tensors).
    python3 bench/bench_torch_optimizer.py [--device cpu|cuda] [--threads N] [--repeats R]
Prints the median milliseconds per step of each and the ratios to l2o.
"""
import argparse
import pathlib
import statistics
import sys
import time

import torch

import l2o
import l2o.torch as lt

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from pytorch_l2o import CoordinatewiseLSTM  # noqa: E402


def mlp(device):
    layers = []
    for _ in range(10):
        layers += [torch.nn.Linear(316, 316), torch.nn.Tanh()]
    return torch.nn.Sequential(*layers).to(device)


def timed(step, repeats, device):
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    step()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=10)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    torch.manual_seed(0)
    model = mlp(device)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn_like(p) * 1e-2
    n = sum(p.numel() for p in params)
    rows = []

    w = l2o.Weights.initialise(l2o.OptimizerConfig(), 1)
    opt = lt.LearnedOptimizer(params, w)
    rows.append(("l2o LearnedOptimizer (2x20 LSTM)", timed(opt.step, a.repeats, device)))
    opt16 = lt.LearnedOptimizer(params, w, state_dtype=torch.bfloat16)
    rows.append(("l2o LearnedOptimizer, bf16 state", timed(opt16.step, a.repeats, device)))

    adam = torch.optim.Adam(params, lr=1e-3, foreach=True)
    rows.append(("torch.optim.Adam(foreach=True)", timed(adam.step, a.repeats, device)))
    if device.type == "cuda":
        try:
            fused = torch.optim.Adam(params, lr=1e-3, fused=True)
            rows.append(("torch.optim.Adam(fused=True)", timed(fused.step, a.repeats, device)))
        except (TypeError, RuntimeError) as e:
            print("fused Adam not available: %s" % e)

    lstm = CoordinatewiseLSTM().to(device)
    states = [lstm.zero_state(p.numel(), device) for p in params]

    @torch.no_grad()
    def pytorch_lstm_step():
        for i, p in enumerate(params):
            update, states[i] = lstm(p.grad.reshape(-1), states[i])
            p.add_(update.view_as(p))

    rows.append(("PyTorch LSTM optimizer (nn.LSTMCell)", timed(pytorch_lstm_step, a.repeats, device)))

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU, %d threads" % torch.get_num_threads()
    print("# optimizer step on a 10-layer MLP: %d parameters in %d tensors, %s, torch %s"
          % (n, len(params), name, torch.__version__))
    print("| optimizer | ms per step | vs l2o |")
    print("|---|---|---|")
    base = rows[0][1]
    for label, ms in rows:
        print("| %s | %.2f | %.2fx |" % (label, ms, ms / base))


if __name__ == "__main__":
    main()
