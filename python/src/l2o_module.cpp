// l2o's Python module (nanobind). Arrays cross as nb::ndarray, i.e. DLPack: NumPy, PyTorch,
// JAX and CuPy arrays pass without copies, on the CPU or on a CUDA device. Every array
// argument is checked here (dtype, device, size, contiguity, aliasing) and refused with a
// ValueError naming it; l2o::Error becomes l2o.Error.
#include "host/backend.hpp"
#include "host/problems/quadratic.hpp"
#include "l2o/l2o.hpp"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace nb = nanobind;
using namespace nb::literals;

namespace l2o {
namespace py {
namespace {

using AnyArray = nb::ndarray<>;

[[noreturn]] void refuse(const std::string& what) {
  throw nb::value_error(what.c_str());
}

std::string device_name(const AnyArray& a) {
  if (a.device_type() == nb::device::cpu::value) return "cpu";
  if (a.device_type() == nb::device::cuda::value) return "cuda:" + std::to_string(a.device_id());
  return "device type " + std::to_string(a.device_type());
}

bool is_f32(const AnyArray& a) {
  return a.dtype() == nb::dtype<float>();
}
bool is_bf16(const AnyArray& a) {
  return a.dtype().code == static_cast<std::uint8_t>(nb::dlpack::dtype_code::Bfloat) &&
         a.dtype().bits == 16 && a.dtype().lanes == 1;
}

bool contiguous(const AnyArray& a) {
  std::int64_t expect = 1;
  for (std::size_t d = a.ndim(); d-- > 0;) {
    if (a.shape(d) != 1 && a.stride(d) != expect) return false;
    expect *= static_cast<std::int64_t>(a.shape(d));
  }
  return true;
}

// The device an optimizer on `device` needs its arrays on.
void check_array(const AnyArray& a, const char* name, Device device, bool allow_bf16 = false) {
  if (!(is_f32(a) || (allow_bf16 && is_bf16(a))))
    refuse(std::string(name) + ": dtype must be float32" + (allow_bf16 ? " or bfloat16" : "") +
           " (code " + std::to_string(a.dtype().code) + ", " + std::to_string(a.dtype().bits) +
           " bits given)");
  if (!contiguous(a)) refuse(std::string(name) + ": must be contiguous");
  const bool cuda = a.device_type() == nb::device::cuda::value;
  if (a.size() > 0 && cuda != (device == Device::kCuda))
    refuse(std::string(name) + " lives on " + device_name(a) + ", the optimizer on " +
           to_string(device));
  if (a.size() > 0 && !cuda && a.device_type() != nb::device::cpu::value)
    refuse(std::string(name) + " lives on " + device_name(a) + ": expected cpu or cuda");
  if (a.size() > 0 && cuda) {
    const int current = detail::backend_for(Device::kCuda).current_index();
    if (a.device_id() != current)
      refuse(std::string(name) + " lives on " + device_name(a) + ", the current device is cuda:" +
             std::to_string(current) + " (make it current first)");
  }
}

std::size_t bytes_of(const AnyArray& a) {
  return a.size() * (a.dtype().bits / 8);
}

bool overlap(const AnyArray& a, const AnyArray& b) {
  const char* pa = static_cast<const char*>(a.data());
  const char* pb = static_cast<const char*>(b.data());
  return a.size() && b.size() && pa < pb + bytes_of(b) && pb < pa + bytes_of(a);
}

Stream stream_of(nb::handle stream) {
  if (stream.is_none()) return nullptr;
  return reinterpret_cast<Stream>(nb::cast<std::uintptr_t>(stream));
}

int* flag_of(nb::handle found, Device device) {
  if (found.is_none()) return nullptr;
  AnyArray f = nb::cast<AnyArray>(found);
  if (f.dtype() != nb::dtype<std::int32_t>() || f.size() != 1)
    refuse("found_nonfinite: must be one int32");
  const bool cuda = f.device_type() == nb::device::cuda::value;
  if (cuda != (device == Device::kCuda))
    refuse("found_nonfinite lives on " + device_name(f) + ", the optimizer on " +
           to_string(device));
  return static_cast<int*>(f.data());
}

// One tensor of a step: theta, grad and state checked against each other.
template <class S>
Segment<S> segment(const AnyArray& theta, const AnyArray& grad, const AnyArray& state,
                   std::size_t state_dim, Device device, const std::string& which) {
  check_array(theta, ("theta" + which).c_str(), device);
  check_array(grad, ("grad" + which).c_str(), device);
  if (grad.size() != theta.size())
    refuse("grad" + which + " has " + std::to_string(grad.size()) + " values, theta" + which + " " +
           std::to_string(theta.size()));
  if (state_dim > 0) {
    constexpr bool want_bf16 = std::is_same<S, bfloat16>::value;
    check_array(state, ("state" + which).c_str(), device, want_bf16);
    if (is_bf16(state) != want_bf16)
      refuse("state" + which + ": dtype must be " + (want_bf16 ? "bfloat16" : "float32") +
             " like the other states of this call");
    if (state.size() != state_dim * theta.size())
      refuse("state" + which + " has " + std::to_string(state.size()) + " values, expected " +
             std::to_string(state_dim * theta.size()) + " (" + std::to_string(state_dim) +
             " per coordinate)");
    if (overlap(state, theta) || overlap(state, grad))
      refuse("state" + which + " overlaps theta or grad");
  }
  if (overlap(theta, grad)) refuse("theta" + which + " and grad" + which + " overlap");
  return {static_cast<float*>(theta.data()), static_cast<const float*>(grad.data()),
          state_dim ? static_cast<S*>(state.data()) : nullptr, theta.size()};
}

// A list of tensors for a multi-tensor step; all states of one dtype.
template <class S>
std::vector<Segment<S>> segments(const std::vector<AnyArray>& thetas,
                                 const std::vector<AnyArray>& grads,
                                 const std::vector<AnyArray>& states, std::size_t state_dim,
                                 Device device) {
  if (grads.size() != thetas.size() || (state_dim && states.size() != thetas.size()))
    refuse("thetas, grads and states must be lists of the same length (" +
           std::to_string(thetas.size()) + ", " + std::to_string(grads.size()) + ", " +
           std::to_string(states.size()) + ")");
  std::vector<Segment<S>> out;
  for (std::size_t k = 0; k < thetas.size(); ++k)
    out.push_back(segment<S>(thetas[k], grads[k], state_dim ? states[k] : AnyArray(), state_dim,
                             device, "[" + std::to_string(k) + "]"));
  // Across tensors: what a step writes (theta, state) must overlap nothing else; gradients
  // (only read) may share memory with each other.
  struct Range {
    const char *lo, *hi;
    std::string name;
    bool written;
  };
  std::vector<Range> r;
  auto add = [&](const AnyArray& a, const std::string& name, bool written) {
    if (a.size() == 0) return;
    const char* p = static_cast<const char*>(a.data());
    r.push_back({p, p + bytes_of(a), name, written});
  };
  for (std::size_t k = 0; k < thetas.size(); ++k) {
    const std::string i = "[" + std::to_string(k) + "]";
    add(thetas[k], "thetas" + i, true);
    add(grads[k], "grads" + i, false);
    if (state_dim) add(states[k], "states" + i, true);
  }
  std::sort(r.begin(), r.end(), [](const Range& a, const Range& b) { return a.lo < b.lo; });
  for (std::size_t k = 0; k < r.size(); ++k)
    for (std::size_t j = k + 1; j < r.size() && r[j].lo < r[k].hi; ++j)
      if (r[k].written || r[j].written) refuse(r[k].name + " and " + r[j].name + " overlap");
  return out;
}

// A 1-D float32 view of `count` values at `data` (NumPy on the CPU; a DLPack capsule that
// torch.from_dlpack / cupy.from_dlpack take on CUDA), kept alive by `owner`.
nb::object view(float* data, std::size_t count, Device device, nb::handle owner) {
  const std::size_t shape[1] = {count};
  if (device == Device::kCuda) {
    const int id = detail::backend_for(Device::kCuda).current_index();
    return nb::cast(nb::ndarray<float, nb::ndim<1>>(
        data, 1, shape, owner, nullptr, nb::dtype<float>(), nb::device::cuda::value, id));
  }
  return nb::cast(nb::ndarray<nb::numpy, float, nb::ndim<1>>(data, 1, shape, owner));
}

// A problem family whose optimizees are written in Python: sampler(seed) returns
// (theta0, loss_and_grad) with theta0 a float32 array of n values and
// loss_and_grad(theta, grad, loss) writing the gradient into grad and the loss into
// loss[0] (arrays of the family's device). l2o's training, evaluation and unrolls call
// them like any optimizee.
class PyOptimizee final : public Optimizee {
 public:
  PyOptimizee(nb::object theta0, nb::object fn, Device device)
      : theta0_(std::move(theta0)), fn_(std::move(fn)), device_(device) {
    AnyArray t = nb::cast<AnyArray>(theta0_);
    check_array(t, "theta0 (from the task sampler)", device_);
    n_ = t.size();
    if (n_ == 0) refuse("theta0 (from the task sampler) is empty");
  }
  std::size_t size() const override { return n_; }
  Device device() const override { return device_; }
  void initial_theta(float* theta, Stream stream) override {
    nb::gil_scoped_acquire gil;
    AnyArray t = nb::cast<AnyArray>(theta0_);
    const detail::DeviceBackend& b = detail::backend_for(device_);
    b.synchronize();  // the array may come from another stream
    b.copy(theta, t.data(), n_ * sizeof(float), stream);
    b.synchronize();
  }
  void loss_and_grad(const float* theta, float* grad, float* loss, Stream stream) override {
    (void)stream;
    nb::gil_scoped_acquire gil;
    // Python's framework works on streams of its own: theta must be ready before it reads
    // it, and its gradient written before l2o's stream goes on.
    const detail::DeviceBackend& b = detail::backend_for(device_);
    b.synchronize();
    fn_(view(const_cast<float*>(theta), n_, device_, nb::none()),
        view(grad, n_, device_, nb::none()), view(loss, 1, device_, nb::none()));
    b.synchronize();
  }

