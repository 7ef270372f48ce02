"""l2o's C++ API from any array library that speaks DLPack: NumPy here, CuPy arrays on
the GPU the same way (no copies, where l2o has its CUDA backend); PyTorch tensors too.
Arrays must be writable (theta and state are updated in place), so JAX's immutable
arrays are not accepted.
    python3 examples/python/dlpack_arrays.py"""
import numpy as np

import l2o

phi = l2o.Weights.initialise(l2o.OptimizerConfig(), seed=0, output_init="random")
opt = l2o.LstmOptimizer(phi, "cpu")
n = 10_000
theta = np.zeros(n, np.float32)
grad = np.random.default_rng(0).standard_normal(n).astype(np.float32)
state = np.zeros(opt.state_size(n), np.float32)
opt.step(theta, grad, state)  # theta += g(grad, state; phi), in place
print("numpy: |update| mean %.4f" % np.abs(theta).mean())

try:
    import cupy as cp
    if l2o.with_cuda and l2o.cuda_available():
        gpu = l2o.LstmOptimizer(phi, "cuda")
        t, g = cp.zeros(n, cp.float32), cp.asarray(grad)
        s = cp.zeros(gpu.state_size(n), cp.float32)
        gpu.step(t, g, s, stream=cp.cuda.get_current_stream().ptr)
        print("cupy: |update| mean %.4f" % float(cp.abs(t).mean()))
except ImportError:
    print("cupy not installed: skipped")
