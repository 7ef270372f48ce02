#include "l2o/baselines.hpp"

#include "host/backend.hpp"
#include "host/fail.hpp"
#include "l2o/error.hpp"
#include "maths/coordinate.hpp"

#include <algorithm>
#include <cmath>

namespace l2o {

std::string to_string(BaselineKind k) {
  switch (k) {
    case BaselineKind::kSgd:
      return "sgd";
    case BaselineKind::kRmsprop:
      return "rmsprop";
    case BaselineKind::kAdam:
      return "adam";
    case BaselineKind::kNag:
      return "nag";
  }
  return "?";
}

BaselineKind parse_baseline(const std::string& name) {
  for (BaselineKind k :
       {BaselineKind::kSgd, BaselineKind::kRmsprop, BaselineKind::kAdam, BaselineKind::kNag})
    if (name == to_string(k)) return k;
  fail("baseline '", name, "': expected sgd, rmsprop, adam or nag");
}

void BaselineConfig::validate() const {
  if (!(lr > 0) || !std::isfinite(lr)) fail(to_string(kind), ": lr = ", lr, ", expected > 0");
  if (!(momentum >= 0 && momentum < 1)) fail("nag: momentum = ", momentum, ", expected [0, 1)");
  if (!(alpha >= 0 && alpha < 1)) fail("rmsprop: alpha = ", alpha, ", expected [0, 1)");
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
    fail("adam: betas ", beta1, ", ", beta2, ", expected [0, 1)");
  if (!(eps > 0)) fail(to_string(kind), ": eps = ", eps, ", expected > 0");
}

int BaselineConfig::state_dim() const {
  switch (kind) {
    case BaselineKind::kSgd:
      return 0;
    case BaselineKind::kAdam:
      return 2;
    default:
      return 1;
  }
}

BaselineOptimizer::BaselineOptimizer(const BaselineConfig& config, Device device)
    : config_(config), device_(resolve(device)) {
  config_.validate();
  backend_ = detail::backend_for(device_).make_baseline();
}

BaselineOptimizer::~BaselineOptimizer() = default;
BaselineOptimizer::BaselineOptimizer(BaselineOptimizer&&) noexcept = default;
BaselineOptimizer& BaselineOptimizer::operator=(BaselineOptimizer&&) noexcept = default;

void BaselineOptimizer::set_lr(float lr) {
  BaselineConfig c = config_;
  c.lr = lr;
  c.validate();
  config_ = c;
}

void BaselineOptimizer::reset_state(float* state, std::size_t n, Stream stream) {
  t_ = 0;
  if (state_size(n) > 0) backend_->zero(state, state_size(n), stream);
}

void BaselineOptimizer::step(float* theta, const float* grad, float* state, std::size_t n,
                             Stream stream, int* found_nonfinite) {
  const Segment<float> one{theta, grad, state, n};
  step(&one, 1, stream, found_nonfinite);
}

void BaselineOptimizer::step(const Segment<float>* segments, std::size_t count, Stream stream,
                             int* found_nonfinite) {
  if (count > 0 && !segments) fail(to_string(config_.kind), " step: null segment list");
  std::size_t total = 0;
  for (std::size_t k = 0; k < count; ++k) {
    const Segment<float>& s = segments[k];
    if (s.n > 0 && (!s.theta || !s.grad || (state_size(s.n) > 0 && !s.state)))
      fail(to_string(config_.kind), " step: null pointer in tensor ", k, " of ", count,
           " (n = ", s.n, ")");
    total += s.n;
  }
  if (total == 0) return;
  ++t_;
  const BaselineConfig& c = config_;
  BaselineParams p{static_cast<int>(c.kind),
                   c.lr,
                   c.momentum,
                   c.alpha,
                   c.beta1,
                   c.beta2,
                   c.eps,
                   static_cast<float>(1.0 - std::pow(double(c.beta1), double(t_))),
                   static_cast<float>(1.0 - std::pow(double(c.beta2), double(t_)))};
  backend_->step(p, segments, count, stream, found_nonfinite);
}

}  // namespace l2o
