// The CPU backend's step against the double-precision reference, over random sizes and
// configurations, several steps with the state carried.
#include "l2o/error.hpp"
#include "l2o/optimizer.hpp"
#include "maths/random.hpp"
#include "random_inputs.hpp"
#include "reference.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace l2o {
namespace {

using test_inputs::random_grads;

// Coordinates the reference checks: all of them for small n, else a stride plus the
// last 2 * 16 (which include the partial SIMD block).
std::vector<std::size_t> checked(std::size_t n) {
  std::vector<std::size_t> idx;
  const std::size_t stride = n <= 4096 ? 1 : 61;
  for (std::size_t i = 0; i < n; i += stride) idx.push_back(i);
  for (std::size_t i = n > 32 ? n - 32 : 0; i < n; ++i)
    if (idx.empty() || i > idx.back()) idx.push_back(i);
  return idx;
}

void run_against_reference(const OptimizerConfig& cfg, std::size_t n, int steps,
                           std::uint64_t seed) {
  SCOPED_TRACE(describe(cfg) + ", n = " + std::to_string(n));
  const Weights phi = Weights::initialise(cfg, seed);
  LstmOptimizer opt(phi, Device::kCpu);
  ASSERT_EQ(opt.device(), Device::kCpu);
  Rng rng(seed * 31 + n);
  std::vector<float> theta(n), state(opt.state_size(n), 123.0f);
  for (auto& t : theta) t = float(rng.normal());
  opt.reset_state(state.data(), n);
  for (float s : state) ASSERT_EQ(s, 0.0f);

  const ref::Net net(phi);
  const std::vector<std::size_t> idx = checked(n);
  std::vector<double> rtheta;
  std::vector<ref::CoordState> rstate;
  for (std::size_t i : idx) {
    rtheta.push_back(theta[i]);
    rstate.emplace_back(cfg.layers, cfg.hidden);
  }
  for (int t = 0; t < steps; ++t) {
    const std::vector<float> g = random_grads(n, rng);
    opt.step(theta.data(), g.data(), state.data(), n);
    ASSERT_FALSE(opt.last_step_skipped());
    for (std::size_t k = 0; k < idx.size(); ++k)
      rtheta[k] += ref::step(net, cfg, g[idx[k]], rstate[k]);
  }
  // Tolerances: each step's fp32 arithmetic (dot products of <= 2H terms, ~1 ulp
  // transcendentals) is ~1e-6 relative on O(1) states; over a few steps the states
  // stay within 2e-5 and theta (updates of size ~output_scale) within 1e-5 + 1e-5 |theta|.
  int bad = 0;
  for (std::size_t k = 0; k < idx.size() && bad < 10; ++k) {
    const std::size_t i = idx[k];
    if (std::fabs(theta[i] - rtheta[k]) > 1e-5 + 1e-5 * std::fabs(rtheta[k])) {
      ADD_FAILURE() << "theta[" << i << "] = " << theta[i] << ", reference " << rtheta[k];
      ++bad;
    }
    for (int l = 0; l < cfg.layers; ++l)
      for (int u = 0; u < cfg.hidden; ++u) {
        const float h = state[((2 * l) * cfg.hidden + u) * n + i];
        const float c = state[((2 * l + 1) * cfg.hidden + u) * n + i];
        if (std::fabs(h - rstate[k].h[l][u]) > 2e-5 || std::fabs(c - rstate[k].c[l][u]) > 2e-5) {
          ADD_FAILURE() << "state of coordinate " << i << " layer " << l << " unit " << u << ": h "
                        << h << " vs " << rstate[k].h[l][u] << ", c " << c << " vs "
                        << rstate[k].c[l][u];
          ++bad;
        }
      }
    if (cfg.uses_moments()) {
      // The moment rows after the LSTM's: v within 1e-5 relative; m, a sum of terms of
      // both signs, within 1e-6 of the gradients' scale sqrt(v / (1 - beta2)).
      const std::size_t row = static_cast<std::size_t>(2 * cfg.layers * cfg.hidden);
      const float m = state[row * n + i], v = state[(row + 1) * n + i];
      const double g_scale = std::sqrt(rstate[k].v / (1.0 - cfg.beta2));
      if (std::fabs(m - rstate[k].m) > 1e-6 * g_scale + 1e-30 ||
          std::fabs(v - rstate[k].v) > 1e-5 * rstate[k].v + 1e-30) {
        ADD_FAILURE() << "moments of coordinate " << i << ": m " << m << " vs " << rstate[k].m
                      << ", v " << v << " vs " << rstate[k].v;
        ++bad;
      }
    }
  }
}

TEST(CpuStep, DefaultConfigRandomSizes) {
  const OptimizerConfig cfg;  // 2 x 20, log_sign p = 10, scale 0.1
  for (std::size_t n : {0u, 1u, 2u, 15u, 16u, 17u, 31u, 33u, 1000u, 100007u})
    run_against_reference(cfg, n, 4, 100 + n);
}

TEST(CpuStep, OtherConfigurations) {
  OptimizerConfig reference_code;  // the reference code's k = 5, scale 0.01
  reference_code.p = 5.0f;
  reference_code.output_scale = 0.01f;
  run_against_reference(reference_code, 517, 5, 1);

  OptimizerConfig quadratic;  // raw gradient input, scale 1
  quadratic.preprocess = Preprocess::kNone;
  quadratic.output_scale = 1.0f;
  run_against_reference(quadratic, 77, 5, 2);

  for (int layers : {1, 3}) {
    OptimizerConfig c;
    c.layers = layers;
    c.forget_bias = 0.0f;
    run_against_reference(c, 45, 4, 3 + layers);
  }
  for (int hidden : {4, 8, 16, 32, 40, 64}) {
    OptimizerConfig c;
    c.hidden = hidden;
    run_against_reference(c, 37, 3, 10 + hidden);
  }
}

// The options after the paper (docs/generalisation.md): moment inputs, a bounded output,
// a nominal Adam term, the time input, alone and together, on sizes with partial SIMD
// blocks; with H = 4 the first layer's 4 inputs fill its input slots, and with H = 8
// there are 5. The time input's beta2 is small in two of them, so that beta2^t moves far
// in six steps (0.7^6 = 0.12).
TEST(CpuStep, OptionsAfterThePaper) {
  OptimizerConfig moments;
  moments.moment_inputs = true;
  OptimizerConfig bounded;
  bounded.bounded_output = true;
  bounded.output_scale = 0.3f;
  OptimizerConfig nominal;
  nominal.nominal_lr = 0.01f;
  nominal.beta1 = 0.5f;
  OptimizerConfig all = moments;
  all.bounded_output = true;
  all.nominal_lr = 0.003f;
  all.hidden = 4;
  OptimizerConfig raw = moments;  // three inputs: g, mhat r, g r
  raw.preprocess = Preprocess::kNone;
  OptimizerConfig time;  // log-sign and beta2^t
  time.time_input = true;
  time.beta2 = 0.7f;
  OptimizerConfig time_all = all;  // five inputs
  time_all.time_input = true;
  time_all.hidden = 8;
  OptimizerConfig raw_time = raw;  // g, mhat r, g r, beta2^t
  raw_time.time_input = true;
  raw_time.beta2 = 0.7f;
  std::uint64_t seed = 50;
  for (const OptimizerConfig& c : {moments, bounded, nominal, all, raw, time, time_all, raw_time})
    for (std::size_t n : {0u, 1u, 17u, 301u, 40013u}) run_against_reference(c, n, 6, ++seed);
}

TEST(CpuStep, ResultsDoNotDependOnThreadCount) {
  const OptimizerConfig cfg;
  const std::size_t n = 40013;
  LstmOptimizer opt(Weights::initialise(cfg, 5), Device::kCpu);
  Rng rng(9);
  const std::vector<float> g = random_grads(n, rng);
  std::vector<float> theta0(n, 0.5f), theta1(theta0), state0(opt.state_size(n), 0.0f),
      state1(state0);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  for (int t = 0; t < 3; ++t) opt.step(theta0.data(), g.data(), state0.data(), n);
  omp_set_num_threads(std::max(2, threads));
  for (int t = 0; t < 3; ++t) opt.step(theta1.data(), g.data(), state1.data(), n);
  omp_set_num_threads(threads);
  EXPECT_EQ(0, std::memcmp(theta0.data(), theta1.data(), n * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(state0.data(), state1.data(), state0.size() * sizeof(float)));
}

TEST(CpuStep, NonFiniteGradientSkipsTheWholeStep) {
  const OptimizerConfig cfg;
  const std::size_t n = 1001;
  LstmOptimizer opt(Weights::initialise(cfg, 3), Device::kCpu);
  Rng rng(4);
  std::vector<float> theta(n, 1.0f), state(opt.state_size(n), 0.0f);
  opt.step(theta.data(), random_grads(n, rng).data(), state.data(), n);  // non-zero state
  const std::vector<float> theta_before = theta, state_before = state;
  for (float badv :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
        -std::numeric_limits<float>::infinity()}) {
    for (std::size_t where : {std::size_t(0), std::size_t(500), n - 1}) {
      std::vector<float> g = random_grads(n, rng);
      g[where] = badv;
      int found = 0;
      opt.step(theta.data(), g.data(), state.data(), n, nullptr, &found);
      EXPECT_EQ(found, 1) << badv << " at " << where;
      EXPECT_TRUE(opt.last_step_skipped());
      EXPECT_EQ(0, std::memcmp(theta.data(), theta_before.data(), n * sizeof(float)));
      EXPECT_EQ(0, std::memcmp(state.data(), state_before.data(), state.size() * sizeof(float)));
    }
  }
  // A finite step afterwards goes through and leaves a caller's flag as it was.
  int found = 0;
  opt.step(theta.data(), random_grads(n, rng).data(), state.data(), n, nullptr, &found);
  EXPECT_EQ(found, 0);
  EXPECT_FALSE(opt.last_step_skipped());
  EXPECT_NE(0, std::memcmp(theta.data(), theta_before.data(), n * sizeof(float)));
}

TEST(CpuStep, BadArgumentsAreRefused) {
  LstmOptimizer opt(Weights::initialise(OptimizerConfig{}, 1), Device::kCpu);
  float theta = 0, grad = 1;
  try {
    opt.step(&theta, &grad, static_cast<float*>(nullptr), 1);
    FAIL() << "a null state was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("null"), std::string::npos) << e.what();
  }
  opt.step(nullptr, nullptr, static_cast<float*>(nullptr), 0);  // n = 0 is a no-op
  OptimizerConfig other;
  other.hidden = 8;
  EXPECT_THROW(opt.set_weights(Weights::initialise(other, 1)), Error);
  Weights short_phi = Weights::initialise(OptimizerConfig{}, 1);
  short_phi.values().pop_back();  // the right configuration, one value short
  EXPECT_THROW(opt.set_weights(short_phi), Error);
  EXPECT_THROW(LstmOptimizer(short_phi, Device::kCpu), Error);
}

// A zero output layer: the same LSTM layers as the random one for the seed, and a step that
// leaves every coordinate where it was.
TEST(Weights, ZeroOutputInitialisation) {
  OptimizerConfig cfg;
  const Weights r = Weights::initialise(cfg, 7), z = Weights::initialise(cfg, 7, OutputInit::kZero);
  const std::size_t out = z.layout().out_w_offset();
  ASSERT_EQ(out + cfg.hidden + 1, z.size());
  for (std::size_t k = 0; k < out; ++k) ASSERT_EQ(z.values()[k], r.values()[k]) << k;
  for (std::size_t k = out; k < z.size(); ++k) EXPECT_EQ(z.values()[k], 0.0f) << k;
  LstmOptimizer opt(z, Device::kCpu);
  const std::size_t n = 37;
  std::vector<float> theta(n), grad(n), state(opt.state_size(n));
  for (std::size_t i = 0; i < n; ++i) theta[i] = 0.1f * i - 1, grad[i] = 0.01f * (i % 5) - 0.02f;
  const std::vector<float> before = theta;
  opt.reset_state(state.data(), n);
  opt.step(theta.data(), grad.data(), state.data(), n);
  EXPECT_EQ(theta, before);
}

TEST(Weights, InitialisationIsReproducibleAndTruncated) {
  OptimizerConfig cfg;
  cfg.hidden = 64;
  const Weights a = Weights::initialise(cfg, 42), b = Weights::initialise(cfg, 42),
                c = Weights::initialise(cfg, 43);
  ASSERT_EQ(a.size(), a.layout().count());
  EXPECT_EQ(a.values(), b.values());
  EXPECT_NE(a.values(), c.values());
  // Layer 2's matrix: std 1/sqrt(64 + 64), truncated at 2 sigma, whose standard deviation
  // is 0.8796 sigma; with 32,768 samples the estimate is within 0.02 sigma.
  Weights w = a;
  const MatrixView W = w.lstm_weight(1);
  const double sigma = 1.0 / std::sqrt(128.0);
  double sum = 0, sq = 0, maxabs = 0;
  for (std::size_t k = 0; k < W.size(); ++k) {
    sum += W.data[k];
    sq += double(W.data[k]) * W.data[k];
    maxabs = std::max(maxabs, std::fabs(double(W.data[k])));
  }
  const double mean = sum / W.size(), sd = std::sqrt(sq / W.size() - mean * mean);
  EXPECT_LT(maxabs, 2 * sigma * (1 + 1e-6));
  EXPECT_NEAR(sd / sigma, 0.8796, 0.02);
  EXPECT_NEAR(mean / sigma, 0.0, 0.02);
}

TEST(Weights, DefaultSizeIsThePapers) {
  EXPECT_EQ(Weights(OptimizerConfig{}).size(), 5141u);  // docs/method.md §3
}

}  // namespace
}  // namespace l2o
