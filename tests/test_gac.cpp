// LSTM+GAC (OptimizerConfig::gac): the step against the double reference with the global
// units averaged over every coordinate of every tensor, the non-finite rule, the coupling
// it adds, the configuration and the meta-gradient's independence of the thread count.
// The meta-gradient against finite differences is in test_meta_gradient.cpp and the
// checkpoint format in test_checkpoint.cpp.
#include "host/cpu/isa.hpp"
#include "l2o/error.hpp"
#include "l2o/meta.hpp"
#include "l2o/optimizer.hpp"
#include "l2o/problem.hpp"
#include "l2o/segment.hpp"
#include "maths/coordinate.hpp"
#include "maths/random.hpp"
#include "random_inputs.hpp"
#include "reference.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace l2o {
namespace {

using test_inputs::random_grads;

OptimizerConfig gac_config(int layers, int hidden, int gac) {
  OptimizerConfig c;
  c.layers = layers;
  c.hidden = hidden;
  c.gac = gac;
  return c;
}

// Tensors of the given sizes stepped `steps` times as one multi-tensor step, against the
// reference stepping every coordinate and then averaging the global units over all of
// them. Tolerances as tests/test_cpu_step.cpp (fp32 against double over a few steps:
// states 2e-5, theta 1e-5 + 1e-5 |theta|); a mean of fp32 values adds ~1e-7. The global
// rows must be exactly equal across all coordinates.
void check_against_reference(const OptimizerConfig& cfg, const std::vector<std::size_t>& sizes,
                             int steps, std::uint64_t seed) {
  SCOPED_TRACE(describe(cfg));
  const Weights phi = Weights::initialise(cfg, seed);
  LstmOptimizer opt(phi, Device::kCpu);
  Rng rng(seed);
  std::vector<std::vector<float>> theta, state;
  std::vector<double> rtheta;
  for (std::size_t n : sizes) {
    theta.emplace_back(n);
    for (float& t : theta.back()) {
      t = float(rng.normal());
      rtheta.push_back(t);
    }
    state.emplace_back(opt.state_size(n), 0.0f);
  }
  std::vector<ref::CoordState> rstate(rtheta.size(), ref::CoordState(cfg.layers, cfg.hidden));
  const ref::Net net(phi);
  for (int t = 0; t < steps; ++t) {
    std::vector<std::vector<float>> grads;
    std::vector<Segment<float>> segs;
    std::size_t at = 0;
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      grads.push_back(random_grads(sizes[k], rng));
      segs.push_back({theta[k].data(), grads[k].data(), state[k].data(), sizes[k]});
      for (std::size_t i = 0; i < sizes[k]; ++i, ++at)
        rtheta[at] += ref::step(net, cfg, grads[k][i], rstate[at]);
    }
    ref::average_global_units(cfg, rstate);
    opt.step(segs.data(), segs.size());
    ASSERT_FALSE(opt.last_step_skipped());
  }
  int bad = 0;
  std::size_t at = 0;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    const std::size_t n = sizes[k];
    for (std::size_t i = 0; i < n && bad < 10; ++i, ++at) {
      if (std::fabs(theta[k][i] - rtheta[at]) > 1e-5 + 1e-5 * std::fabs(rtheta[at])) {
        ADD_FAILURE() << "tensor " << k << " theta[" << i << "] = " << theta[k][i] << ", reference "
                      << rtheta[at];
        ++bad;
      }
      for (int l = 0; l < cfg.layers; ++l)
        for (int u = 0; u < cfg.hidden; ++u) {
          const float h = state[k][((2 * l) * cfg.hidden + u) * n + i];
          const float c = state[k][((2 * l + 1) * cfg.hidden + u) * n + i];
          if (std::fabs(h - rstate[at].h[l][u]) > 2e-5 ||
              std::fabs(c - rstate[at].c[l][u]) > 2e-5) {
            ADD_FAILURE() << "tensor " << k << " coordinate " << i << " layer " << l << " unit "
                          << u << ": h " << h << " vs " << rstate[at].h[l][u] << ", c " << c
                          << " vs " << rstate[at].c[l][u];
            ++bad;
          }
          if (u >= cfg.hidden - cfg.gac && h != state[0][((2 * l) * cfg.hidden + u) * sizes[0]]) {
            ADD_FAILURE() << "global unit " << u << " of layer " << l << " differs at tensor " << k
                          << " coordinate " << i;
            ++bad;
          }
        }
    }
  }
}

