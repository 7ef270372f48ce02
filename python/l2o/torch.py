"""l2o in PyTorch: the learned optimizer as a torch.optim.Optimizer, hand-designed
baselines the same way, and meta-training of phi on models and losses written in PyTorch.

    opt = l2o.torch.LearnedOptimizer(model.parameters(), weights="phi.l2o")
    for x, y in data:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

Works on CPU and CUDA tensors (one multi-tensor kernel launch per parameter group on
CUDA, on the current stream, never synchronising), with torch 1.13 and 2.x, in eager mode.
"""
import os
import tempfile
import zlib

import torch

from . import _l2o

# The OptimizerConfig fields a pickled optimizer carries (all of them).
_CONFIG_FIELDS = ("layers", "hidden", "preprocess", "p", "output_scale", "forget_bias",
                  "moment_inputs", "bounded_output", "nominal_lr", "beta1", "beta2", "moment_eps",
                  "groups", "gac", "time_input")

__all__ = ["LearnedOptimizer", "BaselineOptimizer", "meta_train", "python_family"]


def _weights(weights):
    if isinstance(weights, _l2o.Weights):
        return weights
    return _l2o.Weights.load(str(weights))


def _phi_id(weights):
    """An identity of phi for state_dict round trips: its configuration and a CRC-32."""
    values = weights.values
    return "%s crc32 %08x" % (repr(weights.config), zlib.crc32(values.tobytes()) & 0xFFFFFFFF)


def _stream(device):
    if device.type == "cuda":
        return torch.cuda.current_stream(device).cuda_stream
    return None


def _group_tensors(group, state_of, what):
    """The parameters of a group that have a gradient, checked, with their state."""
    params, grads, states = [], [], []
    device = None
    for p in group["params"]:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            raise RuntimeError("%s: sparse gradients are not supported (parameter of shape %s)"
                               % (what, tuple(p.shape)))
        if p.dtype != torch.float32:
            raise TypeError("%s: parameters must be float32, got %s" % (what, p.dtype))
        if not p.is_contiguous():
            raise ValueError("%s: parameters must be contiguous (shape %s)" % (what, tuple(p.shape)))
        if device is None:
            device = p.device
        elif p.device != device:
            raise ValueError("%s: one parameter group spans %s and %s; put each device's "
                             "parameters in a group of their own" % (what, device, p.device))
        params.append(p.view(-1))
        grads.append(p.grad.detach().to(torch.float32).contiguous().view(-1))
        states.append(state_of(p))
    return params, grads, states, device


