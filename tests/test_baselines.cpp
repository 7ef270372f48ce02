// The baselines' steps against naive double-precision updates written here, and the
// learning-rate search.
#include "l2o/baselines.hpp"
#include "l2o/error.hpp"
#include "l2o/evaluate.hpp"
#include "maths/random.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <vector>

namespace l2o {
namespace {

// One coordinate's update in double (PyTorch's formulas).
struct RefBaseline {
  BaselineConfig c;
  double m = 0, v = 0;
  int t = 0;
  double step(double theta, double g) {
    ++t;
    switch (c.kind) {
      case BaselineKind::kSgd:
        return theta - c.lr * g;
      case BaselineKind::kRmsprop:
        v = c.alpha * v + (1 - c.alpha) * g * g;
        return theta - c.lr * g / (std::sqrt(v) + c.eps);
      case BaselineKind::kAdam: {
        m = c.beta1 * m + (1 - c.beta1) * g;
        v = c.beta2 * v + (1 - c.beta2) * g * g;
        const double mh = m / (1 - std::pow(double(c.beta1), t));
        const double vh = v / (1 - std::pow(double(c.beta2), t));
        return theta - c.lr * mh / (std::sqrt(vh) + c.eps);
      }
      case BaselineKind::kNag:
        m = c.momentum * m + g;
        return theta - c.lr * (g + c.momentum * m);
    }
    return theta;
  }
};

TEST(Baselines, StepsMatchDoubleReference) {
  for (BaselineKind k :
       {BaselineKind::kSgd, BaselineKind::kRmsprop, BaselineKind::kAdam, BaselineKind::kNag}) {
    for (std::size_t n : {1u, 17u, 1000u}) {
      SCOPED_TRACE(to_string(k) + " n = " + std::to_string(n));
      BaselineConfig c;
      c.kind = k;
      c.lr = 0.03f;
      BaselineOptimizer opt(c, Device::kCpu);
      Rng rng(n);
      std::vector<float> theta(n), state(opt.state_size(n), 5.0f);
      std::vector<double> rtheta(n);
      std::vector<RefBaseline> ref(n, RefBaseline{c});
      for (std::size_t i = 0; i < n; ++i) rtheta[i] = theta[i] = float(rng.normal());
      opt.reset_state(state.data(), n);
      for (int t = 0; t < 7; ++t) {
        std::vector<float> g(n);
        for (auto& v : g) v = float(rng.normal() * std::pow(10.0, -3 + 4 * rng.uniform()));
        opt.step(theta.data(), g.data(), state.data(), n);
        for (std::size_t i = 0; i < n; ++i) rtheta[i] = ref[i].step(rtheta[i], g[i]);
      }
      // fp32 updates of size <= lr / (1 - beta) accumulate ~1e-7 relative errors per step;
      // RMSprop/Adam divide by sqrt of tiny second moments, hence the relative term.
      for (std::size_t i = 0; i < n; ++i)
        ASSERT_NEAR(theta[i], rtheta[i], 1e-5 + 1e-5 * std::fabs(rtheta[i])) << "coordinate " << i;
    }
  }
}

TEST(Baselines, NonFiniteGradientSkipsTheStep) {
  BaselineConfig c;
  c.kind = BaselineKind::kAdam;
  BaselineOptimizer opt(c, Device::kCpu);
  std::vector<float> theta(10, 1.0f), state(opt.state_size(10), 0.0f), g(10, 0.5f);
  g[3] = std::numeric_limits<float>::infinity();
  int found = 0;
  opt.step(theta.data(), g.data(), state.data(), 10, nullptr, &found);
  EXPECT_EQ(found, 1);
  EXPECT_EQ(theta, std::vector<float>(10, 1.0f));
  EXPECT_EQ(state, std::vector<float>(20, 0.0f));
}

TEST(Baselines, ConfigurationErrorsNameTheValue) {
  BaselineConfig c;
  c.lr = -1;
  try {
    BaselineOptimizer opt(c, Device::kCpu);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lr = -1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_baseline("adamw"), Error);
  EXPECT_EQ(parse_baseline("nag"), BaselineKind::kNag);
}

TEST(Evaluate, SeedDomainsAreDisjointAndStable) {
  std::set<std::uint64_t> all;
  for (SeedDomain d : {SeedDomain::kTrain, SeedDomain::kValidation, SeedDomain::kTest})
    for (std::uint64_t s : optimizee_seeds(d, 0, 500)) all.insert(s);
  EXPECT_EQ(all.size(), 1500u);
  EXPECT_EQ(optimizee_seed(SeedDomain::kTest, 0, 7), optimizee_seeds(SeedDomain::kTest, 0, 8)[7]);
}

TEST(Evaluate, TuningPicksTheBestLearningRateOfTheGrid) {
  QuadraticOptions q;
  q.batch = 8;
  auto family = make_quadratic_family(q);
  const auto seeds = optimizee_seeds(SeedDomain::kValidation, 0, 3);
  const std::vector<float> grid = {1e-3f, 1e-1f, 1.0f, 1e3f};  // 1e3 diverges
  const TunedBaseline t = tune_baseline(BaselineKind::kSgd, *family, seeds, 30, Device::kCpu, grid);
  ASSERT_EQ(t.searched.size(), grid.size());
  EXPECT_FALSE(std::isfinite(t.searched.back().second)) << "lr 1e3 should diverge";
  for (const auto& [lr, m] : t.searched)
    if (std::isfinite(m)) EXPECT_LE(t.validation_mean_final, m) << "lr " << lr;
  // Its result is reproduced by running the chosen configuration again.
  EXPECT_DOUBLE_EQ(run_baseline(t.config, *family, seeds, 30, Device::kCpu).mean_final(),
                   t.validation_mean_final);
  // The loss curve starts at f(theta_0) and SGD with the tuned lr decreases it.
  const RunResult r = run_baseline(t.config, *family, seeds, 30, Device::kCpu);
  ASSERT_EQ(r.mean_loss.size(), 31u);
  EXPECT_LT(r.mean_loss.back(), 0.5 * r.mean_loss.front());
}

// The statistics under l2o eval's table, against values worked by hand.
TEST(RunResult, StandardErrorAndPairedCounts) {
  RunResult a, b;
  a.final_loss = {1, 2, 3, 4};  // mean 2.5, sample variance 5/3
  EXPECT_DOUBLE_EQ(a.mean_final(), 2.5);
  EXPECT_NEAR(a.final_standard_error(), std::sqrt(5.0 / 3.0 / 4.0), 1e-15);
  b.final_loss = {2, 2, 1, std::numeric_limits<double>::infinity()};
  EXPECT_EQ(runs_lower(a, b), 2);  // 1 < 2 and 4 < inf; the tie 2 = 2 does not count
  EXPECT_EQ(runs_lower(b, a), 1);  // 1 < 3; a diverged run is never lower
  EXPECT_EQ(b.final_standard_error(), std::numeric_limits<double>::infinity());
  RunResult one;
  one.final_loss = {0.5};
  EXPECT_TRUE(std::isnan(one.final_standard_error()));
  EXPECT_THROW(runs_lower(a, one), std::exception);
}

}  // namespace
}  // namespace l2o