 private:
  nb::object theta0_, fn_;
  Device device_;
  std::size_t n_ = 0;
};

class PyFamily final : public ProblemFamily {
 public:
  PyFamily(nb::object sampler, std::string name) : sampler_(std::move(sampler)), name_(name) {}
  std::string describe() const override { return name_; }
  std::unique_ptr<Optimizee> sample(std::uint64_t seed, Device device) const override {
    nb::gil_scoped_acquire gil;
    nb::object r = sampler_(seed, to_string(resolve(device)));
    auto [theta0, fn] = nb::cast<std::tuple<nb::object, nb::object>>(r);
    return std::make_unique<PyOptimizee>(theta0, fn, resolve(device));
  }

 private:
  nb::object sampler_;
  std::string name_;
};

}  // namespace
}  // namespace py
}  // namespace l2o

namespace l2o {
namespace py {
namespace {

Device dev(const std::string& name) {
  return parse_device(name);
}

nb::object numpy_copy(const std::vector<float>& v) {
  auto* heap = new std::vector<float>(v);
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
  const std::size_t shape[1] = {heap->size()};
  return nb::cast(nb::ndarray<nb::numpy, float, nb::ndim<1>>(heap->data(), 1, shape, owner));
}

nb::dict run_dict(const RunResult& r) {
  nb::dict d;
  d["mean_loss"] = r.mean_loss;
  d["final_loss"] = r.final_loss;
  d["mean_final"] = r.mean_final();
  d["log10_mean_final"] = r.log10_mean_final();
  d["final_standard_error"] = r.final_standard_error();
  return d;
}

OutputInit output_init_of(const std::string& name) {
  if (name != "random" && name != "zero")
    refuse("output_init: '" + name + "', expected 'random' or 'zero'");
  return name == "zero" ? OutputInit::kZero : OutputInit::kRandom;
}

QuadraticOptions quadratic_options(int dims, int batch, const std::string& dist,
                                   double theta0_std) {
  QuadraticOptions o;
  o.dims = dims;
  o.batch = batch;
  if (dist != "uniform" && dist != "normal")
    refuse("dist: '" + dist + "', expected 'uniform' or 'normal'");
  o.dist = dist == "normal" ? QuadraticOptions::Dist::kNormal : QuadraticOptions::Dist::kUniform;
  o.theta0_std = theta0_std;
  return o;
}

// The state of an LstmOptimizer call: one dtype for every tensor.
bool states_bf16(const std::vector<AnyArray>& states) {
  bool any = false, all = true;
  for (const auto& s : states) {
    any |= is_bf16(s);
    all &= is_bf16(s);
  }
  if (any && !all) refuse("states: mixed float32 and bfloat16 states in one step");
  return any;
}

}  // namespace
}  // namespace py
}  // namespace l2o

