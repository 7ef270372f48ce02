// Persistent evolution strategies (PesUnroller): over an optimizee's truncations its
// estimates add up to the gradient of the whole horizon's loss, which the test computes
// by central finite differences of plain forward runs; its particles run the same
// optimizee; bad options are refused.
#include "l2o/error.hpp"
#include "l2o/meta.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

namespace l2o {
namespace {

class PesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    QuadraticOptions q;
    q.dims = 4;
    q.batch = 8;
    family_ = make_quadratic_family(q);
    cfg_.layers = 1;
    cfg_.hidden = 4;
    cfg_.preprocess = Preprocess::kNone;
    cfg_.output_scale = 0.5f;
    phi_ = Weights::initialise(cfg_, 5);
  }
  std::vector<std::unique_ptr<Optimizee>> copies(int count) const {
    std::vector<std::unique_ptr<Optimizee>> fs;
    for (int i = 0; i < count; ++i) fs.push_back(family_->sample(kSeed, Device::kCpu));
    return fs;
  }
  // The whole horizon's loss sum_{t=1..steps} f(theta_t) under phi, by a plain forward run.
  double horizon_loss(const Weights& phi, int steps) const {
    std::unique_ptr<Optimizee> f = family_->sample(kSeed, Device::kCpu);
    Unroller u(phi, f->size(), steps, Device::kCpu);
    u.start(*f);
    double L = 0.0;
    for (float l : u.unroll(*f, nullptr)) L += l;
    return L;
  }

  static constexpr std::uint64_t kSeed = 11;
  std::unique_ptr<ProblemFamily> family_;
  OptimizerConfig cfg_;
  Weights phi_;
};

// The estimator's point: persistence makes the sum of the truncations' estimates an
// unbiased estimate of the gradient of the whole horizon's loss, second derivatives of f
// and the effect of each truncation's phi on the later ones included. 3 truncations of 2
// steps; R = 24 restarts of 1,024 particles each give a mean and its standard error per
// weight of phi (101 weights). Every weight must lie within 5 standard errors (plus 2% of
// the gradient's largest entry, for the finite differences and the smoothing by sigma) of
// central differences (h = 2e-3) of the horizon's loss. Without persistence (xi reset at
// every truncation) the largest entries miss by many standard errors.
TEST_F(PesTest, TruncationEstimatesSumToTheWholeHorizonsGradient) {
  const int T = 2, truncations = 3, N = 1024, R = 24;
  const std::size_t P = phi_.size();
  std::vector<double> fd(P);
  const float h = 2e-3f;
  double fd_max = 0.0;
  for (std::size_t j = 0; j < P; ++j) {
    Weights plus = phi_, minus = phi_;
    plus.values()[j] += h;
    minus.values()[j] -= h;
    fd[j] = (horizon_loss(plus, T * truncations) - horizon_loss(minus, T * truncations)) /
            (double(plus.values()[j]) - minus.values()[j]);
    fd_max = std::max(fd_max, std::fabs(fd[j]));
  }
  ASSERT_GT(fd_max, 1e-3) << "the loss hardly depends on phi: no test";

  PesUnroller pes(phi_, family_->sample(kSeed, Device::kCpu)->size(), T, PesOptions{N, 0.01},
                  Device::kCpu);
  std::vector<double> sum(P, 0.0), sum2(P, 0.0);
  std::vector<float> dphi;
  for (int r = 0; r < R; ++r) {
    pes.start(copies(N), 1000 + r);
    std::vector<double> total(P, 0.0);
    for (int k = 0; k < truncations; ++k) {
      const std::vector<float> losses = pes.unroll(&dphi);
      ASSERT_EQ(losses.size(), std::size_t(T));
      for (std::size_t j = 0; j < P; ++j) total[j] += dphi[j];
    }
    for (std::size_t j = 0; j < P; ++j) {
      sum[j] += total[j];
      sum2[j] += total[j] * total[j];
    }
  }
  double err2 = 0.0, fd2 = 0.0;
  int outside = 0;
  for (std::size_t j = 0; j < P; ++j) {
    const double mean = sum[j] / R;
    const double se = std::sqrt(std::max(0.0, sum2[j] / R - mean * mean) / (R - 1));
    const bool ok = std::fabs(mean - fd[j]) <= 5 * se + 0.02 * fd_max;
    outside += !ok;
    EXPECT_TRUE(ok) << "weight " << j << ": PES " << mean << " +- " << se << ", FD " << fd[j];
    err2 += (mean - fd[j]) * (mean - fd[j]);
    fd2 += fd[j] * fd[j];
  }
  // And as a whole: within 20% of the gradient's norm (the standard errors give ~8%).
  EXPECT_LT(std::sqrt(err2 / fd2), 0.2) << outside << " weights outside";
}