TEST(Gac, MultiTensorStepAveragesOverEveryTensor) {
  // The first tensor must be non-empty (the uniformity check reads its first coordinate).
  check_against_reference(gac_config(2, 8, 3), {7, 0, 1, 33, 100}, 4, 1);
  check_against_reference(gac_config(1, 20, 20), {17, 5}, 3, 2);  // every unit global
  check_against_reference(gac_config(3, 4, 1), {1}, 3, 3);        // one coordinate: no change
  OptimizerConfig c = gac_config(2, 8, 2);
  c.moment_inputs = true;
  c.nominal_lr = 0.01f;
  c.bounded_output = true;
  check_against_reference(c, {31, 2}, 4, 4);
}

TEST(Gac, SingleTensorStepOfManySizes) {
  for (std::size_t n : {1u, 2u, 17u, 1000u, 4099u})
    check_against_reference(gac_config(2, 20, 4), {n}, 3, 10 + n);
}

// Without global units, one coordinate's gradient never reaches another's update; with
// them, it does from the second step on (the average enters the next step).
TEST(Gac, GlobalUnitsCoupleTheCoordinates) {
  for (int gac : {0, 2}) {
    SCOPED_TRACE("gac = " + std::to_string(gac));
    LstmOptimizer opt(Weights::initialise(gac_config(2, 8, gac), 5), Device::kCpu);
    const std::size_t n = 50;
    Rng rng(6);
    const std::vector<float> g0 = random_grads(n, rng), g1 = random_grads(n, rng);
    std::vector<float> a(n, 0.0f), b(n, 0.0f), sa(opt.state_size(n), 0.0f), sb(sa);
    std::vector<float> h0 = g0;
    h0[7] *= 100.0f;  // another gradient for coordinate 7 only
    opt.step(a.data(), g0.data(), sa.data(), n);
    opt.step(b.data(), h0.data(), sb.data(), n);
    EXPECT_EQ(a[3], b[3]);  // the first step's updates are each coordinate's own
    opt.step(a.data(), g1.data(), sa.data(), n);
    opt.step(b.data(), g1.data(), sb.data(), n);
    if (gac == 0)
      EXPECT_EQ(a[3], b[3]);
    else
      EXPECT_NE(a[3], b[3]);
  }
}

// A non-finite gradient in any tensor skips the whole step: no tensor's theta or state
// changes, the global rows included.
TEST(Gac, NonFiniteGradientLeavesEverythingUnchanged) {
  LstmOptimizer opt(Weights::initialise(gac_config(2, 8, 3), 7), Device::kCpu);
  Rng rng(8);
  const std::vector<std::size_t> sizes = {40, 9};
  std::vector<std::vector<float>> theta, state, grad;
  std::vector<Segment<float>> segs;
  for (std::size_t n : sizes) {
    theta.emplace_back(n, 1.0f);
    state.emplace_back(opt.state_size(n), 0.0f);
    grad.push_back(random_grads(n, rng));
  }
  for (std::size_t k = 0; k < sizes.size(); ++k)
    segs.push_back({theta[k].data(), grad[k].data(), state[k].data(), sizes[k]});
  opt.step(segs.data(), segs.size());
  // A state whose global rows are not uniform, so that averaging them (which a step that
  // is not skipped would do) shows.
  for (auto& st : state)
    for (float& v : st) v = float(rng.normal());
  const auto theta_before = theta, state_before = state;
  grad[1][8] = std::numeric_limits<float>::quiet_NaN();
  int found = 0;
  opt.step(segs.data(), segs.size(), nullptr, &found);
  EXPECT_EQ(found, 1);
  EXPECT_EQ(theta, theta_before);
  EXPECT_EQ(state, state_before);
}

