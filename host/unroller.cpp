#include "l2o/meta.hpp"

#include "l2o/error.hpp"
#include "nvtx.hpp"
#include "unroll_backend.hpp"

#include <chrono>
#include <cmath>
#include <cstring>

namespace l2o {

namespace {
void check_weights(const char* what, const Weights& phi) {
  phi.config().validate();
  if (phi.size() != phi.layout().count())
    fail("Unroller: ", what, ": weights hold ", phi.size(), " values, the configuration needs ",
         phi.layout().count());
}
}  // namespace

Unroller::Unroller(const Weights& phi, std::size_t n, int unroll, Device device,
                   std::vector<float> omega)
    : n_(n), unroll_(unroll), config_(phi.config()) {
  check_weights("constructor", phi);
  if (n == 0) fail("Unroller: the optimizee has 0 coordinates, expected at least 1");
  if (unroll < 1) fail("Unroller: unroll length ", unroll, ", expected at least 1");
  if (omega.empty()) omega.assign(unroll, 1.0f);
  if (omega.size() != static_cast<std::size_t>(unroll))
    fail("Unroller: ", omega.size(), " weights omega for an unroll of ", unroll, " steps");
  for (float w : omega)
    if (!(w >= 0.0f) || !std::isfinite(w))
      fail("Unroller: weight omega = ", w, ", expected finite and >= 0");
  omega.insert(omega.begin(), 0.0f);  // omega[t] weights f(theta_t), t = 1..T
  const Device d = resolve(device);
#if L2O_WITH_CUDA
  if (d == Device::kCuda) {
    backend_ = detail::make_cuda_unroll(phi, n, unroll, std::move(omega));
    return;
  }
#endif
  (void)d;
  backend_ = detail::make_cpu_unroll(phi, n, unroll, std::move(omega));
}

Unroller::~Unroller() = default;
Unroller::Unroller(Unroller&&) noexcept = default;
Unroller& Unroller::operator=(Unroller&&) noexcept = default;

Device Unroller::device() const {
  return backend_->device();
}
void Unroller::set_weights(const Weights& phi) {
  // The tape, the backward buffers and phi's device copy are sized for one structure.
  check_weights("set_weights", phi);
  const WeightLayout a = phi.layout(), b = layout_of(config_);
  if (a.layers != b.layers || a.hidden != b.hidden || a.num_inputs != b.num_inputs)
    fail("Unroller::set_weights: configuration '", describe(phi.config()),
         "' has another structure (layers, hidden units, inputs) than the unroller's '",
         describe(config_), "'; make a new Unroller for it");
  // The graph holds the kernels' parameters by value (output scale, forget bias,
  // preprocessing): another configuration of the same structure needs a new recording.
  if (phi.config() != config_) graph_with_backward_ = -1;
  config_ = phi.config();
  backend_->set_weights(phi);
}
const float* Unroller::theta() const {
  return backend_->theta();
}

namespace {
void check_optimizee(const Optimizee& f, std::size_t n, Device d) {
  if (f.size() != n)
    fail("Unroller: the optimizee has ", f.size(), " coordinates, this unroller ", n);
  if (f.device() != d)
    fail("Unroller: the optimizee lives on ", to_string(f.device()), ", the unroller on ",
         to_string(d));
}

// The device work of one unroll: T forward steps, each followed by the optimizee's loss and
// gradient, then the backward when asked for; phases marked on `clock` when given.
void enqueue_unroll(detail::UnrollBackend& b, Optimizee& f, int T, bool backward,
                    detail::PhaseClock* clock) {
  auto timed = [&](detail::Phase p, auto&& work) {
    if (clock) clock->begin(p);
    work();
    if (clock) clock->end(p);
  };
  for (int t = 0; t < T; ++t) {
    timed(detail::kPhaseForward, [&] { b.forward_step(t); });
    timed(detail::kPhaseOptimizee,
          [&] { f.loss_and_grad(b.theta(), b.grad_slot(t + 1), b.loss_slot(t + 1), b.stream()); });
  }
  if (backward) b.enqueue_backward();  // marks its own backward and reduction phases
}

// After the device work: dL/dphi and the losses to the host, then the carry into the next
// unroll.
std::vector<float> finish_unroll(detail::UnrollBackend& b, int T, std::vector<float>* dphi) {
  if (dphi) b.meta_gradient(*dphi);
  std::vector<float> losses = b.losses(1, T);
  b.carry_over();
  return losses;
}
}  // namespace

float Unroller::start(Optimizee& f) {
  L2O_NVTX_RANGE("l2o start optimizee");
  check_optimizee(f, n_, device());
  ++starts_;
  detail::UnrollBackend& b = *backend_;
  f.initial_theta(b.theta(), b.stream());
  b.reset_state();
  f.loss_and_grad(b.theta(), b.grad_slot(0), b.loss_slot(0), b.stream());
  return b.losses(0, 1)[0];
}

std::vector<float> Unroller::unroll(Optimizee& f, std::vector<float>* dphi) {
  L2O_NVTX_RANGE("l2o unroll");
  check_optimizee(f, n_, device());
  if (starts_ == 0) fail("Unroller: unroll() before start()");
  detail::UnrollBackend& b = *backend_;
  if (graphs_ && b.supports_graphs() && f.graph_capturable()) {
    const int with_backward = dphi != nullptr;
    if (graph_start_ != starts_ || graph_with_backward_ != with_backward) {
      L2O_NVTX_RANGE("l2o capture unroll");
      b.begin_capture();
      try {
        enqueue_unroll(b, f, unroll_, dphi != nullptr, nullptr);
      } catch (...) {
        b.abort_capture();
        graph_with_backward_ = -1;
        throw;
      }
      b.end_capture();
      graph_start_ = starts_;
      graph_with_backward_ = with_backward;
    }
    b.replay();
  } else {
    enqueue_unroll(b, f, unroll_, dphi != nullptr, nullptr);
  }
  return finish_unroll(b, unroll_, dphi);
}

std::vector<float> Unroller::unroll_timed(Optimizee& f, std::vector<float>* dphi,
                                          UnrollTimes* times) {
  check_optimizee(f, n_, device());
  if (starts_ == 0) fail("Unroller: unroll_timed() before start()");
  detail::UnrollBackend& b = *backend_;
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<detail::PhaseClock> clock = b.make_clock();
  b.set_clock(clock.get());
  enqueue_unroll(b, f, unroll_, dphi != nullptr, clock.get());
  b.set_clock(nullptr);
  std::vector<float> losses = finish_unroll(b, unroll_, dphi);
  const std::array<double, detail::kPhases> ms = clock->totals();
  if (times) {
    times->optimizee_ms = ms[detail::kPhaseOptimizee];
    times->forward_ms = ms[detail::kPhaseForward];
    times->backward_ms = ms[detail::kPhaseBackward];
    times->reduction_ms = ms[detail::kPhaseReduction];
    times->total_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  return losses;
}

namespace detail {
namespace {
class HostClock final : public PhaseClock {
 public:
  void begin(Phase p) override { start_[p] = std::chrono::steady_clock::now(); }
  void end(Phase p) override {
    ms_[p] +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_[p])
            .count();
  }
  std::array<double, kPhases> totals() override { return ms_; }

 private:
  std::chrono::steady_clock::time_point start_[kPhases];
  std::array<double, kPhases> ms_{};
};
}  // namespace

std::unique_ptr<PhaseClock> make_host_clock() {
  return std::make_unique<HostClock>();
}
}  // namespace detail

// ---------------------------------------------------------------------------------------

MetaAdam::MetaAdam(std::size_t size, AdamOptions options)
    : opt_(options), m_(size, 0.0), v_(size, 0.0) {
  if (!(options.lr > 0) || !(options.beta1 >= 0 && options.beta1 < 1) ||
      !(options.beta2 >= 0 && options.beta2 < 1) || !(options.eps > 0) || !(options.clip_norm >= 0))
    fail("meta-optimizer Adam: lr ", options.lr, ", betas ", options.beta1, "/", options.beta2,
         ", eps ", options.eps, ", clip ", options.clip_norm,
         ": expected lr > 0, betas in [0, 1), eps > 0, clip >= 0");
}

double MetaAdam::step(std::vector<float>& phi, const std::vector<float>& grad) {
  if (grad.size() != m_.size() || phi.size() != m_.size())
    fail("MetaAdam: ", grad.size(), " gradients and ", phi.size(), " weights for ", m_.size(),
         " parameters");
  double sq = 0.0;
  for (float g : grad) sq += double(g) * g;
  const double norm = std::sqrt(sq);
  if (!std::isfinite(norm)) fail("MetaAdam: the meta-gradient is not finite (norm ", norm, ")");
  const double scale = opt_.clip_norm > 0 && norm > opt_.clip_norm ? opt_.clip_norm / norm : 1.0;
  ++t_;
  const double c1 = 1.0 - std::pow(opt_.beta1, double(t_));
  const double c2 = 1.0 - std::pow(opt_.beta2, double(t_));
  for (std::size_t k = 0; k < phi.size(); ++k) {
    const double g = grad[k] * scale;
    m_[k] = opt_.beta1 * m_[k] + (1 - opt_.beta1) * g;
    v_[k] = opt_.beta2 * v_[k] + (1 - opt_.beta2) * g * g;
    phi[k] -= static_cast<float>(opt_.lr * (m_[k] / c1) / (std::sqrt(v_[k] / c2) + opt_.eps));
  }
  return norm;
}

std::vector<std::uint8_t> MetaAdam::serialise() const {
  std::vector<std::uint8_t> out;
  out.reserve(5 * 8 + 8 + 8 + 2 * m_.size() * 8);
  auto put = [&](const void* p, std::size_t n) {
    const auto* c = static_cast<const std::uint8_t*>(p);
    out.insert(out.end(), c, c + n);
  };
  const double o[5] = {opt_.lr, opt_.beta1, opt_.beta2, opt_.eps, opt_.clip_norm};
  put(o, sizeof o);
  put(&t_, sizeof t_);
  const std::uint64_t n = m_.size();
  put(&n, sizeof n);
  put(m_.data(), n * sizeof(double));
  put(v_.data(), n * sizeof(double));
  return out;
}

MetaAdam MetaAdam::deserialise(const std::vector<std::uint8_t>& bytes, std::size_t size) {
  const std::size_t want = 5 * 8 + 8 + 8 + 2 * size * 8;
  if (bytes.size() != want)
    fail("ADAM section of ", bytes.size(), " bytes, expected ", want, " for ", size, " weights");
  const std::uint8_t* p = bytes.data();
  double o[5];
  std::memcpy(o, p, sizeof o);
  p += sizeof o;
  MetaAdam a(size, AdamOptions{o[0], o[1], o[2], o[3], o[4]});
  std::memcpy(&a.t_, p, 8);
  p += 8;
  std::uint64_t n;
  std::memcpy(&n, p, 8);
  p += 8;
  if (n != size) fail("ADAM section holds ", n, " weights, expected ", size);
  std::memcpy(a.m_.data(), p, size * 8);
  p += size * 8;
  std::memcpy(a.v_.data(), p, size * 8);
  return a;
}

}  // namespace l2o
