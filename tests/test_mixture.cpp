// Mixtures of problem families (make_mixture_family, docs/generalisation.md): the spec's
// parser refuses what it cannot read, naming the part; draws depend on the seed alone,
// cover every alternative and range at the frequencies asked for, and are the optimizees
// they describe.
#include "l2o/error.hpp"
#include "l2o/evaluate.hpp"
#include "l2o/problem.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace l2o {
namespace {

class MixtureTest : public ::testing::Test {
 protected:
  // A Fashion-MNIST folder of 30 random 3 x 3 images per split (plain IDX files under the
  // .gz names: the reader takes either).
  void SetUp() override {
    for (const char* split : {"train", "t10k"}) {
      const int n = 30;
      std::vector<std::uint8_t> img = header(0x803, {n, 3, 3}), lab = header(0x801, {n});
      for (int i = 0; i < n * 9; ++i) img.push_back(static_cast<std::uint8_t>(i * 37 % 256));
      for (int i = 0; i < n; ++i) lab.push_back(static_cast<std::uint8_t>(i % 10));
      write(std::string(split) + "-images-idx3-ubyte.gz", img);
      write(std::string(split) + "-labels-idx1-ubyte.gz", lab);
    }
    mlp_.data_dir = tmp_.path().string();
    mlp_.batch = 8;
  }
  static std::vector<std::uint8_t> header(std::uint32_t magic, std::vector<std::uint32_t> dims) {
    std::vector<std::uint8_t> b;
    for (std::uint32_t v : {magic}) dims.insert(dims.begin(), v);
    for (std::uint32_t v : dims)
      for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
    return b;
  }
  void write(const std::string& name, const std::vector<std::uint8_t>& bytes) {
    std::ofstream(tmp_.file(name), std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  std::string refusal(const std::string& spec) {
    try {
      make_mixture_family(spec, mlp_);
    } catch (const Error& e) {
      return e.what();
    }
    return "(accepted)";
  }

  testing::TempDir tmp_{"l2o_mixture"};
  MlpOptions mlp_;
};

TEST_F(MixtureTest, BadSpecsAreRefusedNamingThePart) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "no component"},
      {"cubic", "component 'cubic', expected mlp(...), cnn(...) or quadratic(...)"},
      {"cnn(layers=4)", "cnn layers=4, expected integers in 1..3"},
      {"cnn(hidden=3)", "cnn has no key 'hidden' (activation, channels, layers, batch, weight)"},
      {"mlp(activation=swish)", "mlp activation 'swish', expected sigmoid|relu|tanh"},
      {"mlp(hidden=0..8)", "mlp hidden=0..8, expected integers in 1..4096"},
      {"mlp(hidden=9..8)", "mlp hidden=9..8, expected integers in 1..4096"},
      {"mlp(layers=1..5)", "mlp layers=1..5, expected integers in 1..4"},
      {"mlp(hidden=a..8)", "mlp hidden=a..8, expected a range lo..hi"},
      {"mlp(depth=2)", "mlp has no key 'depth'"},
      {"quadratic(dims=65)", "quadratic dims=65, expected integers in 1..64"},
      {"quadratic(dist=cauchy)", "quadratic dist 'cauchy', expected uniform|normal"},
      {"quadratic(dist=normal|)", "quadratic dist has an empty value"},
      {"quadratic(weight=0)", "weight '0', expected a positive number"},
      {"quadratic(dims=3,dims=4)", "quadratic key 'dims' given twice"},
      {"quadratic(dims)", "'dims' in quadratic(...), expected KEY=VALUES"},
      {"quadratic(dims=3", "unbalanced '('"},
      {"quadratic,", "an empty component"},
  };
  for (const auto& [spec, want] : cases) {
    const std::string got = refusal(spec);
    EXPECT_NE(got.find(want), std::string::npos) << "spec '" << spec << "': " << got;
  }
}