// bfloat16 state: the global rows hold one value across the coordinates, within
// bfloat16's rounding (2^-8 relative per store, a few stores) of the fp32 step's.
TEST(Gac, BFloat16StateAveragesToo) {
  const OptimizerConfig cfg = gac_config(2, 8, 2);
  LstmOptimizer opt(Weights::initialise(cfg, 9), Device::kCpu);
  const std::size_t n = 77;
  Rng rng(10);
  std::vector<float> t32(n, 0.0f), t16(n, 0.0f), s32(opt.state_size(n), 0.0f);
  std::vector<bfloat16> s16(opt.state_size(n), bfloat16{0});
  for (int t = 0; t < 3; ++t) {
    const std::vector<float> g = random_grads(n, rng);
    opt.step(t32.data(), g.data(), s32.data(), n);
    opt.step(t16.data(), g.data(), s16.data(), n);
  }
  for (int l = 0; l < cfg.layers; ++l)
    for (int j = 0; j < cfg.gac; ++j) {
      const std::size_t row = static_cast<std::size_t>(cfg.gac_row(l, j));
      const float first = float_from_bf16(s16[row * n].bits);
      EXPECT_NEAR(first, s32[row * n], 0.02 * std::fabs(s32[row * n]) + 1e-3);
      for (std::size_t i = 0; i < n; ++i) {
        EXPECT_EQ(s16[row * n + i].bits, s16[row * n].bits);
        EXPECT_EQ(s32[row * n + i], s32[row * n]);
      }
    }
}

TEST(Gac, ConfigurationAndCarryingPhiOver) {
  OptimizerConfig c = gac_config(2, 8, 9);
  try {
    c.validate();
    ADD_FAILURE() << "gac above hidden accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gac = 9, expected 0..8"), std::string::npos) << e.what();
  }
  c.gac = -1;
  EXPECT_THROW(c.validate(), Error);
  c.gac = 8;
  c.validate();
  EXPECT_NE(describe(c).find("8 global averaging units per layer"), std::string::npos);
  EXPECT_EQ(c.gac_row(0, 0), 0);  // all 8 units global: layer 0's h rows 0..7
  EXPECT_EQ(c.gac_row(1, 7), 16 + 7);
  c.gac = 3;
  EXPECT_EQ(c.gac_row(1, 0), 16 + 5);
  EXPECT_NE(c, gac_config(2, 8, 2));
  // The paper's phi carried over to global units keeps every weight (the layout is the same).
  const Weights paper = Weights::initialise(gac_config(2, 8, 0), 3);
  const Weights global = extend_weights(paper, c);
  EXPECT_EQ(global.config().gac, 3);
  EXPECT_EQ(global.values(), paper.values());
}

// The step-by-step backward of LSTM+GAC sums each slice's steps in a fixed order: its
// meta-gradient is the same bit for bit on one thread and on several, and differs from
// the same phi's without global units.
TEST(Gac, MetaGradientDoesNotDependOnThreadCount) {
  QuadraticOptions qo;
  qo.dims = 60;  // 3,900 coordinates: 122 blocks or more (the last partial), 15 slices or more
  qo.batch = 65;
  const auto family = make_quadratic_family(qo);
  auto run = [&](int gac, int threads) {
    omp_set_num_threads(threads);
    const Weights phi = Weights::initialise(gac_config(2, 8, gac), 11);
    auto f = family->sample(12, Device::kCpu);
    Unroller u(phi, f->size(), 5, Device::kCpu);
    u.start(*f);
    std::vector<float> d;
    u.unroll(*f, &d);
    u.unroll(*f, &d);
    return d;
  };
  const int threads = omp_get_max_threads();
  const std::vector<float> one = run(2, 1), two = run(2, std::max(2, threads));
  const std::vector<float> none = run(0, 1);
  omp_set_num_threads(threads);
  ASSERT_EQ(one.size(), two.size());
  EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(float)));
  EXPECT_NE(one, none);  // the global units are in use (their values: test_meta_gradient.cpp)
}