NB_MODULE(_l2o, m) {
  using namespace l2o;
  using namespace l2o::py;
  m.doc() =
      "l2o: learned optimizers (coordinatewise LSTM, Andrychowicz et al. 2016) on CPU and GPU";
  m.attr("__version__") = L2O_VERSION_STRING;
  m.attr("with_cuda") = bool(L2O_WITH_CUDA);
  nb::exception<Error>(m, "Error", PyExc_RuntimeError);
  m.def("cuda_available", [] { return cuda_available(); });

  nb::class_<OptimizerConfig>(m, "OptimizerConfig")
      .def(nb::init<>())
      .def_rw("layers", &OptimizerConfig::layers)
      .def_rw("hidden", &OptimizerConfig::hidden)
      .def_prop_rw(
          "preprocess", [](const OptimizerConfig& c) { return to_string(c.preprocess); },
          [](OptimizerConfig& c, const std::string& v) { c.preprocess = parse_preprocess(v); })
      .def_rw("p", &OptimizerConfig::p)
      .def_rw("output_scale", &OptimizerConfig::output_scale)
      .def_rw("forget_bias", &OptimizerConfig::forget_bias)
      .def_rw("moment_inputs", &OptimizerConfig::moment_inputs)
      .def_rw("time_input", &OptimizerConfig::time_input)
      .def_rw("bounded_output", &OptimizerConfig::bounded_output)
      .def_rw("nominal_lr", &OptimizerConfig::nominal_lr)
      .def_rw("beta1", &OptimizerConfig::beta1)
      .def_rw("beta2", &OptimizerConfig::beta2)
      .def_rw("moment_eps", &OptimizerConfig::moment_eps)
      .def_rw("groups", &OptimizerConfig::groups)
      .def_rw("gac", &OptimizerConfig::gac)
      .def_prop_ro("num_inputs", &OptimizerConfig::num_inputs)
      .def_prop_ro("state_dim", &OptimizerConfig::state_dim)
      .def("validate", &OptimizerConfig::validate)
      .def("__eq__", [](const OptimizerConfig& a, const OptimizerConfig& b) { return a == b; })
      .def("__repr__", [](const OptimizerConfig& c) { return describe(c); });

  nb::class_<Weights>(m, "Weights")
      .def_static(
          "initialise",
          [](const OptimizerConfig& c, std::uint64_t seed, const std::string& output) {
            return Weights::initialise(c, seed, output_init_of(output));
          },
          "config"_a, "seed"_a = 0, "output_init"_a = "random")
      .def_static(
          "load", [](const std::string& path) { return load_weights(path); }, "path"_a)
      .def(
          "save", [](const Weights& w, const std::string& path) { save_weights(path, w); },
          "path"_a)
      .def_prop_ro(
          "config", [](const Weights& w) { return w.config(); },
          "A copy of the configuration (phi's structure cannot change)")
      .def("__len__", &Weights::size)
      .def_prop_ro(
          "values",
          [](nb::handle self) {
            Weights& w = nb::cast<Weights&>(self);
            const std::size_t shape[1] = {w.size()};
            return nb::ndarray<nb::numpy, float, nb::ndim<1>>(w.data(), 1, shape, self);
          },
          "phi as a writable NumPy view (the weights' own memory)")
      .def("__copy__", [](const Weights& w) { return Weights(w); })
      .def("__deepcopy__", [](const Weights& w, nb::handle) { return Weights(w); });

  nb::class_<LstmOptimizer>(m, "LstmOptimizer")
      .def(
          "__init__",
          [](LstmOptimizer* self, const Weights& w, const std::string& device) {
            new (self) LstmOptimizer(w, dev(device));
          },
          "weights"_a, "device"_a = "auto")
      .def_prop_ro("device", [](const LstmOptimizer& o) { return to_string(o.device()); })
      .def_prop_ro(
          "weights", [](const LstmOptimizer& o) { return o.weights(); },
          "A copy of phi (set_weights changes the optimizer's)")
      .def("set_weights", &LstmOptimizer::set_weights, "weights"_a)
      .def("state_size", &LstmOptimizer::state_size, "n"_a)
      .def(
          "reset_state",
          [](const LstmOptimizer& o, AnyArray state, nb::handle stream) {
            check_array(state, "state", o.device(), true);
            if (state.size() % o.config().state_dim() != 0)
              refuse("state: " + std::to_string(state.size()) + " values, not a multiple of " +
                     std::to_string(o.config().state_dim()));
            const std::size_t n = state.size() / o.config().state_dim();
            if (is_bf16(state))
              o.reset_state(static_cast<bfloat16*>(state.data()), n, stream_of(stream));
            else
              o.reset_state(static_cast<float*>(state.data()), n, stream_of(stream));
          },
          "state"_a, "stream"_a = nb::none())
      .def(
          "step",
          [](LstmOptimizer& o, AnyArray theta, AnyArray grad, AnyArray state, nb::handle found,
             nb::handle stream) {
            const std::size_t sd = o.config().state_dim();
            if (is_bf16(state)) {
              auto s = segment<bfloat16>(theta, grad, state, sd, o.device(), "");
              o.step(&s, 1, stream_of(stream), flag_of(found, o.device()));
            } else {
              auto s = segment<float>(theta, grad, state, sd, o.device(), "");
              o.step(&s, 1, stream_of(stream), flag_of(found, o.device()));
            }
          },
          "theta"_a, "grad"_a, "state"_a, "found_nonfinite"_a = nb::none(), "stream"_a = nb::none(),
          "theta += g(grad, state; phi), in place; skipped as a whole (and found_nonfinite set "
          "to 1) when a gradient is NaN or +-Inf. CUDA arrays: enqueued on `stream` (an "
          "integer cudaStream_t; None: the default stream), never synchronised.")
      .def(
          "step_multi",
          [](LstmOptimizer& o, const std::vector<AnyArray>& thetas,
             const std::vector<AnyArray>& grads, const std::vector<AnyArray>& states,
             nb::handle found, nb::handle stream) {
            const std::size_t sd = o.config().state_dim();
            if (states_bf16(states)) {
              auto segs = segments<bfloat16>(thetas, grads, states, sd, o.device());
              o.step(segs.data(), segs.size(), stream_of(stream), flag_of(found, o.device()));
            } else {
              auto segs = segments<float>(thetas, grads, states, sd, o.device());
              o.step(segs.data(), segs.size(), stream_of(stream), flag_of(found, o.device()));
            }
          },
          "thetas"_a, "grads"_a, "states"_a, "found_nonfinite"_a = nb::none(),
          "stream"_a = nb::none(),
          "One step of a list of tensors (one kernel launch on CUDA); a non-finite gradient "
          "anywhere skips every tensor.")
      .def("last_step_skipped", &LstmOptimizer::last_step_skipped);

  nb::class_<BaselineOptimizer>(m, "BaselineOptimizer")
      .def(
          "__init__",
          [](BaselineOptimizer* self, const std::string& kind, float lr, float momentum,
             float alpha, float beta1, float beta2, float eps, const std::string& device) {
            BaselineConfig c;
            c.kind = parse_baseline(kind);
            c.lr = lr;
            c.momentum = momentum;
            c.alpha = alpha;
            c.beta1 = beta1;
            c.beta2 = beta2;
            c.eps = eps;
            new (self) BaselineOptimizer(c, dev(device));
          },
          "kind"_a = "adam", "lr"_a = 1e-3f, "momentum"_a = 0.9f, "alpha"_a = 0.99f,
          "beta1"_a = 0.9f, "beta2"_a = 0.999f, "eps"_a = 1e-8f, "device"_a = "auto")
      .def_prop_ro("device", [](const BaselineOptimizer& o) { return to_string(o.device()); })
      .def_prop_rw(
          "lr", [](const BaselineOptimizer& o) { return o.config().lr; },
          &BaselineOptimizer::set_lr)
      .def_prop_rw("steps", &BaselineOptimizer::steps, &BaselineOptimizer::set_steps)
      .def("state_size", &BaselineOptimizer::state_size, "n"_a)
      .def(
          "reset_state",
          [](BaselineOptimizer& o, nb::handle state, std::size_t n, nb::handle stream) {
            float* p = nullptr;
            if (!state.is_none()) {
              AnyArray s = nb::cast<AnyArray>(state);
              check_array(s, "state", o.device());
              if (s.size() != o.state_size(n))
                refuse("state: " + std::to_string(s.size()) + " values, expected " +
                       std::to_string(o.state_size(n)));
              p = static_cast<float*>(s.data());
            }
            o.reset_state(p, n, stream_of(stream));
          },
          "state"_a, "n"_a, "stream"_a = nb::none())
      .def(
          "step_multi",
          [](BaselineOptimizer& o, const std::vector<AnyArray>& thetas,
             const std::vector<AnyArray>& grads, const std::vector<AnyArray>& states,
             nb::handle found, nb::handle stream) {
            auto segs = segments<float>(thetas, grads, states, o.config().state_dim(), o.device());
            o.step(segs.data(), segs.size(), stream_of(stream), flag_of(found, o.device()));
          },
          "thetas"_a, "grads"_a, "states"_a, "found_nonfinite"_a = nb::none(),
          "stream"_a = nb::none());

  nb::class_<MetaAdam>(m, "MetaAdam")
      .def(
          "__init__",
          [](MetaAdam* self, std::size_t size, double lr, double beta1, double beta2, double eps,
             double clip_norm) {
            new (self) MetaAdam(size, AdamOptions{lr, beta1, beta2, eps, clip_norm});
          },
          "size"_a, "lr"_a = 1e-3, "beta1"_a = 0.9, "beta2"_a = 0.999, "eps"_a = 1e-8,
          "clip_norm"_a = 0.0)
      .def(
          "step",
          [](MetaAdam& a, Weights& w,
             nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> dphi) {
            if (dphi.size() != w.size())
              refuse("dphi has " + std::to_string(dphi.size()) + " values, phi " +
                     std::to_string(w.size()));
            std::vector<float> g(dphi.data(), dphi.data() + dphi.size());
            return a.step(w.values(), g);
          },
          "weights"_a, "dphi"_a, "phi -= Adam(dphi), in place; returns the gradient's norm")
      .def_prop_rw(
          "lr", [](const MetaAdam& a) { return a.options().lr; }, &MetaAdam::set_lr);

  nb::class_<MetaSession>(m, "MetaSession")
      .def(
          "__init__",
          [](MetaSession* self, const Weights& w, std::size_t n, int unroll,
             const std::string& device, std::vector<float> omega) {
            new (self) MetaSession(w, n, unroll, dev(device), std::move(omega));
          },
          "weights"_a, "n"_a, "unroll"_a, "device"_a = "auto", "omega"_a = std::vector<float>{})
      .def_prop_ro("device", [](const MetaSession& s) { return to_string(s.device()); })
      .def_prop_ro(
          "stream",
          [](const MetaSession& s) { return reinterpret_cast<std::uintptr_t>(s.stream()); })
      .def_prop_ro("size", &MetaSession::size)
      .def_prop_ro("unroll_length", &MetaSession::unroll_length)
      .def_prop_ro("steps_taken", &MetaSession::steps_taken)
      .def("set_weights", &MetaSession::set_weights, "weights"_a)
      .def(
          "begin",
          [](MetaSession& s, AnyArray theta0, AnyArray grad0, AnyArray loss0) {
            segment<float>(theta0, grad0, AnyArray(), 0, s.device(), "0");
            check_array(loss0, "loss0", s.device());
            if (theta0.size() != s.size())
              refuse("theta0 has " + std::to_string(theta0.size()) + " values, the session " +
                     std::to_string(s.size()));
            if (loss0.size() != 1) refuse("loss0 must hold one value");
            s.begin(static_cast<const float*>(theta0.data()),
                    static_cast<const float*>(grad0.data()),
                    static_cast<const float*>(loss0.data()));
          },
          "theta0"_a, "grad0"_a, "loss0"_a)
      .def("step", [](MetaSession& s) { s.step(); })
      .def(
          "record",
          [](MetaSession& s, AnyArray grad, AnyArray loss) {
            check_array(grad, "grad", s.device());
            check_array(loss, "loss", s.device());
            if (grad.size() != s.size())
              refuse("grad has " + std::to_string(grad.size()) + " values, the session " +
                     std::to_string(s.size()));
            if (loss.size() != 1) refuse("loss must hold one value");
            s.record(static_cast<const float*>(grad.data()),
                     static_cast<const float*>(loss.data()));
          },
          "grad"_a, "loss"_a)
      .def(
          "finish",
          [](MetaSession& s, bool meta_gradient) {
            std::vector<float> dphi;
            std::vector<float> losses = s.finish(meta_gradient ? &dphi : nullptr);
            return nb::make_tuple(numpy_copy(losses),
                                  meta_gradient ? numpy_copy(dphi) : nb::none());
          },
          "meta_gradient"_a = true)
      .def(
          "theta",
          [](nb::handle self) {
            MetaSession& s = nb::cast<MetaSession&>(self);
            return view(s.theta(), s.size(), s.device(), self);
          },
          "The current theta: a NumPy view on the CPU, a DLPack array on CUDA (read it after "
          "synchronising with the session's stream).");

  nb::class_<Optimizee>(m, "Optimizee")
      .def_prop_ro("size", &Optimizee::size)
      .def_prop_ro("device", [](const Optimizee& f) { return to_string(f.device()); })
      .def("initial_theta",
           [](Optimizee& f) {
             if (f.device() != Device::kCpu) refuse("initial_theta: CPU optimizees only");
             std::vector<float> t(f.size());
             f.initial_theta(t.data(), nullptr);
             return numpy_copy(t);
           })
      .def(
          "loss_and_grad",
          [](Optimizee& f,
             nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu> theta) {
            if (f.device() != Device::kCpu) refuse("loss_and_grad: CPU optimizees only");
            if (theta.size() != f.size())
              refuse("theta has " + std::to_string(theta.size()) + " values, the optimizee " +
                     std::to_string(f.size()));
            std::vector<float> g(f.size());
            float loss = 0;
            f.loss_and_grad(theta.data(), g.data(), &loss, nullptr);
            return nb::make_tuple(loss, numpy_copy(g));
          },
          "theta"_a);

  nb::class_<ProblemFamily>(m, "ProblemFamily")
      .def("describe", &ProblemFamily::describe)
      .def(
          "sample",
          [](const ProblemFamily& f, std::uint64_t seed, const std::string& device) {
            return f.sample(seed, dev(device));
          },
          "seed"_a, "device"_a = "cpu");
  m.def(
      "quadratic_family",
      [](int dims, int batch, const std::string& dist, double theta0_std) {
        return make_quadratic_family(quadratic_options(dims, batch, dist, theta0_std));
      },
      "dims"_a = 10, "batch"_a = 128, "dist"_a = "uniform", "theta0_std"_a = 0.01);
  m.def(
      "quadratic_data",
      [](std::uint64_t seed, int dims, int batch, const std::string& dist, double theta0_std) {
        const QuadraticOptions o = quadratic_options(dims, batch, dist, theta0_std);
        make_quadratic_family(o);  // validates the options as the family does
        const detail::QuadraticData q = detail::sample_quadratic(o, seed);
        return nb::make_tuple(numpy_copy(q.W), numpy_copy(q.y), numpy_copy(q.theta0));
      },
      "seed"_a, "dims"_a = 10, "batch"_a = 128, "dist"_a = "uniform", "theta0_std"_a = 0.01,
      "The quadratic family's W (batch x dims x dims), y (batch x dims) and theta0 for a seed, "
      "flat: what quadratic_family().sample(seed) optimizes.");
  m.def(
      "mlp_family",
      [](std::vector<int> hidden, const std::string& activation, int batch, double init_std,
         const std::string& data_dir) {
        MlpOptions o;
        o.hidden = std::move(hidden);
        o.activation = parse_activation(activation);
        o.batch = batch;
        o.init_std = init_std;
        o.data_dir = data_dir;
        return make_mlp_family(o);
      },
      "hidden"_a = std::vector<int>{20}, "activation"_a = "sigmoid", "batch"_a = 128,
      "init_std"_a = 0.01, "data_dir"_a = "");
  m.def(
      "python_family",
      [](nb::object sampler, const std::string& name) -> std::unique_ptr<ProblemFamily> {
        return std::make_unique<PyFamily>(std::move(sampler), name);
      },
      "sampler"_a, "name"_a = "python",
      "A family of optimizees written in Python: sampler(seed, device) returns (theta0, "
      "loss_and_grad), loss_and_grad(theta, grad, loss) writing the gradient and loss[0]. "
      "The arrays passed are views valid during the call only.");

  nb::class_<Unroller>(m, "Unroller")
      .def(
          "__init__",
          [](Unroller* self, const Weights& w, std::size_t n, int unroll,
             const std::string& device) { new (self) Unroller(w, n, unroll, dev(device)); },
          "weights"_a, "n"_a, "unroll"_a, "device"_a = "auto")
      .def("set_weights", &Unroller::set_weights, "weights"_a)
      .def("start", &Unroller::start, "optimizee"_a)
      .def(
          "unroll",
          [](Unroller& u, Optimizee& f, bool meta_gradient) {
            std::vector<float> dphi;
            std::vector<float> losses = u.unroll(f, meta_gradient ? &dphi : nullptr);
            return nb::make_tuple(numpy_copy(losses),
                                  meta_gradient ? numpy_copy(dphi) : nb::none());
          },
          "optimizee"_a, "meta_gradient"_a = true);

  m.def(
      "train",
      [](const OptimizerConfig& config, const ProblemFamily& family, const std::string& out,
         long long epochs, int steps, int unroll, double meta_lr, double meta_lr_final, double clip,
         const std::string& device, std::uint64_t seed, int eval_every, int validation, bool resume,
         const std::string& init, const std::string& output_init, nb::object progress,
         int meta_batch, int steps_max, int unroll_max, double random_scale, double phi_decay,
         const std::string& estimator, int pes_particles, double pes_sigma) {
        TrainOptions o;
        o.meta_batch = meta_batch;
        o.steps_max = steps_max;
        o.unroll_max = unroll_max;
        o.random_scale = random_scale;
        o.phi_decay = phi_decay;
        o.estimator = parse_estimator(estimator);
        o.pes.particles = pes_particles;
        o.pes.sigma = pes_sigma;
        o.epochs = epochs;
        o.steps = steps;
        o.unroll = unroll;
        o.adam.lr = meta_lr;
        o.adam.clip_norm = clip;
        o.lr_final = meta_lr_final;
        o.device = dev(device);
        o.seed = seed;
        o.eval_every = eval_every;
        o.validation_optimizees = validation;
        o.out = out;
        o.resume = resume;
        o.init = init;
        o.output_init = output_init_of(output_init);
        std::function<void(const TrainProgress&)> report;
        if (!progress.is_none())
          report = [&](const TrainProgress& p) {
            nb::dict d;
            d["epoch"] = p.epoch;
            d["epochs"] = p.epochs;
            d["meta_loss"] = p.meta_loss;
            d["validation"] = p.validation;
            d["best"] = p.best;
            d["epochs_per_second"] = p.epochs_per_second;
            d["skipped"] = p.skipped;
            d["validated"] = p.validated;
            d["idle"] = p.idle;
            progress(d);
          };
        const TrainSummary s = train(config, family, o, report);
        nb::dict d;
        d["best_validation"] = s.best_validation;
        d["best_epoch"] = s.best_epoch;
        d["epochs_run"] = s.epochs_run;
        d["seconds"] = s.seconds;
        d["skipped"] = s.skipped;
        d["exchange"] = s.exchange;
        return d;
      },
      "config"_a, "family"_a, "out"_a, "epochs"_a = 1000, "steps"_a = 100, "unroll"_a = 20,
      "meta_lr"_a = 1e-3, "meta_lr_final"_a = 0.0, "clip"_a = 0.0, "device"_a = "auto",
      "seed"_a = 0, "eval_every"_a = 100, "validation"_a = 20, "resume"_a = false, "init"_a = "",
      "output_init"_a = "random", "progress"_a = nb::none(), "meta_batch"_a = 1, "steps_max"_a = 0,
      "unroll_max"_a = 0, "random_scale"_a = 0.0, "phi_decay"_a = 0.0, "estimator"_a = "bptt",
      "pes_particles"_a = 8, "pes_sigma"_a = 0.01,
      "l2o's meta-training (the procedure of `l2o train`): the best phi is written to `out`, "
      "the training state to out + '.train'. steps_max, unroll_max, random_scale, phi_decay "
      "and the PES estimator (estimator='pes', pes_particles, pes_sigma) are those of "
      "TrainOptions (include/l2o/train.hpp).");

  m.def(
      "evaluate",
      [](const Weights& w, const ProblemFamily& family, int steps, int runs, std::uint64_t seed,
         const std::string& device) {
        return run_dict(run_learned(w, family, optimizee_seeds(SeedDomain::kTest, seed, runs),
                                    steps, dev(device)));
      },
      "weights"_a, "family"_a, "steps"_a = 100, "runs"_a = 100, "seed"_a = 0, "device"_a = "auto",
      "The learned optimizer on `runs` held-out optimizees of the family (the test seeds of "
      "`l2o eval`).");
}
