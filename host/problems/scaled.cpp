// Random scaling of an optimizee's coordinates (docs/generalisation.md, options): Lv et
// al. 2017 meta-train on f(c * theta) with c drawn per coordinate, so that the learned
// optimizer meets gradients of many scales and cannot rely on the scale of one task.
#include "l2o/problem.hpp"

#include "host/fail.hpp"
#include "maths/random.hpp"

#include <cmath>
#include <vector>

namespace l2o {
namespace {

// f_c(theta') = f(c * theta'), theta'_0 = theta_0 / c, so the losses (and the meta-loss)
// are the original's along the way, and the gradient c * grad f(c * theta') has each
// coordinate's scale multiplied by c.
class ScaledOptimizee final : public Optimizee {
 public:
  ScaledOptimizee(std::unique_ptr<Optimizee> f, double spread, std::uint64_t seed)
      : f_(std::move(f)), c_(f_->size()), work_(f_->size()) {
    Rng rng(splitmix64(seed ^ 0x5CA1EDull));
    const double log_spread = std::log(spread);
    for (float& c : c_) c = static_cast<float>(std::exp(log_spread * (2.0 * rng.uniform() - 1.0)));
  }
  std::size_t size() const override { return f_->size(); }
  std::vector<std::size_t> groups() const override { return f_->groups(); }
  Device device() const override { return f_->device(); }
  void initial_theta(float* theta, Stream stream) override {
    f_->initial_theta(theta, stream);
    for (std::size_t i = 0; i < c_.size(); ++i) theta[i] /= c_[i];
  }
  void loss_and_grad(const float* theta, float* grad, float* loss, Stream stream) override {
    for (std::size_t i = 0; i < c_.size(); ++i) work_[i] = c_[i] * theta[i];
    f_->loss_and_grad(work_.data(), grad, loss, stream);
    for (std::size_t i = 0; i < c_.size(); ++i) grad[i] *= c_[i];
  }
  double score(const float* theta) override {
    for (std::size_t i = 0; i < c_.size(); ++i) work_[i] = c_[i] * theta[i];
    return f_->score(work_.data());
  }

 private:
  std::unique_ptr<Optimizee> f_;
  std::vector<float> c_, work_;
};

}  // namespace

std::unique_ptr<Optimizee> make_scaled_optimizee(std::unique_ptr<Optimizee> f, double spread,
                                                 std::uint64_t seed) {
  if (!f) fail("random scaling: no optimizee");
  if (!(std::isfinite(spread) && spread >= 1.0))
    fail("random scaling: spread = ", spread, ", expected a finite number >= 1");
  if (f->device() != Device::kCpu)
    fail("random scaling works on CPU optimizees (this one is on ", to_string(f->device()),
         "): meta-train with --device cpu");
  return std::make_unique<ScaledOptimizee>(std::move(f), spread, seed);
}

}  // namespace l2o