// Each draw is a function of the seed; over 400 seeds every component, activation, width
// and layer count of the spec is drawn, in the proportions asked for (bounds: 5 standard
// deviations of a binomial), and the optimizee has the size its description says.
TEST_F(MixtureTest, DrawsFollowTheSpecAndTheSeed) {
  const auto family = make_mixture_family(
      "mlp(activation=sigmoid|relu|tanh, hidden=2..5, layers=1..2),"
      "quadratic(dist=uniform|normal, dims=3..4, weight=3)",
      mlp_);
  EXPECT_EQ(family->describe(),
            "mixture of mlp(activation=sigmoid|relu|tanh, hidden=2..5, layers=1..2), "
            "quadratic(dist=uniform|normal, dims=3..4, weight=3)");
  const int N = 400;
  std::map<std::string, int> seen;
  int mlps = 0;
  const std::regex mlp_re(R"(MLP 9-(\d+)(?:-(\d+))?-10 (\w+), batch 8)");
  for (int i = 0; i < N; ++i) {
    const std::uint64_t seed = optimizee_seed(SeedDomain::kTrain, 7, i);
    const std::string d = family->describe_sample(seed);
    EXPECT_EQ(d, family->describe_sample(seed));
    const auto f = family->sample(seed, Device::kCpu);
    std::smatch m;
    if (std::regex_search(d, m, mlp_re)) {
      ++mlps;
      const int h1 = std::stoi(m[1]), h2 = m[2].matched ? std::stoi(m[2]) : 0;
      EXPECT_EQ(f->size(),
                std::size_t(h1 * 10 + (h2 ? h2 * (h1 + 1) + 10 * (h2 + 1) : 10 * (h1 + 1))))
          << d;
      ++seen["activation " + std::string(m[3])];
      ++seen["layers " + std::to_string(h2 ? 2 : 1)];
      ++seen["width " + std::string(m[1])];
    } else {
      EXPECT_NE(d.find("quadratic"), std::string::npos) << d;
      const bool normal = d.find("N(0,1)") != std::string::npos;
      ++seen[normal ? "normal" : "uniform"];
      const bool dims3 = d.find(", 3 dims") != std::string::npos;
      EXPECT_TRUE(dims3 || d.find(", 4 dims") != std::string::npos) << d;
      EXPECT_EQ(f->size(), std::size_t(128 * (dims3 ? 3 : 4))) << d;
    }
  }
  // weight 3 for the quadratic: 1/4 of the draws are MLPs (100 +- 5 * 8.7).
  EXPECT_GT(mlps, 56);
  EXPECT_LT(mlps, 144);
  for (const char* k : {"activation sigmoid", "activation relu", "activation tanh", "layers 1",
                        "layers 2", "width 2", "width 5", "uniform", "normal"})
    EXPECT_GT(seen[k], 5) << k;
  for (const auto& [k, v] : seen) EXPECT_EQ(k.find("width 6"), std::string::npos) << k;
}

// The same seed, the same optimizee: its initial point and loss.
TEST_F(MixtureTest, SampleIsDeterministicInTheSeed) {
  const auto family = make_mixture_family(
      "mlp(hidden=3..4),quadratic(dims=2),cnn(channels=2..3, layers=1..2)", mlp_);
  std::set<std::string> kinds;
  for (std::uint64_t seed = 0; seed < 60; ++seed)
    kinds.insert(family->describe_sample(seed).substr(0, 18));
  EXPECT_EQ(kinds.size(), 3u);  // "Fashion-MNIST MLP ", "Fashion-MNIST CNN ", a quadratic
  for (std::uint64_t seed : {1u, 2u, 3u, 4u}) {
    auto a = family->sample(seed, Device::kCpu), b = family->sample(seed, Device::kCpu);
    ASSERT_EQ(a->size(), b->size());
    std::vector<float> ta(a->size()), tb(b->size()), ga(a->size()), gb(b->size());
    float la = 0, lb = 0;
    a->initial_theta(ta.data(), nullptr);
    b->initial_theta(tb.data(), nullptr);
    EXPECT_EQ(ta, tb);
    a->loss_and_grad(ta.data(), ga.data(), &la, nullptr);
    b->loss_and_grad(tb.data(), gb.data(), &lb, nullptr);
    EXPECT_EQ(la, lb);
    EXPECT_EQ(ga, gb);
  }
}

// Random scaling (make_scaled_optimizee): f(c * theta') with theta'_0 = theta_0 / c keeps
// the losses of f and multiplies each gradient coordinate by its c_i, the factors lying
// in [1 / spread, spread], spread over the range, and fixed by the seed.
TEST(ScaledOptimizee, KeepsTheLossesAndScalesEachGradient) {
  QuadraticOptions qo;
  qo.dims = 5;
  qo.batch = 40;
  const auto family = make_quadratic_family(qo);
  auto base = family->sample(7, Device::kCpu);
  auto scaled = make_scaled_optimizee(family->sample(7, Device::kCpu), 10.0, 99);
  const std::size_t n = base->size();
  ASSERT_EQ(scaled->size(), n);
  std::vector<float> t0(n), s0(n), g0(n), gs(n);
  base->initial_theta(t0.data(), nullptr);
  scaled->initial_theta(s0.data(), nullptr);
  float l0 = 0, ls = 0;
  base->loss_and_grad(t0.data(), g0.data(), &l0, nullptr);
  scaled->loss_and_grad(s0.data(), gs.data(), &ls, nullptr);
  EXPECT_NEAR(ls, l0, 1e-5 * std::fabs(l0));
  double lo = 1e30, hi = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double c = double(t0[i]) / s0[i];  // theta'_0 = theta_0 / c
    if (t0[i] == 0.0f) continue;
    ASSERT_GE(c, 0.1 * (1 - 1e-5));
    ASSERT_LE(c, 10.0 * (1 + 1e-5));
    lo = std::min(lo, c);
    hi = std::max(hi, c);
    EXPECT_NEAR(gs[i], c * g0[i], 1e-4 * std::fabs(c * g0[i]) + 1e-6) << "coordinate " << i;
  }
  EXPECT_LT(lo, 0.3);  // 200 log-uniform draws reach both ends of [0.1, 10]
  EXPECT_GT(hi, 3.0);
  auto again = make_scaled_optimizee(family->sample(7, Device::kCpu), 10.0, 99);
  std::vector<float> s1(n);
  again->initial_theta(s1.data(), nullptr);
  EXPECT_EQ(s0, s1);
  for (double bad : {0.5, -1.0, std::nan("")}) {
    try {
      make_scaled_optimizee(family->sample(7, Device::kCpu), bad, 1);
      ADD_FAILURE() << "spread " << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("spread"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace l2o