class LearnedOptimizer(torch.optim.Optimizer):
    """The learned optimizer (phi from `l2o train`, `meta_train` or l2o.Weights).

    Per-parameter LSTM state lives in self.state[p]["lstm"] (float32 or bfloat16, as
    state_dtype), so state_dict()/load_state_dict() round-trip it; a state dict carries
    phi's identity and is refused by an optimizer with another phi. A step whose gradients
    hold NaN or +-Inf anywhere in a group leaves that group's parameters and state exactly
    as they were (like torch.cuda.amp.GradScaler's skipped step).
    """

    def __init__(self, params, weights, state_dtype=torch.float32):
        if state_dtype not in (torch.float32, torch.bfloat16):
            raise TypeError("state_dtype must be torch.float32 or torch.bfloat16, got %s"
                            % (state_dtype,))
        self._phi = _weights(weights)
        if self._phi.config.groups > 1:
            raise ValueError("an LSTM-sub phi (%d LSTMs, one per parameter group of l2o's own "
                             "optimizees: OptimizerConfig.groups) has no PyTorch optimizer; "
                             "use a phi of one LSTM" % self._phi.config.groups)
        self._state_dtype = state_dtype
        self._backends = {}
        super().__init__(params, dict(phi=_phi_id(self._phi)))

    @property
    def weights(self):
        return self._phi

    def _backend(self, device):
        key = (device.type, device.index)
        if key not in self._backends:
            if device.type == "cuda":
                with torch.cuda.device(device):
                    self._backends[key] = _l2o.LstmOptimizer(self._phi, "cuda")
            elif device.type == "cpu":
                self._backends[key] = _l2o.LstmOptimizer(self._phi, "cpu")
            else:
                raise ValueError("LearnedOptimizer: device %s is not supported" % device)
        return self._backends[key]

    def _state(self, p):
        st = self.state[p]
        if "lstm" not in st:
            dim = self._phi.config.state_dim
            st["lstm"] = torch.zeros(dim * p.numel(), dtype=self._state_dtype, device=p.device)
        return st["lstm"]

    @torch.no_grad()
    def step(self, closure=None):
        """One step of every parameter group: all groups of a device in one multi-tensor
        call (all groups share phi), so a non-finite gradient anywhere skips the whole step
        of that device. Every group is checked before anything changes."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        mine = _phi_id(self._phi)
        by_device = {}
        for group in self.param_groups:
            if group["phi"] != mine:
                raise RuntimeError("LearnedOptimizer: a parameter group was made for another phi")
            params, grads, states, device = _group_tensors(group, self._state, "LearnedOptimizer")
            if params:
                lists = by_device.setdefault(device, ([], [], []))
                for lst, new in zip(lists, (params, grads, states)):
                    lst.extend(new)
        for device, (params, grads, states) in by_device.items():
            opt = self._backend(device)
            if device.type == "cuda":
                with torch.cuda.device(device):
                    opt.step_multi(params, grads, states, stream=_stream(device))
            else:
                opt.step_multi(params, grads, states)
        return loss

    def __getstate__(self):  # phi travels as its values and configuration (deepcopy, pickle)
        state = super().__getstate__()
        c = self._phi.config
        state["_l2o"] = dict(values=self._phi.values.copy(), state_dtype=self._state_dtype,
                             config={k: getattr(c, k) for k in _CONFIG_FIELDS})
        return state

    def __setstate__(self, state):
        saved = state.pop("_l2o", None)
        super().__setstate__(state)
        if saved is None:  # torch's load_state_dict calls this with its own keys only
            return
        config = _l2o.OptimizerConfig()
        for k, v in saved["config"].items():
            setattr(config, k, v)
        self._phi = _l2o.Weights.initialise(config, 0)
        self._phi.values[:] = saved["values"]
        self._state_dtype = saved["state_dtype"]
        self._backends = {}

    def load_state_dict(self, state_dict):
        mine = _phi_id(self._phi)
        for g in state_dict["param_groups"]:
            if g.get("phi") != mine:
                raise ValueError("load_state_dict: the state was saved with another phi (%s); "
                                 "this optimizer's is %s" % (g.get("phi"), mine))
        super().load_state_dict(state_dict)
        for st in self.state.values():  # keep the state's dtype (load may cast it)
            if "lstm" in st:
                st["lstm"] = st["lstm"].to(self._state_dtype).contiguous()


class BaselineOptimizer(torch.optim.Optimizer):
    """l2o's hand-designed optimizers (sgd, rmsprop, adam, nag; PyTorch's formulas and
    defaults) through the same multi-tensor kernels, for comparisons with the learned one."""

    def __init__(self, params, kind="adam", lr=1e-3, momentum=0.9, alpha=0.99, betas=(0.9, 0.999),
                 eps=1e-8):
        self._args = dict(kind=kind, lr=lr, momentum=momentum, alpha=alpha, beta1=betas[0],
                          beta2=betas[1], eps=eps)
        self._backends = {}
        super().__init__(params, dict(kind=kind, lr=lr))

    def _backend(self, device, gi):
        key = (gi, device.type, device.index)
        if key not in self._backends:
            if device.type == "cuda":
                with torch.cuda.device(device):
                    self._backends[key] = _l2o.BaselineOptimizer(device="cuda", **self._args)
            else:
                self._backends[key] = _l2o.BaselineOptimizer(device=device.type, **self._args)
        return self._backends[key]

    def __getstate__(self):  # deepcopy, pickle
        state = super().__getstate__()
        state["_args"] = dict(self._args)
        return state

    def __setstate__(self, state):
        args = state.pop("_args", None)
        super().__setstate__(state)
        if args is not None:  # (torch's load_state_dict calls this with its own keys only)
            self._args = args
            self._backends = {}

    @torch.no_grad()
    def step(self, closure=None):
        """One step of every group, each with its group's current lr (schedulers work); the
        step count (Adam's bias correction) is kept in the state of the group's first
        parameter, so state_dict() round-trips it. Every group is checked first."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        dim = _l2o.BaselineOptimizer(kind=self._args["kind"], device="cpu").state_size(1)

        def state_of(p):
            st = self.state[p]
            if "buf" not in st:
                st["buf"] = torch.zeros(dim * p.numel(), device=p.device)
            return st["buf"]

        work = [(gi, group) + _group_tensors(group, state_of, "BaselineOptimizer")
                for gi, group in enumerate(self.param_groups)]
        for gi, group, params, grads, states, device in work:
            if not params:
                continue
            opt = self._backend(device, gi)
            counter = self.state[group["params"][0]]
            opt.lr = group["lr"]
            opt.steps = int(counter.get("step", 0))
            if device.type == "cuda":
                with torch.cuda.device(device):
                    opt.step_multi(params, grads, states, stream=_stream(device))
            else:
                opt.step_multi(params, grads, states)
            counter["step"] = opt.steps
        return loss


def python_family(task_sampler, name="pytorch"):
    """An l2o problem family from a PyTorch task sampler.

    task_sampler(seed) returns (params, loss_closure): a list of float32 tensors (a fresh
    model's parameters, on the device l2o trains on) and a function that computes the
    model's loss (a scalar tensor) on a fresh minibatch from those parameters. l2o sees one
    flat parameter vector; gradients come from torch.autograd (second derivatives are
    dropped, as in the paper)."""

    def sampler(seed, device):
        params, closure = task_sampler(int(seed))
        params = [p.detach() for p in params]
        if not params:
            raise ValueError("task_sampler(%d) returned no parameters" % seed)
        theta0 = torch.cat([p.reshape(-1).to(torch.float32) for p in params])
        theta0 = theta0.to(device).contiguous()  # the device l2o trains on
        shapes = [p.shape for p in params]
        sizes = [p.numel() for p in params]

        def loss_and_grad(theta, grad, loss):
            theta = torch.from_dlpack(theta) if device == "cuda" else torch.from_numpy(theta)
            grad = torch.from_dlpack(grad) if device == "cuda" else torch.from_numpy(grad)
            loss_out = torch.from_dlpack(loss) if device == "cuda" else torch.from_numpy(loss)
            views, off = [], 0
            for shape, k in zip(shapes, sizes):
                views.append(theta[off: off + k].view(shape).clone().requires_grad_(True))
                off += k
            with torch.enable_grad():
                value = closure(views)
                grads = torch.autograd.grad(value, views, allow_unused=True)
            grad.copy_(torch.cat([torch.zeros(k, device=theta.device) if g is None else g.reshape(-1)
                                  for g, k in zip(grads, sizes)]))
            loss_out.fill_(float(value.detach()))
            if device == "cuda":
                torch.cuda.synchronize()

        return theta0, loss_and_grad

    return _l2o.python_family(sampler, name)


def meta_train(task_sampler, out, weights=None, config=None, unroll=20, steps=100, epochs=1000,
               meta_lr=1e-3, meta_lr_final=0.0, device="auto", seed=0, eval_every=100,
               validation=20, resume=False, output_init="random", progress=True, meta_batch=1):
    """Meta-trains phi on models written in PyTorch, with l2o's own procedure (that of
    `l2o train`: truncated backpropagation through time, Adam on phi, validation on fixed
    held-out tasks every eval_every epochs, the best phi written to `out` in l2o's checkpoint
    format, the training state to out + '.train' for resume=True).

    task_sampler(seed) -> (params, loss_closure), loss_closure(params) -> scalar loss; see
    python_family. weights: a phi (path or l2o.Weights) to start from, else a fresh one of
    `config` (l2o.OptimizerConfig, the paper's 2 x 20 LSTM by default). meta_batch: tasks
    whose meta-gradients each meta-step averages (docs/scaling.md). Returns l2o's
    training summary (best validation, epochs, seconds)."""
    family = python_family(task_sampler)
    init, temporary = "", False
    if weights is not None:
        if isinstance(weights, _l2o.Weights):
            fd, init = tempfile.mkstemp(suffix=".l2o")
            os.close(fd)
            temporary = True
            weights.save(init)
        else:
            init = str(weights)
        if config is None:
            config = _weights(weights).config
    if config is None:
        config = _l2o.OptimizerConfig()

    def report(p):
        if p["validated"]:
            print("epoch %d/%d  meta-loss %.4g  validation %.4f  best %.4f  %.2f epochs/s%s"
                  % (p["epoch"], p["epochs"], p["meta_loss"], p["validation"], p["best"],
                     p["epochs_per_second"], "  (phi outputs ~0: try another seed)"
                     if p["idle"] else ""), flush=True)

    try:
        return _l2o.train(config, family, str(out), epochs=epochs, steps=steps, unroll=unroll,
                          meta_lr=meta_lr, meta_lr_final=meta_lr_final, device=device, seed=seed,
                          eval_every=eval_every, validation=validation, resume=resume, init=init,
                          output_init=output_init, progress=report if progress else None,
                          meta_batch=meta_batch)
    finally:
        if temporary:
            os.unlink(init)
