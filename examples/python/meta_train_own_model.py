"""Meta-train l2o's optimizer on a family of models written in PyTorch (small regression
networks on random data), then use the result as a torch.optim optimizer. The phi is
written in l2o's checkpoint format: `l2o eval`, `l2o info` and C++ load it unchanged.
    python3 examples/python/meta_train_own_model.py [OUT.l2o]"""
import sys

import torch

import l2o
import l2o.torch


def task(seed):
    """A fresh model and minibatch stream for each seed: what l2o meta-trains on."""
    g = torch.Generator().manual_seed(seed)
    w_true = torch.randn(8, 1, generator=g)
    params = [torch.randn(8, 16, generator=g) * 0.1, torch.zeros(16), torch.randn(16, 1, generator=g) * 0.1]

    def loss(p):
        x = torch.randn(64, 8, generator=g)
        y = x @ w_true
        return torch.nn.functional.mse_loss(torch.tanh(x @ p[0] + p[1]) @ p[2], y)

    return params, loss


out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/l2o-regression.l2o"
summary = l2o.torch.meta_train(task, out, epochs=200, steps=40, unroll=10, eval_every=50,
                               validation=5, meta_lr=3e-3, output_init="zero", device="cpu")
print("best validation (log10 mean final loss): %.3f after %.1f s; phi in %s"
      % (summary["best_validation"], summary["seconds"], out))
