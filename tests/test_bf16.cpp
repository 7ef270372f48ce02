// bfloat16 state storage: the rounding against an independent reference, the SIMD
// load/store against the scalar conversion, and the CPU step with bfloat16 state against
// the fp32 step (which tests/test_cpu_step.cpp checks against the double reference).
#include "l2o/bfloat16.hpp"
#include "l2o/optimizer.hpp"
#include "maths/coordinate.hpp"
#include "maths/random.hpp"
#include "maths/simd_pack.hpp"
#include "random_inputs.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace l2o {
namespace {

float from_bits(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
std::uint32_t to_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// The value of a bfloat16 pattern in double, with the pattern just past the largest
// finite one (0x7F80, infinity) taken as 2^128, as IEEE rounding does.
double bf16_value(std::uint16_t b) {
  if ((b & 0x7FFF) == 0x7F80) return std::copysign(std::ldexp(1.0, 128), (b & 0x8000) ? -1 : 1);
  return static_cast<double>(from_bits(std::uint32_t(b) << 16));
}

// Round to nearest, ties to even, by comparing distances in double: the candidates are
// the truncated pattern and the next one away from zero.
std::uint16_t reference_round(float f) {
  const std::uint32_t u = to_bits(f);
  const std::uint16_t lo = static_cast<std::uint16_t>(u >> 16);
  if (std::isinf(f)) return lo;
  const std::uint16_t hi = static_cast<std::uint16_t>(lo + 1);
  const double x = f, dlo = std::fabs(x - bf16_value(lo)), dhi = std::fabs(bf16_value(hi) - x);
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return (lo & 1) ? hi : lo;
}

TEST(BFloat16, RoundingMatchesTheReference) {
  std::vector<float> values = {0.0f,
                               -0.0f,
                               1.0f,
                               -1.0f,
                               std::numeric_limits<float>::min(),
                               std::numeric_limits<float>::denorm_min(),
                               -std::numeric_limits<float>::denorm_min(),
                               std::numeric_limits<float>::max(),
                               -std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(),
                               from_bits(0x3F808000u),  // a tie, lower pattern even: down
                               from_bits(0x3F818000u),  // a tie, lower pattern odd: up
                               from_bits(0x3F808001u),  // just above a tie: up
                               from_bits(0x3F807FFFu),  // just below a tie: down
                               from_bits(0x7F7F8000u),  // a tie at the top: infinity
                               from_bits(0x7F7F7FFFu)};
  Rng rng(11);
  for (int k = 0; k < 200000; ++k) {
    const std::uint32_t u = static_cast<std::uint32_t>(rng.next() >> 32);
    if ((u & 0x7FFFFFFFu) <= 0x7F800000u) values.push_back(from_bits(u));  // all finite/inf
  }
  for (float f : values)
    ASSERT_EQ(bf16_from_float(f), reference_round(f))
        << "f = " << f << " bits " << std::hex << to_bits(f);
  // Every bfloat16 pattern converts to the fp32 with those upper bits and back unchanged.
  for (std::uint32_t b = 0; b < 0x10000u; ++b) {
    const float f = float_from_bf16(static_cast<std::uint16_t>(b));
    ASSERT_EQ(to_bits(f), b << 16);
    if (!std::isnan(f)) ASSERT_EQ(bf16_from_float(f), b);
  }
}

TEST(BFloat16, NaNStaysNaN) {
  for (std::uint32_t u : {0x7FC00000u, 0x7F800001u, 0xFF800001u, 0x7FFFFFFFu, 0x7F80FFFFu}) {
    const std::uint16_t b = bf16_from_float(from_bits(u));
    EXPECT_TRUE(std::isnan(float_from_bf16(b))) << std::hex << u << " -> " << b;
    EXPECT_EQ(b & 0x8000, (u >> 16) & 0x8000) << "sign kept";
  }
}

TEST(BFloat16, SimdLoadAndStoreMatchTheScalarConversion) {
  using cpu::kLanes;
  Rng rng(5);
  for (int rep = 0; rep < 2000; ++rep) {
    float in[kLanes];
    for (int l = 0; l < kLanes; ++l) {
      const std::uint32_t u = static_cast<std::uint32_t>(rng.next() >> 32);
      in[l] = rep % 2 ? float(rng.normal()) : from_bits(u);  // NaNs included in odd reps
    }
    bfloat16 out[kLanes];
    cpu::store_state(out, cpu::Pack::load(in));
    const cpu::Pack back = cpu::load_state(out);
    for (int l = 0; l < kLanes; ++l) {
      ASSERT_EQ(out[l].bits, bf16_from_float(in[l])) << in[l];
      ASSERT_EQ(to_bits(back[l]), std::uint32_t(out[l].bits) << 16);
    }
  }
}

using test_inputs::random_grads;

// The arithmetic is the fp32 step's, only the state's storage differs: from the same
// bfloat16-representable state, theta must come out bit for bit equal and the bfloat16
// state equal to the fp32 step's state rounded. Exact, so no tolerance.
TEST(BFloat16, CpuStepIsTheFp32StepWithTheStateRounded) {
  for (int hidden : {4, 20, 64})
    for (int layers : {1, 2})
      for (std::size_t n : {1u, 15u, 17u, 1000u, 4099u}) {
        OptimizerConfig cfg;
        cfg.hidden = hidden;
        cfg.layers = layers;
        SCOPED_TRACE(describe(cfg) + ", n = " + std::to_string(n));
        LstmOptimizer opt(Weights::initialise(cfg, 3 + n), Device::kCpu);
        Rng rng(n * 7 + hidden);
        std::vector<float> theta(n), state(opt.state_size(n), 0.0f);
        for (auto& t : theta) t = float(rng.normal());
        for (int t = 0; t < 3; ++t)  // a non-trivial state
          opt.step(theta.data(), random_grads(n, rng).data(), state.data(), n);
        std::vector<bfloat16> sb(state.size());
        for (std::size_t k = 0; k < state.size(); ++k) {
          sb[k].bits = bf16_from_float(state[k]);
          state[k] = float_from_bf16(sb[k].bits);
        }
        std::vector<float> theta_b = theta;
        for (int t = 0; t < 2; ++t) {
          const std::vector<float> g = random_grads(n, rng);
          opt.step(theta.data(), g.data(), state.data(), n);
          opt.step(theta_b.data(), g.data(), sb.data(), n);
          ASSERT_EQ(0, std::memcmp(theta.data(), theta_b.data(), n * sizeof(float)));
          for (std::size_t k = 0; k < state.size(); ++k) {
            ASSERT_EQ(sb[k].bits, bf16_from_float(state[k])) << "state[" << k << "]";
            state[k] = float_from_bf16(sb[k].bits);  // both continue from the same state
          }
        }
      }
}

TEST(BFloat16, ResetZeroesAndNonFiniteGradientsSkip) {
  const std::size_t n = 333;
  LstmOptimizer opt(Weights::initialise(OptimizerConfig{}, 1), Device::kCpu);
  EXPECT_EQ(opt.state_bytes(n, StateFormat::kBFloat16), opt.state_size(n) * 2);
  EXPECT_EQ(opt.state_bytes(n), opt.state_size(n) * 4);
  std::vector<bfloat16> state(opt.state_size(n), bfloat16{0x4141});
  opt.reset_state(state.data(), n);
  for (bfloat16 s : state) ASSERT_EQ(s.bits, 0);
  Rng rng(2);
  std::vector<float> theta(n, 1.0f);
  opt.step(theta.data(), random_grads(n, rng).data(), state.data(), n);
  const std::vector<float> theta0 = theta;
  const std::vector<bfloat16> state0 = state;
  std::vector<float> g = random_grads(n, rng);
  g[n / 2] = std::numeric_limits<float>::quiet_NaN();
  int found = 0;
  opt.step(theta.data(), g.data(), state.data(), n, nullptr, &found);
  EXPECT_EQ(found, 1);
  EXPECT_EQ(0, std::memcmp(theta.data(), theta0.data(), n * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(state.data(), state0.data(), state.size() * sizeof(bfloat16)));
}

}  // namespace
}  // namespace l2o