// The step-by-step backward (KernelTable::backward_stepwise, LSTM+GAC's) with nothing done
// between steps is the block-by-block backward: the same products summed in another
// order. On a random tape of 20,000 coordinates (625 blocks of 32 with AVX-512, about 20
// per slice: the workspace's groups of 8 blocks fill and end part-way) with 3 steps, per
// slice and in total within 1e-5 of the largest sum (fp32 accumulation of ~60 terms per
// lane, ~1e-6 relative each).
TEST(Gac, StepwiseBackwardWithNothingBetweenStepsIsTheBlockBackward) {
  OptimizerConfig c;
  c.moment_inputs = true;  // every row of the tape in use
  const Weights phi = Weights::initialise(c, 13);
  const cpu::KernelTable& k = cpu::kernels();
  cpu::KernelPhi kphi;
  kphi.set(phi, k);
  const std::size_t n = 20000, ld = (n + k.block - 1) / k.block * k.block;
  const int T = 3;
  const std::size_t sd = static_cast<std::size_t>(c.state_dim());
  Rng rng(14);
  std::vector<float> grads((T + 1) * ld, 0.0f), states((T + 1) * sd * ld, 0.0f);
  for (std::size_t i = 0; i < n; ++i)
    for (int t = 0; t <= T; ++t) grads[t * ld + i] = float(rng.normal() * 0.1);
  for (float& v : states) v = float(rng.normal() * 0.5);
  for (int t = 0; t <= T; ++t)  // the moments' bias corrections and v are positive
    for (std::size_t i = 0; i < ld; ++i) {
      float* st = states.data() + t * sd * ld;
      const std::size_t m = static_cast<std::size_t>(2 * c.layers * c.hidden);
      st[(m + 1) * ld + i] = std::fabs(st[(m + 1) * ld + i]);
      st[(m + 2) * ld + i] = 0.5f;
      st[(m + 3) * ld + i] = 0.5f;
    }
  const std::vector<float> omega = {0.0f, 1.0f, 0.5f, 2.0f};
  const long long slices = 32;
  const cpu::BackwardArgs a{kphi.args(),   ld,          sd,    T, omega.data(), grads.data(),
                            states.data(), kphi.size(), slices};
  std::vector<double> block(slices * kphi.size()), step(block.size());
  ASSERT_TRUE(k.backward(a, block.data()));
  const std::size_t rows = static_cast<std::size_t>(2 * c.layers * c.hidden);
  std::vector<float> carry(rows * ld, 0.0f), lambda(ld, 0.0f);
  const cpu::BetweenSteps nothing{[](const void*, float*) {}, nullptr};
  ASSERT_TRUE(k.backward_stepwise(a, step.data(), carry.data(), lambda.data(), nothing));
  double largest = 0.0;
  for (double v : block) largest = std::max(largest, std::fabs(v));
  ASSERT_GT(largest, 0.0);
  int bad = 0;
  for (std::size_t e = 0; e < block.size() && bad < 10; ++e)
    if (std::fabs(block[e] - step[e]) > 1e-5 * largest) {
      ADD_FAILURE() << "slice " << e / kphi.size() << " entry " << e % kphi.size() << ": block "
                    << block[e] << ", stepwise " << step[e] << " (largest " << largest << ")";
      ++bad;
    }
}

}  // namespace
}  // namespace l2o
