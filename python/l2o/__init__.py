"""l2o: learned optimizers — the coordinatewise LSTM optimizer of Andrychowicz et al. (2016),
*Learning to learn by gradient descent by gradient descent* — on the CPU and on CUDA GPUs.

The C++ API, over DLPack arrays (NumPy, PyTorch, JAX, CuPy; CPU or CUDA, no copies):
OptimizerConfig, Weights, LstmOptimizer, BaselineOptimizer, MetaSession, MetaAdam,
Unroller, problem families (quadratic_family, mlp_family, python_family), train, evaluate.
PyTorch: l2o.torch.LearnedOptimizer (a torch.optim.Optimizer) and l2o.torch.meta_train.
"""
from ._l2o import (  # noqa: F401
    BaselineOptimizer,
    Error,
    LstmOptimizer,
    MetaAdam,
    MetaSession,
    Optimizee,
    OptimizerConfig,
    ProblemFamily,
    Unroller,
    Weights,
    __version__,
    cuda_available,
    evaluate,
    mlp_family,
    python_family,
    quadratic_data,
    quadratic_family,
    train,
    with_cuda,
)