// The particles run the one optimizee: with a tiny sigma their mean loss is the plain
// unroller's; the same seeds give the same estimate; a particle's divergence shows.
TEST_F(PesTest, ParticlesRunTheSameOptimizeeAndRepeat) {
  const std::size_t n = family_->sample(kSeed, Device::kCpu)->size();
  std::unique_ptr<Optimizee> f = family_->sample(kSeed, Device::kCpu);
  Unroller plain(phi_, n, 3, Device::kCpu);
  const float f0 = plain.start(*f);
  PesUnroller pes(phi_, n, 3, PesOptions{4, 1e-6}, Device::kCpu);
  EXPECT_EQ(pes.start(copies(4), 7), f0);
  std::vector<float> d1, d2;
  for (int k = 0; k < 2; ++k) {
    const std::vector<float> want = plain.unroll(*f, nullptr);
    const std::vector<float> got = pes.unroll(&d1);
    for (int t = 0; t < 3; ++t) EXPECT_NEAR(got[t], want[t], 1e-4 * std::fabs(want[t]));
  }
  PesUnroller again(phi_, n, 3, PesOptions{4, 1e-6}, Device::kCpu);
  again.start(copies(4), 7);
  again.unroll(&d2);
  again.unroll(&d2);
  EXPECT_EQ(d1, d2);
  again.start(copies(4), 8);  // another noise seed: another estimate
  again.unroll(&d2);
  again.unroll(&d2);
  EXPECT_NE(d1, d2);

  Weights wild = phi_;
  wild.output_bias() = 1e30f;  // every step throws theta to infinity
  pes.set_weights(wild);
  const std::vector<float> losses = pes.unroll(&d1);
  EXPECT_FALSE(std::isfinite(losses.back()));
}

TEST_F(PesTest, BadOptionsAreRefused) {
  const std::size_t n = family_->sample(kSeed, Device::kCpu)->size();
  EXPECT_THROW(PesUnroller(phi_, n, 2, PesOptions{3, 0.01}, Device::kCpu), Error);
  EXPECT_THROW(PesUnroller(phi_, n, 2, PesOptions{0, 0.01}, Device::kCpu), Error);
  EXPECT_THROW(PesUnroller(phi_, n, 2, PesOptions{2, 0.0}, Device::kCpu), Error);
  EXPECT_THROW(PesUnroller(phi_, n, 2, PesOptions{2, NAN}, Device::kCpu), Error);
  EXPECT_THROW(PesUnroller(phi_, n, 2, PesOptions{2, 0.01}, Device::kCpu, {1.0f}), Error);
  PesUnroller pes(phi_, n, 2, PesOptions{2, 0.01}, Device::kCpu);
  std::vector<float> d;
  EXPECT_THROW(pes.unroll(&d), Error);           // before start
  EXPECT_THROW(pes.start(copies(4), 1), Error);  // 4 optimizees for 2 particles
  OptimizerConfig other = cfg_;
  other.hidden = 8;
  EXPECT_THROW(pes.set_weights(Weights::initialise(other, 1)), Error);
}

}  // namespace
}  // namespace l2o
