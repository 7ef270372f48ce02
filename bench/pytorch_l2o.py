#!/usr/bin/env python3
"""The same workloads as l2o's benchmarks, written the way public PyTorch ports of
Andrychowicz et al. (2016) are: nn.LSTMCell with batch = coordinates, autograd for
meta-training, the optimizee's gradients detached (first-order meta-gradient).

    python3 bench/pytorch_l2o.py [--device cpu|cuda] [--threads N] [--csv FILE]

Prints one line per workload: name, size, median seconds per call.
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn


class CoordinatewiseLSTM(nn.Module):
    """2 x 20 LSTM, log-sign preprocessing (p = 10), output scale 0.1 (the paper's)."""

    def __init__(self, hidden=20, layers=2, p=10.0, scale=0.1):
        super().__init__()
        self.p, self.scale = p, scale
        sizes = [2] + [hidden] * layers
        self.cells = nn.ModuleList(nn.LSTMCell(sizes[i], hidden) for i in range(layers))
        self.out = nn.Linear(hidden, 1)
        for c in self.cells:  # forget-gate bias + 1, as the reference code
            with torch.no_grad():
                c.bias_ih[hidden:2 * hidden] += 1.0

    def preprocess(self, g):
        a = g.abs()
        big = a >= math.exp(-self.p)
        x0 = torch.where(big, torch.log(a.clamp_min(1e-38)) / self.p, torch.full_like(g, -1.0))
        x1 = torch.where(big, torch.sign(g), g * math.exp(self.p))
        return torch.stack([x0, x1], dim=1)

    def forward(self, grad, state):
        x = self.preprocess(grad)
        new_state = []
        for cell, (h, c) in zip(self.cells, state):
            h, c = cell(x, (h, c))
            new_state.append((h, c))
            x = h
        return self.scale * self.out(x).squeeze(1), new_state

    def zero_state(self, n, device):
        H = self.cells[0].hidden_size
        return [(torch.zeros(n, H, device=device), torch.zeros(n, H, device=device))
                for _ in self.cells]


def timed(fn, repeats, sync):
    fn()  # warm-up
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_step(n, device, repeats, sync):
    net = CoordinatewiseLSTM().to(device)
    theta = torch.randn(n, device=device)
    grad = torch.sign(torch.randn(n, device=device)) * 10 ** (-8 + 9 * torch.rand(n, device=device))
    state = net.zero_state(n, device)

    def step():
        nonlocal theta, state
        with torch.no_grad():
            update, state = net(grad, state)
            theta = theta + update

    return timed(step, repeats, sync)


def bench_adam(n, device, repeats, sync):
    """torch.optim.Adam on one tensor of n parameters: fused where this PyTorch has it."""
    p = torch.randn(n, device=device, requires_grad=True)
    p.grad = torch.sign(torch.randn(n, device=device)) * 10 ** (-8 + 9 * torch.rand(n, device=device))
    try:
        opt, kind = torch.optim.Adam([p], lr=1e-3, fused=True), "fused"
    except (TypeError, RuntimeError):
        opt, kind = torch.optim.Adam([p], lr=1e-3, foreach=True), "foreach"
    return timed(opt.step, repeats, sync), kind


def quadratic(batch, dims, device, gen):
    W = torch.rand(batch, dims, dims, device=device, generator=gen)
    y = torch.rand(batch, dims, device=device, generator=gen)
    theta0 = 0.01 * torch.randn(batch, dims, device=device, generator=gen)

    def f(theta):
        r = torch.bmm(W, theta.view(batch, dims, 1)).squeeze(2) - y
        return (r * r).sum(1).mean()

    return f, theta0.reshape(-1)


def bench_meta_iteration(batch, dims, unroll, device, repeats, sync):
    """One meta-iteration: unroll 20 steps, backward through the unroll, Adam on phi."""
    net = CoordinatewiseLSTM().to(device)
    meta_opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator(device=device).manual_seed(0)
    f, theta0 = quadratic(batch, dims, device, gen)
    n = theta0.numel()
    carried = {"theta": theta0.clone(), "state": net.zero_state(n, device)}

    def iteration():
        theta = carried["theta"].detach().requires_grad_(True)
        state = [(h.detach(), c.detach()) for h, c in carried["state"]]
        meta_loss = 0.0
        for _ in range(unroll):
            loss = f(theta)
            grad, = torch.autograd.grad(loss, theta, retain_graph=True)
            update, state = net(grad.detach(), state)  # second derivatives dropped
            theta = theta + update
            meta_loss = meta_loss + f(theta)
        meta_opt.zero_grad()
        meta_loss.backward()
        meta_opt.step()
        carried["theta"], carried["state"] = theta.detach(), state

    return timed(iteration, repeats, sync)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--csv", default="")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)
    rows = []
    print(f"# PyTorch {torch.__version__} on {device.type}, {torch.get_num_threads()} threads")
    steps = [10_000, 100_000, 1_000_000] if device.type == "cpu" else [2 ** k for k in range(20, 27, 2)]
    for n in steps:
        try:
            s = bench_step(n, device, a.repeats, sync)
        except RuntimeError as e:  # out of memory at the largest sizes
            print(f"step            n={n:>9}  failed: {str(e).splitlines()[0]}", flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        rows.append(("step", n, s))
        print(f"step            n={n:>9}  {s * 1e3:10.3f} ms  {n / s / 1e6:8.2f} M coordinate-steps/s", flush=True)
    if device.type == "cuda":
        for n in steps:
            s, kind = bench_adam(n, device, a.repeats, sync)
            rows.append(("adam_step", n, s))
            print(f"adam ({kind})    n={n:>9}  {s * 1e3:10.3f} ms", flush=True)
    metas = [(128, 10)] + ([(10_000, 10)] if device.type == "cpu" else [(104_858, 10)])
    for batch, dims in metas:
        s = bench_meta_iteration(batch, dims, 20, device, a.repeats, sync)
        rows.append(("meta_iteration", batch * dims, s))
        print(f"meta-iteration  n={batch * dims:>9}  {s * 1e3:10.3f} ms  (unroll 20 + backward + Adam)", flush=True)
    if a.csv:
        with open(a.csv, "w") as fh:
            fh.write("workload,n,seconds\n")
            for w, n, s in rows:
                fh.write(f"{w},{n},{s:.6g}\n")


if __name__ == "__main__":
    main()
