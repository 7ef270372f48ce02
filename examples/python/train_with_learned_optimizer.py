"""Train a PyTorch model with l2o's learned optimizer (phi meta-trained on a Fashion-MNIST
MLP, docs/results/mlp/). Runs on the GPU when there is one.
    python3 examples/python/train_with_learned_optimizer.py"""
import pathlib

import torch

import l2o.torch

device = "cuda" if torch.cuda.is_available() and l2o.cuda_available() else "cpu"
model = torch.nn.Sequential(torch.nn.Linear(32, 20), torch.nn.Sigmoid(), torch.nn.Linear(20, 4)).to(device)
phi = pathlib.Path(__file__).resolve().parents[2] / "docs/results/mlp/lstm.l2o"
opt = l2o.torch.LearnedOptimizer(model.parameters(), weights=phi)
x, y = torch.randn(512, 32, device=device), torch.randint(0, 4, (512,), device=device)
for step in range(100):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    if step % 20 == 0 or step == 99:
        print("step %3d  loss %.4f" % (step, loss.item()))
