#include "l2o/meta.hpp"

#include "host/backend.hpp"
#include "host/buffer.hpp"
#include "host/fail.hpp"
#include "host/meta/sums.hpp"
#include "host/nvtx.hpp"
#include "l2o/error.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>

namespace l2o {

namespace {
void check_weights(const char* what, const Weights& phi) {
  phi.config().validate();
  if (phi.config().groups > 1)
    fail(what, ": phi holds ", phi.config().groups,
         " LSTMs (LSTM-sub): one session per parameter group, each with phi.group(k)");
  if (phi.size() != phi.layout().count())
    fail(what, ": weights hold ", phi.size(), " values, the configuration needs ",
         phi.layout().count());
}
}  // namespace

// --- MetaSession ----------------------------------------------------------------------

MetaSession::MetaSession(const Weights& phi, std::size_t n, int unroll, Device device,
                         std::vector<float> omega)
    : n_(n), unroll_(unroll), config_(phi.config()) {
  check_weights("MetaSession", phi);
  if (n == 0) fail("MetaSession: the optimizee has 0 coordinates, expected at least 1");
  if (unroll < 1) fail("MetaSession: unroll length ", unroll, ", expected at least 1");
  if (omega.empty()) omega.assign(unroll, 1.0f);
  if (omega.size() != static_cast<std::size_t>(unroll))
    fail("MetaSession: ", omega.size(), " weights omega for an unroll of ", unroll, " steps");
  for (float w : omega)
    if (!(w >= 0.0f) || !std::isfinite(w))
      fail("MetaSession: weight omega = ", w, ", expected finite and >= 0");
  omega.insert(omega.begin(), 0.0f);  // omega[t] weights f(theta_t), t = 1..T
  backend_ = detail::backend_for(device).make_unroll(phi, n, unroll, std::move(omega));
}

MetaSession::~MetaSession() = default;
MetaSession::MetaSession(MetaSession&&) noexcept = default;
MetaSession& MetaSession::operator=(MetaSession&&) noexcept = default;

Device MetaSession::device() const {
  return backend_->device();
}
Stream MetaSession::stream() const {
  return backend_->stream();
}

void MetaSession::set_weights(const Weights& phi) {
  // The forward steps and the backward of one unroll must use one phi.
  if (t_ != 0)
    fail("MetaSession::set_weights in the middle of an unroll (", t_, " of ", unroll_,
         " steps taken): call it after finish()");
  // The tape, the backward buffers and phi's device copy are sized for one structure.
  check_weights("set_weights", phi);
  const WeightLayout a = phi.layout(), b = layout_of(config_);
  if (a.layers != b.layers || a.hidden != b.hidden || a.num_inputs != b.num_inputs)
    fail("set_weights: configuration '", describe(phi.config()),
         "' has another structure (layers, hidden units, inputs) than the session's '",
         describe(config_), "'; make a new Unroller or MetaSession for it");
  config_ = phi.config();
  backend_->set_weights(phi);
}

float* MetaSession::theta() {
  return backend_->theta();
}
float* MetaSession::grad_slot() {
  return backend_->grad_slot(t_);
}
float* MetaSession::loss_slot() {
  return backend_->loss_slot(t_);
}

void MetaSession::begin(const float* theta0, const float* grad0, const float* loss0) {
  if (!theta0 || !grad0 || !loss0) fail("MetaSession::begin: null theta0, grad0 or loss0");
  t_ = 0;
  backend_->copy_in(theta(), theta0, n_);
  backend_->copy_in(grad_slot(), grad0, n_);
  backend_->copy_in(loss_slot(), loss0, 1);
  begin();
}

void MetaSession::begin() {
  if (t_ != 0)
    fail("MetaSession::begin: an unroll is under way (", t_, " of ", unroll_,
         " steps taken), so grad_slot() and loss_slot() were not theta_0's; use the copying "
         "begin(theta0, grad0, loss0) to abandon it");
  t_ = 0;
  backend_->reset_state();
  recorded_ = true;  // slot 0 holds f and its gradient at theta_0
  begun_ = true;
}

void MetaSession::step() {
  if (!begun_) fail("MetaSession::step before begin()");
  if (!recorded_)
    fail("MetaSession::step: the gradient at the theta of step ", t_, " was not recorded");
  if (t_ >= unroll_)
    fail("MetaSession::step: ", unroll_, " steps taken, the unroll's length; call finish()");
  backend_->forward_step(t_);
  ++t_;
  recorded_ = false;
}

void MetaSession::record(const float* grad, const float* loss) {
  if (!grad || !loss) fail("MetaSession::record: null grad or loss");
  check_step_done("record");
  backend_->copy_in(grad_slot(), grad, n_);
  backend_->copy_in(loss_slot(), loss, 1);
  recorded_ = true;
}

void MetaSession::record() {
  check_step_done("record");
  recorded_ = true;
}

void MetaSession::check_step_done(const char* what) const {
  if (!begun_) fail("MetaSession::", what, " before begin()");
  if (t_ == 0 || recorded_)
    fail("MetaSession::", what, ": no step() since the last record (", t_, " steps taken)");
}

std::vector<float> MetaSession::finish(std::vector<float>* dphi) {
  if (!begun_) fail("MetaSession::finish before begin()");
  if (t_ != unroll_ || !recorded_)
    fail("MetaSession::finish after ", t_, " steps", recorded_ ? "" : " (the last not recorded)",
         ", expected ", unroll_, " recorded steps");
  if (dphi) backend_->enqueue_backward();
  if (dphi) backend_->meta_gradient(*dphi);
  std::vector<float> losses = backend_->losses(1, unroll_);
  backend_->carry_over();
  t_ = 0;
  return losses;
}

// --- Unroller: the optimizee's evaluations between a session's steps ---------------------

Unroller::Unroller(const Weights& phi, std::size_t n, int unroll, Device device,
                   std::vector<float> omega)
    : unroll_(unroll),
      sizes_{n},
      offsets_{0, n},
      session_(phi, n, unroll, device, std::move(omega)),
      config_(phi.config()) {}

namespace {
std::string list(const std::vector<std::size_t>& v) {
  std::string s;
  for (std::size_t x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return s;
}

// The first group's phi of an LSTM-sub unroller, once its groups are checked.
Weights first_group(const Weights& phi, const std::vector<std::size_t>& sizes) {
  if (sizes.size() != static_cast<std::size_t>(phi.config().groups))
    fail("Unroller: ", sizes.size(), " parameter group", sizes.size() == 1 ? "" : "s", " (",
         list(sizes), ") for a phi of ", phi.config().groups, " LSTM",
         phi.config().groups > 1 ? "s" : "", " (LSTM-sub needs one per group)");
  for (std::size_t k = 0; k < sizes.size(); ++k)
    if (sizes[k] == 0) fail("Unroller: parameter group ", k, " has no coordinates");
  return sizes.size() > 1 ? phi.group(0) : phi;
}

}  // namespace

// An LSTM-sub unroller's assembled buffers, in the memory of its sessions' backend.
struct Unroller::Assembled {
  Assembled(const detail::DeviceBackend& b, std::size_t n, std::size_t phi_size)
      : backend(b), theta(b, n), grad(b, n), loss(b, 1), dphi(b, phi_size) {}
  const detail::DeviceBackend& backend;
  detail::Buffer<float> theta, grad, loss, dphi;
};

Unroller::Unroller(const Weights& phi, std::vector<std::size_t> group_sizes, int unroll,
                   Device device, std::vector<float> omega)
    : unroll_(unroll),
      sizes_(std::move(group_sizes)),
      offsets_(detail::group_offsets(sizes_)),
      session_(first_group(phi, sizes_), sizes_.empty() ? 0 : sizes_[0], unroll, device, omega),
      config_(phi.config()) {
  for (std::size_t k = 1; k < sizes_.size(); ++k)
    more_.emplace_back(phi.group(static_cast<int>(k)), sizes_[k], unroll, device, omega);
  if (sizes_.size() > 1) {
    all_ = std::make_unique<Assembled>(detail::backend_for(session_.device()), size(), phi.size());
    all_->dphi.zero(session_.stream());  // meta_gradient() before any backward: zeros
  }
}

MetaSession& Unroller::group_session(std::size_t k) {
  return k == 0 ? session_ : more_[k - 1];
}

Unroller::~Unroller() = default;
Unroller::Unroller(Unroller&&) noexcept = default;
Unroller& Unroller::operator=(Unroller&&) noexcept = default;

Device Unroller::device() const {
  return session_.device();
}
void Unroller::set_weights(const Weights& phi) {
  if (sizes_.size() > 1) {
    if (phi.config().groups != static_cast<int>(sizes_.size()))
      fail("Unroller::set_weights: phi of ", phi.config().groups, " LSTMs, this unroller steps ",
           sizes_.size(), " parameter groups");
    for (std::size_t k = 0; k < sizes_.size(); ++k)
      group_session(k).set_weights(phi.group(static_cast<int>(k)));
    config_ = phi.config();
    return;
  }
  session_.set_weights(phi);
  // The graph holds the kernels' parameters by value (output scale, forget bias,
  // preprocessing): another configuration of the same structure needs a new recording.
  if (phi.config() != config_) graph_with_backward_ = -1;
  config_ = phi.config();
}
const float* Unroller::theta() const {
  return sizes_.size() > 1 ? all_->theta.data() : session_.backend_->theta();
}

namespace {
void check_optimizee(const Optimizee& f, std::size_t n, Device d) {
  if (f.size() != n)
    fail("Unroller: the optimizee has ", f.size(), " coordinates, this unroller ", n);
  if (f.device() != d)
    fail("Unroller: the optimizee lives on ", to_string(f.device()), ", the unroller on ",
         to_string(d));
}

// The device work of one unroll: T session steps, each followed by the optimizee's loss
// and gradient written in place, then the backward when asked for; phases marked on
// `clock` when given.
void enqueue_unroll(MetaSession& s, detail::UnrollBackend& b, Optimizee& f, bool backward,
                    detail::PhaseClock* clock) {
  auto timed = [&](detail::Phase p, auto&& work) {
    if (clock) clock->begin(p);
    work();
    if (clock) clock->end(p);
  };
  for (int t = 0; t < s.unroll_length(); ++t) {
    timed(detail::kPhaseForward, [&] { s.step(); });
    timed(detail::kPhaseOptimizee,
          [&] { f.loss_and_grad(s.theta(), s.grad_slot(), s.loss_slot(), b.stream()); });
    s.record();
  }
  if (backward) b.enqueue_backward();  // marks its own backward and reduction phases
}
}  // namespace

float Unroller::start(Optimizee& f) {
  L2O_NVTX_RANGE("l2o start optimizee");
  check_optimizee(f, size(), device());
  if (sizes_.size() > 1) {  // LSTM-sub: theta_0 and its gradient, split over the groups
    if (f.groups() != sizes_)
      fail("Unroller: the optimizee's parameter groups (", list(f.groups()),
           ") are not this unroller's (", list(sizes_), ")");
    ++starts_;
    Assembled& a = *all_;
    const Stream s0 = session_.stream();  // the optimizee's stream
    // Work still queued on the other groups' streams (a begin() not followed by an unroll,
    // an unroll that threw part-way) may read or write the assembled buffers.
    for (std::size_t k = 1; k < sizes_.size(); ++k)
      a.backend.wait_for(s0, group_session(k).stream());
    f.initial_theta(a.theta.data(), s0);
    f.loss_and_grad(a.theta.data(), a.grad.data(), a.loss.data(), s0);
    for (std::size_t k = 0; k < sizes_.size(); ++k) {
      MetaSession& s = group_session(k);
      a.backend.wait_for(s.stream(), s0);
      s.t_ = 0;  // (an unroll that threw part-way is abandoned)
      s.begin(a.theta.data() + offsets_[k], a.grad.data() + offsets_[k], a.loss.data());
    }
    float loss = 0.0f;
    a.backend.to_host(&loss, a.loss.data(), sizeof loss, s0);
    return loss;
  }
  ++starts_;
  detail::UnrollBackend& b = *session_.backend_;
  session_.t_ = 0;
  f.initial_theta(b.theta(), b.stream());
  f.loss_and_grad(b.theta(), b.grad_slot(0), b.loss_slot(0), b.stream());
  session_.begin();
  return b.losses(0, 1)[0];
}

// An unroll that threw part-way (the optimizee, a capture) left the session mid-unroll;
// the Unroller owns its session, so the next unroll starts again from slot 0.
void Unroller::restart_unroll() {
  session_.t_ = 0;
  session_.recorded_ = true;
}

std::vector<float> Unroller::unroll(Optimizee& f, std::vector<float>* dphi) {
  return run_unroll(f, dphi != nullptr, dphi);
}

std::vector<float> Unroller::unroll_keep_gradient(Optimizee& f) {
  return run_unroll(f, true, nullptr);
}

const float* Unroller::meta_gradient() const {
  return sizes_.size() > 1 ? all_->dphi.data() : session_.backend_->meta_gradient_data();
}

Stream Unroller::stream() const {
  return session_.stream();
}

std::vector<float> Unroller::run_unroll(Optimizee& f, bool backward, std::vector<float>* dphi) {
  L2O_NVTX_RANGE("l2o unroll");
  check_optimizee(f, size(), device());
  if (starts_ == 0) fail("Unroller: unroll() before start()");
  if (sizes_.size() > 1) return run_groups(f, backward, dphi);
  restart_unroll();
  detail::UnrollBackend& b = *session_.backend_;
  if (graphs_ && b.supports_graphs() && f.graph_capturable()) {
    const int with_backward = backward;
    if (graph_start_ != starts_ || graph_with_backward_ != with_backward) {
      L2O_NVTX_RANGE("l2o capture unroll");
      b.begin_capture();
      try {
        enqueue_unroll(session_, b, f, backward, nullptr);
      } catch (...) {
        b.abort_capture();
        graph_with_backward_ = -1;
        throw;
      }
      b.end_capture();
      graph_start_ = starts_;
      graph_with_backward_ = with_backward;
    } else {
      // The replay does what the recording's steps and records did.
      session_.t_ = unroll_;
      session_.recorded_ = true;
    }
    b.replay();
  } else {
    enqueue_unroll(session_, b, f, backward, nullptr);
  }
  return finish_unroll(dphi);
}

// After the device work: dL/dphi and the losses to the host, then the carry into the next
// unroll (the session's finish without the backward, already enqueued).
std::vector<float> Unroller::finish_unroll(std::vector<float>* dphi) {
  detail::UnrollBackend& b = *session_.backend_;
  if (dphi) b.meta_gradient(*dphi);
  std::vector<float> losses = b.losses(1, unroll_);
  b.carry_over();
  session_.t_ = 0;
  return losses;
}

// LSTM-sub: every group's session steps and copies its theta into the assembled theta,
// the optimizee (on the first group's stream) sees all groups' theta, and each session
// records its slice of the gradient. The first-order meta-gradient holds the gradients
// constant, so group k's dL/dphi_k is its session's own backward, copied into its slice
// of the assembled dL/dphi. The streams wait for each other where one reads what another
// wrote (wait_for: events on CUDA), so the host waits only for the losses, after every
// group's backward has been enqueued.
std::vector<float> Unroller::run_groups(Optimizee& f, bool backward, std::vector<float>* dphi) {
  const std::size_t K = sizes_.size();
  Assembled& a = *all_;
  const Stream s0 = session_.stream();
  for (std::size_t k = 0; k < K; ++k) {  // (an unroll that threw part-way is abandoned)
    group_session(k).t_ = 0;
    group_session(k).recorded_ = true;
  }
  for (int t = 0; t < unroll_; ++t) {
    for (std::size_t k = 0; k < K; ++k) {
      MetaSession& s = group_session(k);
      s.step();
      a.backend.copy(a.theta.data() + offsets_[k], s.theta(), sizes_[k] * sizeof(float),
                     s.stream());
      a.backend.wait_for(s0, s.stream());
    }
    f.loss_and_grad(a.theta.data(), a.grad.data(), a.loss.data(), s0);
    for (std::size_t k = 0; k < K; ++k) {
      MetaSession& s = group_session(k);
      a.backend.wait_for(s.stream(), s0);
      s.record(a.grad.data() + offsets_[k], a.loss.data());
    }
  }
  const std::size_t P = layout_of(config_.single()).count();
  if (backward)  // every group's backward enqueued before the host waits for any stream
    for (std::size_t k = 0; k < K; ++k) {
      MetaSession& s = group_session(k);
      detail::UnrollBackend& b = *s.backend_;
      b.enqueue_backward();
      a.backend.copy(a.dphi.data() + k * P, b.meta_gradient_data(), P * sizeof(float), s.stream());
      a.backend.wait_for(s0, s.stream());
    }
  std::vector<float> losses;
  for (std::size_t k = 0; k < K; ++k) {
    std::vector<float> l = group_session(k).finish(nullptr);  // the losses, then the carry
    if (k == 0) losses = std::move(l);
  }
  if (dphi) {
    dphi->resize(K * P);
    a.backend.to_host(dphi->data(), a.dphi.data(), K * P * sizeof(float), s0);
  }
  return losses;
}

std::vector<float> Unroller::unroll_timed(Optimizee& f, std::vector<float>* dphi,
                                          UnrollTimes* times) {
  if (sizes_.size() > 1) fail("Unroller::unroll_timed: not for an LSTM-sub phi");
  check_optimizee(f, size(), device());
  if (starts_ == 0) fail("Unroller: unroll_timed() before start()");
  restart_unroll();
  detail::UnrollBackend& b = *session_.backend_;
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<detail::PhaseClock> clock = b.make_clock();
  b.set_clock(clock.get());
  try {
    enqueue_unroll(session_, b, f, dphi != nullptr, clock.get());
  } catch (...) {
    b.set_clock(nullptr);  // the clock dies with this call
    throw;
  }
  b.set_clock(nullptr);
  std::vector<float> losses = finish_unroll(dphi);
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

// ---------------------------------------------------------------------------------------

MetaAdam::MetaAdam(std::size_t size, AdamOptions options)
    : opt_(options), m_(size, 0.0), v_(size, 0.0) {
  if (!(options.lr > 0) || !std::isfinite(options.lr) ||
      !(options.beta1 >= 0 && options.beta1 < 1) || !(options.beta2 >= 0 && options.beta2 < 1) ||
      !(options.eps > 0) || !std::isfinite(options.eps) || !(options.clip_norm >= 0) ||
      !std::isfinite(options.clip_norm))
    fail("meta-optimizer Adam: lr ", options.lr, ", betas ", options.beta1, "/", options.beta2,
         ", eps ", options.eps, ", clip ", options.clip_norm,
         ": expected finite lr > 0, betas in [0, 1), finite eps > 0, finite clip >= 0");
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
