// f(theta) = (1/B) sum_b || W_b theta_b - y_b ||^2 (docs/method.md §2), on the CPU with
// tight loops (d = 10 is far too small for a BLAS call per function to pay).
#include "host/problems/quadratic.hpp"

#include "host/fail.hpp"
#include "l2o/error.hpp"
#include "maths/random.hpp"

#include <cstring>
#include <sstream>

namespace l2o {
namespace detail {

QuadraticData sample_quadratic(const QuadraticOptions& o, std::uint64_t seed) {
  QuadraticData q{o.dims, o.batch, {}, {}, {}};
  const std::size_t B = o.batch, d = o.dims;
  q.W.resize(B * d * d);
  q.y.resize(B * d);
  q.theta0.resize(B * d);
  Rng rng(seed);
  auto draw = [&] {
    return float(o.dist == QuadraticOptions::Dist::kUniform ? rng.uniform() : rng.normal());
  };
  for (auto& v : q.W) v = draw();
  for (auto& v : q.y) v = draw();
  for (auto& v : q.theta0) v = float(o.theta0_std * rng.normal());
  return q;
}

namespace {

class CpuQuadratic final : public Optimizee {
 public:
  explicit CpuQuadratic(QuadraticData q) : q_(std::move(q)), per_fn_(q_.batch) {}
  std::size_t size() const override { return std::size_t(q_.batch) * q_.dims; }
  Device device() const override { return Device::kCpu; }
  void initial_theta(float* theta, Stream) override {
    std::memcpy(theta, q_.theta0.data(), size() * sizeof(float));
  }
  void loss_and_grad(const float* theta, float* grad, float* loss, Stream) override {
    const int B = q_.batch, d = q_.dims;
    const float gscale = 2.0f / static_cast<float>(B);
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; ++b) {
      const float* W = q_.W.data() + std::size_t(b) * d * d;
      const float* th = theta + std::size_t(b) * d;
      float r[64];
      double sq = 0.0;
      for (int i = 0; i < d; ++i) {
        float s = -q_.y[std::size_t(b) * d + i];
        for (int j = 0; j < d; ++j) s += W[i * d + j] * th[j];
        r[i] = s;
        sq += double(s) * s;
      }
      float* g = grad + std::size_t(b) * d;
      for (int j = 0; j < d; ++j) g[j] = 0.0f;
      for (int i = 0; i < d; ++i)
        for (int j = 0; j < d; ++j) g[j] += gscale * W[i * d + j] * r[i];
      per_fn_[b] = sq;
    }
    double total = 0.0;  // fixed order: the same loss for any thread count
    for (double v : per_fn_) total += v;
    *loss = static_cast<float>(total / B);
  }

 private:
  QuadraticData q_;
  std::vector<double> per_fn_;
};

class QuadraticFamily final : public ProblemFamily {
 public:
  explicit QuadraticFamily(const QuadraticOptions& o) : o_(o) {
    if (o.dims < 1 || o.dims > 64) fail("quadratic: dims = ", o.dims, ", expected 1..64");
    if (o.batch < 1) fail("quadratic: batch = ", o.batch, ", expected at least 1");
    if (!(o.theta0_std >= 0)) fail("quadratic: theta0 std ", o.theta0_std, ", expected >= 0");
  }
  std::string describe() const override {
    std::ostringstream os;
    os << "quadratic ||W theta - y||^2, " << o_.dims << " dims, batch " << o_.batch << ", W,y ~ "
       << (o_.dist == QuadraticOptions::Dist::kUniform ? "U[0,1)" : "N(0,1)");
    return os.str();
  }
  std::unique_ptr<Optimizee> sample(std::uint64_t seed, Device device) const override {
    QuadraticData q = sample_quadratic(o_, seed);
    if (resolve(device) == Device::kCuda) {
#if L2O_WITH_CUDA
      return make_cuda_quadratic(std::move(q));
#endif
    }
    return std::make_unique<CpuQuadratic>(std::move(q));
  }

 private:
  QuadraticOptions o_;
};

}  // namespace

}  // namespace detail

std::unique_ptr<ProblemFamily> make_quadratic_family(const QuadraticOptions& options) {
  return std::make_unique<detail::QuadraticFamily>(options);
}

}  // namespace l2o
