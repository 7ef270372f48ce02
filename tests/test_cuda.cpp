// CUDA backend against the CPU backend (which tests/test_cpu_step.cpp checks against the
// double reference). Skipped, visibly, where no CUDA device is usable.
#include "cuda_test_util.hpp"
#include "l2o/bfloat16.hpp"
#include "l2o/data.hpp"
#include "l2o/device.hpp"
#include "l2o/error.hpp"
#include "l2o/meta.hpp"
#include "l2o/optimizer.hpp"
#include "l2o/problem.hpp"
#include "maths/coordinate.hpp"
#include "maths/random.hpp"
#include "random_inputs.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace l2o {
namespace {
using test_cuda::CudaTest;

#if L2O_WITH_CUDA
using test_cuda::DeviceBuffer;
using test_inputs::random_grads;

float as_float(float v) {
  return v;
}
float as_float(bfloat16 v) {
  return float_from_bf16(v.bits);
}

// Runs `steps` steps on both backends from the same start and compares theta and state,
// the state stored as S (float or bfloat16) on both.
// Tolerance, fp32 state: both are fp32; the GPU uses __expf/__logf (a few ulp more than
// the CPU's polynomial) and fuses multiply-adds differently, so after a few steps theta
// agrees to 2e-5 + 1e-4 |theta| and the state to 5e-5.
// bfloat16 state: the same small differences can put a value on the other side of a
// bfloat16 rounding boundary (one bf16 ulp = 2^-8 relative), which the next steps carry:
// the state is allowed 4 bf16 ulps (2^-6 relative) + 1e-4, theta 1e-4 + 1e-3 |theta|.
template <class S = float>
void compare_backends(const OptimizerConfig& cfg, std::size_t n, int steps, cudaStream_t stream) {
  constexpr bool bf16 = std::is_same<S, bfloat16>::value;
  SCOPED_TRACE(describe(cfg) + ", n = " + std::to_string(n) + (bf16 ? ", bfloat16 state" : ""));
  const Weights phi = Weights::initialise(cfg, 17 + n);
  LstmOptimizer cpu(phi, Device::kCpu), gpu(phi, Device::kCuda);
  ASSERT_EQ(gpu.device(), Device::kCuda);
  Rng rng(n);
  std::vector<float> theta(n);
  std::vector<S> state(cpu.state_size(n), S{});
  for (auto& t : theta) t = float(rng.normal());
  DeviceBuffer<float> d_theta(n), d_grad(n);
  DeviceBuffer<S> d_state(state.size());
  d_theta.upload(theta);
  std::vector<S> garbage(state.size());
  std::memset(static_cast<void*>(garbage.data()), 0x41, garbage.size() * sizeof(S));
  d_state.upload(garbage);
  gpu.reset_state(d_state.ptr, n, stream);
  for (int t = 0; t < steps; ++t) {
    const std::vector<float> g = random_grads(n, rng);
    d_grad.upload(g);
    cpu.step(theta.data(), g.data(), state.data(), n);
    gpu.step(d_theta.ptr, d_grad.ptr, d_state.ptr, n, stream);
    CHECK_CUDA(cudaStreamSynchronize(stream));
  }
  const double theta_abs = bf16 ? 1e-4 : 2e-5, theta_rel = bf16 ? 1e-3 : 1e-4;
  const double state_abs = bf16 ? 1e-4 : 5e-5, state_rel = bf16 ? 1.0 / 64 : 0.0;
  const std::vector<float> gt = d_theta.download();
  const std::vector<S> gs = d_state.download();
  int bad = 0;
  for (std::size_t i = 0; i < n && bad < 10; ++i)
    if (!(std::fabs(gt[i] - theta[i]) <= theta_abs + theta_rel * std::fabs(theta[i]))) {
      ADD_FAILURE() << "theta[" << i << "]: cuda " << gt[i] << ", cpu " << theta[i];
      ++bad;
    }
  for (std::size_t k = 0; k < gs.size() && bad < 10; ++k) {
    const float a = as_float(gs[k]), b = as_float(state[k]);
    if (!(std::fabs(a - b) <= state_abs + state_rel * std::fabs(b))) {
      ADD_FAILURE() << "state[" << k << "]: cuda " << a << ", cpu " << b;
      ++bad;
    }
  }
}

TEST_F(CudaTest, MatchesCpuOnRandomSizes) {
  for (std::size_t n : {1u, 31u, 33u, 255u, 257u, 100007u, 1u << 20})
    compare_backends(OptimizerConfig{}, n, 3, nullptr);
}

TEST_F(CudaTest, MatchesCpuOnOtherConfigurationsAndAStream) {
  cudaStream_t s;
  CHECK_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  OptimizerConfig quadratic;
  quadratic.preprocess = Preprocess::kNone;
  quadratic.output_scale = 1.0f;
  compare_backends(quadratic, 1280, 4, s);
  for (int hidden : {4, 8, 40, 64}) {  // 64: phi needs 200 KB of shared memory
    OptimizerConfig c;
    c.hidden = hidden;
    compare_backends(c, 4099, 2, s);
  }
  OptimizerConfig three;
  three.layers = 3;
  compare_backends(three, 999, 3, s);
  CHECK_CUDA(cudaStreamDestroy(s));
}

TEST_F(CudaTest, BFloat16StateMatchesCpu) {
  cudaStream_t s;
  CHECK_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  for (std::size_t n : {1u, 33u, 4099u, 100007u})
    compare_backends<bfloat16>(OptimizerConfig{}, n, 3, s);
  OptimizerConfig c;
  c.hidden = 64;
  compare_backends<bfloat16>(c, 1025, 2, s);
  CHECK_CUDA(cudaStreamDestroy(s));
}

// LSTM+GAC (kernels/gac_kernels.cuh): one tile and many, fp32 and bfloat16 state, every
// unit global; the averaged rows against the CPU's, tolerances as above.
TEST_F(CudaTest, GlobalUnitsMatchCpu) {
  OptimizerConfig c;
  c.gac = 4;
  for (std::size_t n : {1u, 255u, 257u, 100007u}) compare_backends(c, n, 3, nullptr);
  compare_backends<bfloat16>(c, 4099, 3, nullptr);
  c.hidden = 8;
  c.gac = 8;
  compare_backends(c, 1000, 3, nullptr);
}

TEST_F(CudaTest, NonFiniteGradientSkipsTheStepWithoutTouchingAnything) {
  const std::size_t n = 5000;
  LstmOptimizer gpu(Weights::initialise(OptimizerConfig{}, 2), Device::kCuda);
  Rng rng(3);
  DeviceBuffer<float> theta(n), grad(n), state(gpu.state_size(n));
  DeviceBuffer<int> found(1);
  theta.upload(std::vector<float>(n, 0.25f));
  gpu.reset_state(state.ptr, n);
  grad.upload(random_grads(n, rng));
  gpu.step(theta.ptr, grad.ptr, state.ptr, n);
  const std::vector<float> t0 = theta.download(), s0 = state.download();
  found.upload({0});
  std::vector<float> g = random_grads(n, rng);
  g[4321] = std::numeric_limits<float>::quiet_NaN();
  grad.upload(g);
  gpu.step(theta.ptr, grad.ptr, state.ptr, n, nullptr, found.ptr);
  EXPECT_TRUE(gpu.last_step_skipped());
  EXPECT_EQ(found.download()[0], 1);
  EXPECT_EQ(theta.download(), t0);
  EXPECT_EQ(state.download(), s0);
  g[4321] = 1.0f;
  grad.upload(g);
  gpu.step(theta.ptr, grad.ptr, state.ptr, n, nullptr, found.ptr);
  EXPECT_FALSE(gpu.last_step_skipped());
  EXPECT_EQ(found.download()[0], 1) << "the caller's flag is never cleared by l2o";
  EXPECT_NE(theta.download(), t0);
}
// Meta-gradients of the same unrolls on both backends. Both are fp32 sums over n T terms
// in different orders (per-thread packs on the CPU, cuBLAS GEMMs on the GPU) of values
// computed with slightly different exp/log: agreement to 1e-3 of the largest component
// plus 1e-2 relative, and losses to 1e-4 relative.
// Returns the largest absolute component of v.
float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

// starts > 1: start() again before unrolling (what a start leaves queued on the
// sessions' streams must not race with the next one's writes).
void compare_meta_gradients(const OptimizerConfig& cfg, ProblemFamily& family, int T, int unrolls,
                            int starts = 1) {
  const Weights phi = Weights::initialise(cfg, 5);
  auto fc = family.sample(77, Device::kCpu);
  auto fg = family.sample(77, Device::kCuda);
  SCOPED_TRACE(describe(cfg) + ", n = " + std::to_string(fc->size()));
  // An LSTM-sub phi (cfg.groups > 1) steps each of the optimizee's parameter groups.
  auto make = [&](Optimizee& f, Device d) {
    return cfg.groups > 1 ? Unroller(phi, f.groups(), T, d) : Unroller(phi, f.size(), T, d);
  };
  Unroller uc = make(*fc, Device::kCpu), ug = make(*fg, Device::kCuda);
  ASSERT_EQ(ug.device(), Device::kCuda);
  // Started as often on each: an MLP optimizee draws a new minibatch at every evaluation.
  for (int s = 0; s < starts; ++s) {
    const float l0c = uc.start(*fc), l0g = ug.start(*fg);
    EXPECT_NEAR(l0g, l0c, 1e-4 * std::fabs(l0c) + 1e-6);
  }
  for (int u = 0; u < unrolls; ++u) {
    std::vector<float> dc, dg;
    const std::vector<float> lc = uc.unroll(*fc, &dc), lg = ug.unroll(*fg, &dg);
    for (int t = 0; t < T; ++t) EXPECT_NEAR(lg[t], lc[t], 1e-4 * std::fabs(lc[t]) + 1e-6);
    ASSERT_EQ(dc.size(), dg.size());
    const float scale = max_abs(dc);
    int bad = 0;
    for (std::size_t e = 0; e < dc.size() && bad < 10; ++e)
      if (!(std::fabs(dg[e] - dc[e]) <= 1e-3f * scale + 1e-2f * std::fabs(dc[e]))) {
        ADD_FAILURE() << "unroll " << u << " dphi[" << e << "]: cuda " << dg[e] << ", cpu "
                      << dc[e];
        ++bad;
      }
  }
}

TEST_F(CudaTest, MetaGradientsMatchCpu) {
  OptimizerConfig quad;
  quad.preprocess = Preprocess::kNone;
  quad.output_scale = 1.0f;
  compare_meta_gradients(quad, *make_quadratic_family(QuadraticOptions{}), 20, 3);  // reference
  QuadraticOptions big;
  big.batch = 10007;
  compare_meta_gradients(OptimizerConfig{}, *make_quadratic_family(big), 5, 2);
}

// The unroll kernels for other structures: 1 and 3 layers with H = 4, 40 and 64, and
// 2 x 64 (phi of 69 KB to 201 KB from H = 40 up: the > 48 KB shared-memory path); one raw
// input (K = 1 + H rows in the first layer's reduction, not 2 + H).
TEST_F(CudaTest, MetaGradientsMatchCpuForOtherStructures) {
  QuadraticOptions qo;
  qo.batch = 301;  // n = 3010: not a multiple of a block
  auto family = make_quadratic_family(qo);
  for (int layers : {1, 3})
    for (int hidden : {4, 40, 64})
      for (Preprocess pre : {Preprocess::kLogSign, Preprocess::kNone}) {
        OptimizerConfig c;
        c.layers = layers;
        c.hidden = hidden;
        c.preprocess = pre;
        if (layers == 3 && hidden == 64) continue;  // 333 KB: more than a block may have
        compare_meta_gradients(c, *family, 6, 2);
      }
  OptimizerConfig wide;
  wide.hidden = 64;  // 2 x 64: 50,241 floats
  compare_meta_gradients(wide, *family, 6, 2);
}

// A small random image dataset (7 x 7 pixels, 10 classes).
std::shared_ptr<const Dataset> tiny_dataset(int count, std::uint64_t seed) {
  auto d = std::make_shared<Dataset>();
  d->rows = 7;
  d->cols = 7;
  Rng rng(seed);
  for (int i = 0; i < count; ++i) {
    d->labels.push_back(std::uint8_t(rng.below(10)));
    for (int f = 0; f < 49; ++f) d->images.push_back(float(rng.uniform()));
  }
  return d;
}

// MLP optimizees inside an Unroller, whose stream does not wait for the default stream:
// the same meta-gradients as on the CPU (tanh, the activation no other GPU test runs).
TEST_F(CudaTest, MlpUnrollOnTheUnrollersStreamMatchesCpu) {
  MlpOptions o;
  o.hidden = {13};
  o.activation = MlpOptions::Activation::kTanh;
  o.batch = 32;
  o.init_std = 0.3;
  auto family = make_mlp_family(o, tiny_dataset(500, 1), tiny_dataset(250, 2));
  compare_meta_gradients(OptimizerConfig{}, *family, 10, 2);
}

// LSTM+GAC meta-training (host/cuda/unroll.cu): the means of the global units' rows after
// every forward step and their transpose on the carry between the backward's steps, on a
// size that is not a multiple of a block; 2 of 20 units global and every unit global.
// LSTM-sub: each group's session on its own stream, the optimizee on the first's.
TEST_F(CudaTest, MetaGradientsWithGlobalUnitsAndGroupsMatchCpu) {
  QuadraticOptions qo;
  qo.batch = 301;  // n = 3010
  auto quadratics = make_quadratic_family(qo);
  OptimizerConfig gac;
  gac.gac = 2;
  compare_meta_gradients(gac, *quadratics, 8, 3);
  gac.hidden = 8;
  gac.gac = 8;
  compare_meta_gradients(gac, *quadratics, 8, 2);
  MlpOptions o;
  o.hidden = {13};
  o.batch = 32;
  o.init_std = 0.3;
  auto mlps = make_mlp_family(o, tiny_dataset(500, 1), tiny_dataset(250, 2));
  OptimizerConfig sub;
  sub.groups = 2;  // the hidden layer and the output layer
  compare_meta_gradients(sub, *mlps, 10, 2, 2);
  sub.gac = 4;  // both: each group's units averaged over its own coordinates
  compare_meta_gradients(sub, *mlps, 10, 2);
}

void CUDART_CB sleep_200ms(void*) {
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

// The test accuracy uses the optimizee's activation buffers, which loss_and_grad may still
// be using on another (non-blocking) stream: score() must wait for that work.
TEST_F(CudaTest, MlpScoreWaitsForWorkOnOtherStreams) {
  MlpOptions o;
  o.hidden = {13};
  o.batch = 32;
  o.init_std = 0.3;
  auto family = make_mlp_family(o, tiny_dataset(500, 1), tiny_dataset(250, 2));
  auto fg = family->sample(3, Device::kCuda), fc = family->sample(3, Device::kCpu);
  const std::size_t n = fg->size();
  std::vector<float> theta(n);
  fc->initial_theta(theta.data(), nullptr);
  DeviceBuffer<float> d_theta(n), d_grad(n), d_loss(1);
  d_theta.upload(theta);
  cudaStream_t s;
  CHECK_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  CHECK_CUDA(cudaLaunchHostFunc(s, sleep_200ms, nullptr));  // holds the stream back
  fg->loss_and_grad(d_theta.ptr, d_grad.ptr, d_loss.ptr, s);
  const double acc = fg->score(theta.data());
  EXPECT_EQ(cudaStreamQuery(s), cudaSuccess) << "score() returned before the stream's work";
  EXPECT_NEAR(acc, fc->score(theta.data()), 2.0 / 250);
  CHECK_CUDA(cudaStreamSynchronize(s));
  CHECK_CUDA(cudaStreamDestroy(s));
}

// A CUDA Graph replays exactly the kernels and products of the eager launches, so the
// results must be bit for bit the same: across optimizees (the graph is re-recorded and
// updated in place), with phi changing between unrolls, and with unrolls without the
// backward in between (a different graph).
TEST_F(CudaTest, CudaGraphUnrollsEqualEagerUnrolls) {
  const Weights phi0 = Weights::initialise(OptimizerConfig{}, 8);
  auto family = make_quadratic_family(QuadraticOptions{});
  const int T = 20;
  Unroller graph(phi0, 1280, T, Device::kCuda), eager(phi0, 1280, T, Device::kCuda);
  eager.set_cuda_graphs(false);
  ASSERT_TRUE(graph.cuda_graphs());
  Weights phi = phi0;
  for (std::uint64_t seed : {3u, 4u}) {
    auto fa = family->sample(seed, Device::kCuda), fb = family->sample(seed, Device::kCuda);
    ASSERT_TRUE(fa->graph_capturable());
    EXPECT_EQ(graph.start(*fa), eager.start(*fb));
    for (int u = 0; u < 4; ++u) {
      SCOPED_TRACE("optimizee " + std::to_string(seed) + ", unroll " + std::to_string(u));
      std::vector<float> dg, de;
      const bool with_backward = u != 2;
      const std::vector<float> lg = graph.unroll(*fa, with_backward ? &dg : nullptr);
      const std::vector<float> le = eager.unroll(*fb, with_backward ? &de : nullptr);
      ASSERT_EQ(lg, le);
      ASSERT_EQ(dg, de);
      if (with_backward) {
        for (std::size_t k = 0; k < phi.size(); ++k) phi.values()[k] -= 1e-3f * dg[k];
        graph.set_weights(phi);
        eager.set_weights(phi);
      }
    }
  }
}

// A graph holds the kernels' parameters by value: after set_weights with another
// configuration of the same structure (output scale, forget bias, p), the next unroll
// must record again, not replay the old parameters. Graph and eager stay bit for bit equal.
TEST_F(CudaTest, CudaGraphIsRecordedAgainAfterAConfigurationChange) {
  const Weights phi0 = Weights::initialise(OptimizerConfig{}, 8);
  auto family = make_quadratic_family(QuadraticOptions{});
  Unroller graph(phi0, 1280, 10, Device::kCuda), eager(phi0, 1280, 10, Device::kCuda);
  eager.set_cuda_graphs(false);
  auto fa = family->sample(6, Device::kCuda), fb = family->sample(6, Device::kCuda);
  EXPECT_EQ(graph.start(*fa), eager.start(*fb));
  OptimizerConfig other = phi0.config();
  other.output_scale = 0.35f;
  other.forget_bias = 0.5f;
  other.p = 7.0f;
  Weights phi1(other);
  phi1.values() = phi0.values();
  std::vector<float> after_change;
  for (int u = 0; u < 4; ++u) {
    SCOPED_TRACE("unroll " + std::to_string(u));
    if (u == 2) {
      graph.set_weights(phi1);
      eager.set_weights(phi1);
    }
    std::vector<float> dg, de;
    const std::vector<float> lg = graph.unroll(*fa, &dg), le = eager.unroll(*fb, &de);
    ASSERT_EQ(lg, le);
    ASSERT_EQ(dg, de);
    if (u == 2) after_change = le;
  }
  // The change did matter: the same third unroll with phi0's configuration differs.
  Unroller check(phi0, 1280, 10, Device::kCuda);
  auto fc = family->sample(6, Device::kCuda);
  check.start(*fc);
  check.unroll(*fc, nullptr);
  check.unroll(*fc, nullptr);
  EXPECT_NE(check.unroll(*fc, nullptr), after_change);
}

// The caller-driven session on the GPU, fed device gradients and losses by the caller's
// loop (here a CUDA optimizee evaluated into the caller's own buffers on the session's
// stream), computes what the GPU Unroller computes, bit for bit.
TEST_F(CudaTest, MetaSessionEqualsTheUnroller) {
  const Weights phi = Weights::initialise(OptimizerConfig{}, 9);
  auto family = make_quadratic_family(QuadraticOptions{});
  auto fa = family->sample(14, Device::kCuda), fb = family->sample(14, Device::kCuda);
  const std::size_t n = fa->size();
  const int T = 10;
  Unroller u(phi, n, T, Device::kCuda);
  MetaSession s(phi, n, T, Device::kCuda);
  DeviceBuffer<float> theta0(n), grad(n), loss(1);
  fb->initial_theta(theta0.ptr, s.stream());
  fb->loss_and_grad(theta0.ptr, grad.ptr, loss.ptr, s.stream());
  s.begin(theta0.ptr, grad.ptr, loss.ptr);
  u.start(*fa);
  for (int unroll = 0; unroll < 2; ++unroll) {
    for (int t = 0; t < T; ++t) {
      s.step();
      fb->loss_and_grad(s.theta(), grad.ptr, loss.ptr, s.stream());
      s.record(grad.ptr, loss.ptr);
    }
    std::vector<float> du, ds;
    const std::vector<float> ls = s.finish(&ds), lu = u.unroll(*fa, &du);
    ASSERT_EQ(lu, ls);
    ASSERT_EQ(du, ds);
  }
}

TEST_F(CudaTest, UnrollTimedMatchesUnrollAndTimesEveryPhase) {
  const Weights phi = Weights::initialise(OptimizerConfig{}, 8);
  auto family = make_quadratic_family(QuadraticOptions{});
  auto fa = family->sample(5, Device::kCuda), fb = family->sample(5, Device::kCuda);
  Unroller a(phi, 1280, 20, Device::kCuda), b(phi, 1280, 20, Device::kCuda);
  a.start(*fa);
  b.start(*fb);
  std::vector<float> da, db;
  UnrollTimes times;
  EXPECT_EQ(a.unroll(*fa, &da), b.unroll_timed(*fb, &db, &times));
  EXPECT_EQ(da, db);
  for (double ms : {times.optimizee_ms, times.forward_ms, times.backward_ms, times.reduction_ms})
    EXPECT_GT(ms, 0.0);
  EXPECT_GE(times.total_ms, times.forward_ms + times.backward_ms);
}

TEST_F(CudaTest, QuadraticMatchesCpu) {
  QuadraticOptions qo;
  qo.batch = 1001;
  qo.dims = 7;
  auto family = make_quadratic_family(qo);
  auto fc = family->sample(3, Device::kCpu);
  auto fg = family->sample(3, Device::kCuda);
  const std::size_t n = fc->size();
  std::vector<float> theta(n), grad(n);
  fc->initial_theta(theta.data(), nullptr);
  for (std::size_t i = 0; i < n; ++i) theta[i] += 0.1f * float(i % 13);
  float loss_c = 0;
  fc->loss_and_grad(theta.data(), grad.data(), &loss_c, nullptr);
  DeviceBuffer<float> d_theta(n), d_grad(n), d_loss(1);
  d_theta.upload(theta);
  fg->loss_and_grad(d_theta.ptr, d_grad.ptr, d_loss.ptr, nullptr);
  CHECK_CUDA(cudaDeviceSynchronize());
  EXPECT_NEAR(d_loss.download()[0], loss_c, 1e-5 * loss_c);
  const std::vector<float> g = d_grad.download();
  for (std::size_t i = 0; i < n; ++i)
    ASSERT_NEAR(g[i], grad[i], 1e-5 + 1e-4 * std::fabs(grad[i])) << i;
}

// A CPU optimizee fc and a CUDA one fg of the same family and seed, from theta: three
// minibatches of their stream (the same seed draws the same ones: a counter-based hash),
// theta moved by a gradient step after each, both alike. Losses and gradients agree to
// fp32 rounding of different summation orders (cuBLAS vs OpenBLAS): 1e-5 relative on the
// loss, 1e-4 of the largest gradient component plus 1e-3 relative per component. The test
// accuracies agree to two of 250 examples: a near-tie in the logits may round the other way.
void expect_backends_agree(Optimizee& fc, Optimizee& fg, std::vector<float> theta) {
  const std::size_t n = fc.size();
  ASSERT_EQ(fg.size(), n);
  ASSERT_EQ(theta.size(), n);
  std::vector<float> grad(n);
  DeviceBuffer<float> d_theta(n), d_grad(n), d_loss(1);
  d_theta.upload(theta);
  for (int call = 0; call < 3; ++call) {
    float loss = 0;
    fc.loss_and_grad(theta.data(), grad.data(), &loss, nullptr);
    fg.loss_and_grad(d_theta.ptr, d_grad.ptr, d_loss.ptr, nullptr);
    CHECK_CUDA(cudaDeviceSynchronize());
    EXPECT_NEAR(d_loss.download()[0], loss, 1e-5 * loss);
    const std::vector<float> g = d_grad.download();
    float scale = 0;
    for (float v : grad) scale = std::max(scale, std::fabs(v));
    ASSERT_GT(scale, 0.0f);
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_NEAR(g[i], grad[i], 1e-4 * scale + 1e-3 * std::fabs(grad[i]))
          << "call " << call << " parameter " << i;
    for (std::size_t i = 0; i < n; ++i) theta[i] -= 0.5f * grad[i];
    d_theta.upload(theta);
  }
  EXPECT_NEAR(fg.score(theta.data()), fc.score(theta.data()), 2.0 / 250);
}

// The MLP optimizee on both backends (expect_backends_agree).
TEST_F(CudaTest, MlpMatchesCpu) {
  for (auto act : {MlpOptions::Activation::kSigmoid, MlpOptions::Activation::kRelu}) {
    MlpOptions o;
    o.hidden = {13, 7};
    o.activation = act;
    o.batch = 33;
    o.init_std = 0.3;
    auto family = make_mlp_family(o, tiny_dataset(500, 1), tiny_dataset(250, 2));
    auto fc = family->sample(9, Device::kCpu);
    auto fg = family->sample(9, Device::kCuda);
    std::vector<float> theta(fc->size());
    fc->initial_theta(theta.data(), nullptr);
    expect_backends_agree(*fc, *fg, theta);
  }
}

// The CNN optimizee on both backends (expect_backends_agree; on the GPU the adjoint of
// im2col is gathered, on the CPU scattered, in the same order). 7 x 7 images (7 -> 4 -> 2 -> 1: odd
// sizes, every padding case), one to three convolutions, each activation; a batch of 33 and 250
// test images (the score's chunks of 500 hold them all, so the chunking is the same on both).
TEST_F(CudaTest, CnnMatchesCpu) {
  struct Case {
    std::vector<int> channels;
    MlpOptions::Activation act;
  };
  for (const Case& c :
       {Case{{3, 5}, MlpOptions::Activation::kRelu}, Case{{4}, MlpOptions::Activation::kSigmoid},
        Case{{2, 3, 4}, MlpOptions::Activation::kTanh}}) {
    SCOPED_TRACE(std::to_string(c.channels.size()) + " convolutions");
    CnnOptions o;
    o.channels = c.channels;
    o.activation = c.act;
    o.batch = 33;
    auto family = make_cnn_family(o, tiny_dataset(500, 1), tiny_dataset(250, 2));
    auto fc = family->sample(9, Device::kCpu);
    auto fg = family->sample(9, Device::kCuda);
    ASSERT_EQ(fg->device(), Device::kCuda);
    ASSERT_EQ(fg->size(), fc->size());
    EXPECT_EQ(fg->groups(), fc->groups());
    const std::size_t n = fc->size();
    std::vector<float> theta(n);
    fc->initial_theta(theta.data(), nullptr);
    DeviceBuffer<float> d_theta(n);
    fg->initial_theta(d_theta.ptr, nullptr);
    CHECK_CUDA(cudaDeviceSynchronize());
    EXPECT_EQ(d_theta.download(), theta) << "the same seed draws the same initial point";
    expect_backends_agree(*fc, *fg, theta);
  }
}

#else
TEST_F(CudaTest, BuiltWithoutCuda) {
  GTEST_SKIP() << "l2o was built without the CUDA backend";
}
#endif

}  // namespace
}  // namespace l2o
