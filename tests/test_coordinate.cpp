// The per-coordinate maths of coordinate.hpp (shared by both backends) against the naive
// double-precision reference of reference.hpp.
#include "l2o/weights.hpp"
#include "maths/coordinate.hpp"
#include "maths/random.hpp"
#include "reference.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace l2o {
namespace {

TEST(ExpF, MatchesStdExpWithinThreeUlpAcrossTheRange) {
  // Cephes expf is ~1 ulp; allow 3 ulp (3 * 2^-23 relative ~ 3.6e-7).
  for (double x = -87.0; x <= 88.0; x += 0.001234) {
    const float xf = static_cast<float>(x);
    const double want = std::exp(static_cast<double>(xf));
    EXPECT_NEAR(math::exp_f(xf), want, 3.6e-7 * want) << "x = " << xf;
  }
}

TEST(ExpF, EdgeValues) {
  EXPECT_EQ(math::exp_f(0.0f), 1.0f);
  EXPECT_TRUE(std::isnan(math::exp_f(std::numeric_limits<float>::quiet_NaN())));
  // Clamped to the normal range, never Inf or zero: 1 / (1 + e^x) stays finite.
  EXPECT_TRUE(std::isfinite(math::exp_f(1000.0f)));
  EXPECT_GT(math::exp_f(1000.0f), 1e38f);
  EXPECT_GT(math::exp_f(-1000.0f), 0.0f);
  EXPECT_LT(math::exp_f(-1000.0f), 1e-37f);
  EXPECT_TRUE(std::isfinite(math::exp_f(std::numeric_limits<float>::infinity())));
}

TEST(SigmoidTanh, MatchReferenceWithinTwoMillionths) {
  // tanh(x) = 2 sigmoid(2x) - 1 loses relative accuracy near 0 but keeps absolute error
  // at a few fp32 ulps of 1; the LSTM only needs absolute accuracy.
  for (double x = -30.0; x <= 30.0; x += 0.00731) {
    const float xf = static_cast<float>(x);
    EXPECT_NEAR(math::sigmoid(xf), ref::sigmoid(xf), 2e-7) << xf;
    EXPECT_NEAR(math::tanh(xf), std::tanh(double(xf)), 4e-7) << xf;
  }
}

OptimizerConfig log_sign(float p) {
  OptimizerConfig c;
  c.preprocess = Preprocess::kLogSign;
  c.p = p;
  return c;
}

void expect_preprocess_matches(float g, const OptimizerConfig& c) {
  const PreprocessParams q = PreprocessParams::from(c);
  float x[2] = {0, 0};
  preprocess(g, q, x);
  const std::vector<double> want = ref::preprocess(g, c);
  // The log term: log is ~1 ulp, divided by p; 1e-6 absolute covers |log g| / p <= 9.
  // The scaled term e^p g is one rounding of a product: 2e-7 relative.
  for (std::size_t k = 0; k < want.size(); ++k)
    EXPECT_NEAR(x[k], want[k], 1e-6 + 2e-7 * std::fabs(want[k])) << "g = " << g << " k = " << k;
}

TEST(Preprocess, LogSignAgainstReference) {
  for (float p : {10.0f, 5.0f, 1.0f}) {
    const OptimizerConfig c = log_sign(p);
    Rng rng(7);
    for (int i = 0; i < 20000; ++i) {
      const double mag = std::pow(10.0, -30.0 + 60.0 * rng.uniform());
      const float g = static_cast<float>(rng.uniform() < 0.5 ? -mag : mag);
      expect_preprocess_matches(g, c);
    }
  }
}

TEST(Preprocess, EdgeCases) {
  const OptimizerConfig c = log_sign(10.0f);
  const float thr = static_cast<float>(std::exp(-10.0));
  const float denorm = std::numeric_limits<float>::denorm_min();
  const float huge = std::numeric_limits<float>::max();
  for (float g :
       {0.0f, -0.0f, denorm, -denorm, 1e-40f, std::numeric_limits<float>::min(), thr, -thr,
        std::nextafter(thr, 0.0f), std::nextafter(thr, 1.0f), 1.0f, -1.0f, huge, -huge, 1e30f})
    expect_preprocess_matches(g, c);

  const PreprocessParams q = PreprocessParams::from(c);
  float x[2];
  preprocess(0.0f, q, x);
  EXPECT_EQ(x[0], -1.0f);
  EXPECT_EQ(x[1], 0.0f);
  // Both branches meet at the threshold: (log e^-p)/p = -1 and e^p e^-p = 1.
  preprocess(thr, q, x);
  EXPECT_NEAR(x[0], -1.0f, 1e-6);
  EXPECT_EQ(x[1], 1.0f);
  preprocess(std::nextafter(thr, 0.0f), q, x);
  EXPECT_EQ(x[0], -1.0f);
  EXPECT_NEAR(x[1], 1.0f, 1e-6);
  // Infinite gradients give (inf, sign); NaN gives NaN. (The step refuses both anyway.)
  preprocess(std::numeric_limits<float>::infinity(), q, x);
  EXPECT_TRUE(std::isinf(x[0]));
  EXPECT_EQ(x[1], 1.0f);
  preprocess(-std::numeric_limits<float>::infinity(), q, x);
  EXPECT_EQ(x[1], -1.0f);
  preprocess(std::numeric_limits<float>::quiet_NaN(), q, x);
  EXPECT_TRUE(std::isnan(x[0]) || std::isnan(x[1]));
}

TEST(Preprocess, NoneIsIdentity) {
  OptimizerConfig c;
  c.preprocess = Preprocess::kNone;
  const PreprocessParams q = PreprocessParams::from(c);
  for (float g : {0.0f, 1e-30f, -3.5f, 1e30f}) {
    float x[2] = {7, 7};
    preprocess(g, q, x);
    EXPECT_EQ(x[0], g);
    EXPECT_EQ(x[1], 7.0f) << "only one input is written";
  }
}

template <int H>
void check_cell(int nin, std::uint64_t seed) {
  OptimizerConfig c;
  c.hidden = H;
  c.layers = 1;
  c.preprocess = nin == 1 ? Preprocess::kNone : Preprocess::kLogSign;
  c.forget_bias = 0.7f;
  const Weights phi = Weights::initialise(c, seed);
  const ref::Net net(phi);
  Rng rng(seed + 1);
  for (int trial = 0; trial < 50; ++trial) {
    float in[H] = {}, h[H], cc[H], act[4 * H];
    for (int k = 0; k < nin; ++k) in[k] = float(2 * rng.normal());
    for (int j = 0; j < H; ++j) {
      h[j] = float(2 * rng.uniform() - 1);
      cc[j] = float(6 * rng.uniform() - 3);
    }
    std::vector<double> rin(in, in + nin), rh(h, h + H), rc(cc, cc + H);
    lstm_cell_forward<H>(
        RowMajorRows{phi.data() + phi.layout().w_offset(0), phi.layout().row_length(0)},
        phi.data() + phi.layout().b_offset(0), nin, in, h, cc, c.forget_bias, act);
    ref::cell(net, 0, rin, rh, rc);
    // fp32 dot products of <= 2H terms of size <= ~3 (error ~1e-6), then sigmoid/tanh
    // (derivatives <= 1): 5e-6 absolute.
    for (int j = 0; j < H; ++j) {
      EXPECT_NEAR(h[j], rh[j], 5e-6) << "unit " << j;
      EXPECT_NEAR(cc[j], rc[j], 5e-6) << "unit " << j;
    }
    for (int j = 0; j < H; ++j) {  // activations lie in (0,1) or (-1,1)
      EXPECT_GT(act[j], 0.0f);
      EXPECT_LT(act[3 * H + j], 1.0f);
      EXPECT_LE(std::fabs(act[2 * H + j]), 1.0f);
    }
  }
}

TEST(LstmCell, MatchesReference) {
  check_cell<20>(2, 11);
  check_cell<20>(1, 12);
  check_cell<4>(2, 13);
  check_cell<64>(2, 14);
}

// State accessor over one coordinate's state_dim values.
struct ArrayIO {
  float* s;
  float load(int k) const { return s[k]; }
  void store(int k, float v) const { s[k] = v; }
};

// The quad layout the GPU kernels read phi in (QuadPhi) is a permutation of phi's stored
// order, and a step through it computes exactly what the row-major step computes: the
// same products in the same order, so bit for bit the same update and state.
template <int H>
void check_quad_layout(int layers, Preprocess pre, std::uint64_t seed) {
  OptimizerConfig c;
  c.hidden = H;
  c.layers = layers;
  c.preprocess = pre;
  const Weights phi = Weights::initialise(c, seed);
  const WeightLayout L = phi.layout();
  SCOPED_TRACE(describe(c));
  std::vector<float> quads(L.count(), std::numeric_limits<float>::quiet_NaN());
  std::vector<int> hits(L.count(), 0);
  for (std::size_t e = 0; e < L.count(); ++e) {
    const std::size_t q = quad_index(L, e);
    ASSERT_LT(q, L.count());
    ++hits[q];
    quads[q] = phi.data()[e];
  }
  for (int h : hits) ASSERT_EQ(h, 1) << "quad_index is not a permutation";
  for (int l = 0; l < layers; ++l)
    ASSERT_EQ(L.w_offset(l) % 4, 0u) << "quads must be 16-byte aligned";
  Rng rng(seed);
  const PreprocessParams pp = PreprocessParams::from(c);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<float> s1(c.state_dim()), s2;
    for (float& v : s1) v = float(rng.normal());
    s2 = s1;
    float x[kMaxInputs] = {};
    preprocess(float(rng.normal() * 1e-2), pp, x);
    ArrayIO io1{s1.data()}, io2{s2.data()};
    const float u1 = lstm_forward_step<H>(RowMajorPhi{phi.data()}, L, c.forget_bias, c.output_scale,
                                          false, x, io1);
    const float u2 = lstm_forward_step<H>(QuadPhi{quads.data()}, L, c.forget_bias, c.output_scale,
                                          false, x, io2);
    ASSERT_EQ(u1, u2);
    ASSERT_EQ(s1, s2);
  }
}

TEST(LstmCell, QuadLayoutComputesTheSameStep) {
  check_quad_layout<20>(2, Preprocess::kLogSign, 1);
  check_quad_layout<20>(1, Preprocess::kNone, 2);
  check_quad_layout<4>(3, Preprocess::kLogSign, 3);
  check_quad_layout<8>(2, Preprocess::kNone, 4);
  check_quad_layout<64>(2, Preprocess::kLogSign, 5);
}

}  // namespace
}  // namespace l2o
