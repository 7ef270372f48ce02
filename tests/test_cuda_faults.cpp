// The CUDA backend where it is easiest to get wrong: non-finite gradients at the far end
// of large inputs, steps on two streams at once, several optimizers sharing one kernel,
// phi too large for shared memory, indices past 2^31, and the baselines against the CPU.
// Skipped, visibly, where no CUDA device is usable.
#include "cuda_test_util.hpp"
#include "l2o/baselines.hpp"
#include "l2o/bfloat16.hpp"
#include "l2o/error.hpp"
#include "l2o/meta.hpp"
#include "l2o/optimizer.hpp"
#include "l2o/problem.hpp"
#include "maths/coordinate.hpp"
#include "maths/random.hpp"
#include "random_inputs.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace l2o {
namespace {

using test_cuda::CudaTest;

#if L2O_WITH_CUDA
using test_cuda::DeviceBuffer;
using test_inputs::random_grads;

// Owning non-blocking stream for a test.
struct TestStream {
  cudaStream_t s = nullptr;
  TestStream() {
    if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess)
      throw Error("cudaStreamCreateWithFlags failed in a test");
  }
  ~TestStream() { cudaStreamDestroy(s); }
};

constexpr float kNonFinite[] = {std::numeric_limits<float>::quiet_NaN(),
                                std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity()};

// n beyond one pass of the check kernels' grid-stride loops (4 or 8 blocks of 256 per
// multiprocessor: 270,336 on a 132-SM H100/H200), and odd.
constexpr std::size_t kLongN = (std::size_t(1) << 20) + 5;

// A non-finite value in the last coordinate, far past the check kernel's first pass:
// NaN, +Inf and -Inf each skip the whole step (theta and state unchanged, bit for bit)
// with fp32 and bfloat16 state, and set the caller's flag.
template <class S>
void check_nonfinite_at_the_end(std::size_t n) {
  LstmOptimizer gpu(Weights::initialise(OptimizerConfig{}, 4), Device::kCuda);
  Rng rng(n);
  DeviceBuffer<float> theta(n), grad(n);
  DeviceBuffer<S> state(gpu.state_size(n));
  DeviceBuffer<int> found(1);
  theta.upload(std::vector<float>(n, -0.5f));
  gpu.reset_state(state.ptr, n);
  std::vector<float> g = random_grads(n, rng);
  grad.upload(g);
  gpu.step(theta.ptr, grad.ptr, state.ptr, n);  // a non-zero state to keep
  const std::vector<float> t0 = theta.download();
  const std::vector<S> s0 = state.download();
  for (float bad : kNonFinite) {
    SCOPED_TRACE("gradient " + std::to_string(bad) + " at coordinate " + std::to_string(n - 1));
    found.upload({0});
    g[n - 1] = bad;
    grad.upload(g);
    gpu.step(theta.ptr, grad.ptr, state.ptr, n, nullptr, found.ptr);
    EXPECT_TRUE(gpu.last_step_skipped());
    EXPECT_EQ(found.download()[0], 1);
    EXPECT_TRUE(theta.download() == t0);
    const std::vector<S> s1 = state.download();
    EXPECT_EQ(0, std::memcmp(s1.data(), s0.data(), s0.size() * sizeof(S)));
  }
}

TEST_F(CudaTest, NonFiniteAtTheEndOfALongGradientSkipsTheStep) {
  check_nonfinite_at_the_end<float>(kLongN);
  check_nonfinite_at_the_end<bfloat16>(kLongN);
}

// Baselines on both backends, from the same start. Tolerance: both compute the same fp32
// formulas, but nvcc contracts multiply-adds into FMAs where the CPU build may not (and
// its sqrt and division round a little differently): a few ulps a step. theta: 1e-6 +
// 1e-5 |theta| after 5 steps. State: momentum-like sums of signed gradients can cancel, so
// one different rounding is large relative to the sum but not to the gradients that made
// it: 1e-6 max |g_i| + 1e-5 |s| per coordinate.
TEST_F(CudaTest, BaselinesMatchCpu) {
  for (BaselineKind k :
       {BaselineKind::kSgd, BaselineKind::kRmsprop, BaselineKind::kAdam, BaselineKind::kNag})
    for (std::size_t n : {std::size_t(1), std::size_t(17), std::size_t(4099), kLongN}) {
      SCOPED_TRACE(to_string(k) + ", n = " + std::to_string(n));
      BaselineConfig c;
      c.kind = k;
      c.lr = 0.01f;
      BaselineOptimizer cpu(c, Device::kCpu), gpu(c, Device::kCuda);
      TestStream stream;
      Rng rng(n + 1);
      std::vector<float> theta(n), state(cpu.state_size(n)), gmax(n, 0.0f);
      for (auto& t : theta) t = float(rng.normal());
      DeviceBuffer<float> d_theta(n), d_grad(n), d_state(std::max<std::size_t>(1, state.size()));
      d_theta.upload(theta);
      cpu.reset_state(state.data(), n);
      gpu.reset_state(d_state.ptr, n, stream.s);
      for (int t = 0; t < 5; ++t) {
        const std::vector<float> g = random_grads(n, rng);
        for (std::size_t i = 0; i < n; ++i) gmax[i] = std::max(gmax[i], std::fabs(g[i]));
        d_grad.upload(g);
        cpu.step(theta.data(), g.data(), state.data(), n);
        gpu.step(d_theta.ptr, d_grad.ptr, d_state.ptr, n, stream.s);
        CHECK_CUDA(cudaStreamSynchronize(stream.s));
      }
      const std::vector<float> gt = d_theta.download();
      int bad = 0;
      for (std::size_t i = 0; i < n && bad < 10; ++i)
        if (!(std::fabs(gt[i] - theta[i]) <= 1e-6 + 1e-5 * std::fabs(theta[i]))) {
          ADD_FAILURE() << "theta[" << i << "]: cuda " << gt[i] << ", cpu " << theta[i];
          ++bad;
        }
      if (!state.empty()) {
        const std::vector<float> gs = d_state.download(0, state.size());
        for (std::size_t k = 0; k < state.size() && bad < 10; ++k) {
          // Rows of coordinate k mod n: NAG's momentum, RMSprop's mean square, Adam's m then v.
          const float g = gmax[k % n];
          const bool squares = k >= n || c.kind == BaselineKind::kRmsprop;
          const float scale = squares ? g * g : g;
          if (!(std::fabs(gs[k] - state[k]) <= 1e-6 * scale + 1e-5 * std::fabs(state[k]))) {
            ADD_FAILURE() << "state[" << k << "]: cuda " << gs[k] << ", cpu " << state[k];
            ++bad;
          }
        }
      }
    }
}

TEST_F(CudaTest, BaselinesSkipNonFiniteGradientsAtTheEnd) {
  for (BaselineKind k : {BaselineKind::kSgd, BaselineKind::kAdam, BaselineKind::kNag}) {
    BaselineConfig c;
    c.kind = k;
    BaselineOptimizer gpu(c, Device::kCuda);
    const std::size_t n = kLongN;
    Rng rng(7);
    DeviceBuffer<float> theta(n), grad(n), state(std::max<std::size_t>(1, gpu.state_size(n)));
    DeviceBuffer<int> found(1);
    theta.upload(std::vector<float>(n, 2.0f));
    gpu.reset_state(state.ptr, n);
    std::vector<float> g = random_grads(n, rng);
    grad.upload(g);
    gpu.step(theta.ptr, grad.ptr, state.ptr, n);
    const std::vector<float> t0 = theta.download(), s0 = state.download();
    for (float bad : kNonFinite) {
      SCOPED_TRACE(to_string(k) + ", gradient " + std::to_string(bad));
      found.upload({0});
      g[n - 1] = bad;
      grad.upload(g);
      gpu.step(theta.ptr, grad.ptr, state.ptr, n, nullptr, found.ptr);
      EXPECT_EQ(found.download()[0], 1);
      EXPECT_TRUE(theta.download() == t0);
      EXPECT_TRUE(state.download() == s0);
    }
  }
}

// One optimizer object stepping two optimizees on two streams at once, one of them with a
// NaN in every gradient: that one must never move (a flag shared by the streams could be
// cleared by the other stream between check and step), and the other must compute exactly
// what it computes alone.
template <class Opt>
void check_two_streams(Opt& opt, std::size_t n, int steps) {
  TestStream a, b;
  Rng rng(11);
  std::vector<std::vector<float>> grads;
  for (int t = 0; t < steps; ++t) grads.push_back(random_grads(n, rng));
  std::vector<float> nan_grad = random_grads(n, rng);
  nan_grad[n / 2] = std::numeric_limits<float>::quiet_NaN();
  const std::size_t sn = std::max<std::size_t>(1, opt.state_size(n));
  DeviceBuffer<float> theta_a(n), theta_b(n), theta_solo(n), state_a(sn), state_b(sn),
      state_solo(sn), g_bad(n);
  std::vector<std::unique_ptr<DeviceBuffer<float>>> g_ok;
  for (const auto& g : grads) {
    g_ok.push_back(std::make_unique<DeviceBuffer<float>>(n));
    g_ok.back()->upload(g);
  }
  g_bad.upload(nan_grad);
  const std::vector<float> start(n, 0.75f);
  for (auto* t : {&theta_a, &theta_b, &theta_solo}) t->upload(start);
  opt.reset_state(state_a.ptr, n, nullptr);
  opt.reset_state(state_b.ptr, n, nullptr);
  opt.reset_state(state_solo.ptr, n, nullptr);
  // A non-zero state on b first, so that "unchanged" means something.
  opt.step(theta_b.ptr, g_ok[0]->ptr, state_b.ptr, n, nullptr);
  CHECK_CUDA(cudaDeviceSynchronize());
  const std::vector<float> tb0 = theta_b.download(), sb0 = state_b.download();
  DeviceBuffer<int> found_a(1), found_b(1);
  found_a.upload({0});
  found_b.upload({0});
  for (int t = 0; t < steps; ++t) {  // no synchronisation: the streams overlap
    opt.step(theta_a.ptr, g_ok[t]->ptr, state_a.ptr, n, a.s, found_a.ptr);
    opt.step(theta_b.ptr, g_bad.ptr, state_b.ptr, n, b.s, found_b.ptr);
  }
  CHECK_CUDA(cudaDeviceSynchronize());
  for (int t = 0; t < steps; ++t) opt.step(theta_solo.ptr, g_ok[t]->ptr, state_solo.ptr, n, a.s);
  CHECK_CUDA(cudaDeviceSynchronize());
  EXPECT_EQ(found_a.download()[0], 0);
  EXPECT_EQ(found_b.download()[0], 1);
  EXPECT_TRUE(theta_b.download() == tb0) << "a NaN step went through on the second stream";
  EXPECT_TRUE(state_b.download() == sb0);
  EXPECT_TRUE(theta_a.download() == theta_solo.download());
  EXPECT_TRUE(state_a.download() == state_solo.download());
}

// n = 2^16 + 1: long enough kernels (tens of microseconds) that the two streams' queues
// overlap on the device, 50 steps of each.
TEST_F(CudaTest, StepsOnTwoStreamsAtOnceKeepTheirOwnNonFiniteCheck) {
  LstmOptimizer lstm(Weights::initialise(OptimizerConfig{}, 12), Device::kCuda);
  check_two_streams(lstm, (1 << 16) + 1, 50);
  // NAG: Adam's step count (bias correction) is one per object, so one Adam object cannot
  // serve two optimizees; NAG keeps all its state per coordinate.
  BaselineConfig c;
  c.kind = BaselineKind::kNag;
  BaselineOptimizer nag(c, Device::kCuda);
  check_two_streams(nag, (1 << 16) + 1, 50);
}

// Steps from several host threads on each thread's own default stream
// (cudaStreamPerThread: one handle, a different stream in every thread), one thread's
// gradients all NaN: that thread's optimizee never moves, the others' do.
TEST_F(CudaTest, StepsFromSeveralThreadsOnTheirPerThreadStreams) {
  LstmOptimizer gpu(Weights::initialise(OptimizerConfig{}, 21), Device::kCuda);
  const std::size_t n = (1 << 16) + 3;
  Rng rng(4);
  std::vector<float> finite = random_grads(n, rng), nan_grad = finite;
  nan_grad[0] = std::numeric_limits<float>::quiet_NaN();
  const int threads = 4;
  std::vector<std::unique_ptr<DeviceBuffer<float>>> theta, grad, state;
  for (int k = 0; k < threads; ++k) {
    theta.push_back(std::make_unique<DeviceBuffer<float>>(n));
    grad.push_back(std::make_unique<DeviceBuffer<float>>(n));
    state.push_back(std::make_unique<DeviceBuffer<float>>(gpu.state_size(n)));
    theta[k]->upload(std::vector<float>(n, 1.0f));
    grad[k]->upload(k == 0 ? nan_grad : finite);
    gpu.reset_state(state[k]->ptr, n);
  }
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<std::thread> pool;
  for (int k = 0; k < threads; ++k)
    pool.emplace_back([&, k] {
      for (int t = 0; t < 30; ++t)
        gpu.step(theta[k]->ptr, grad[k]->ptr, state[k]->ptr, n, cudaStreamPerThread);
      cudaStreamSynchronize(cudaStreamPerThread);
    });
  for (auto& t : pool) t.join();
  CHECK_CUDA(cudaDeviceSynchronize());
  EXPECT_TRUE(theta[0]->download() == std::vector<float>(n, 1.0f));
  EXPECT_TRUE(state[0]->download() == std::vector<float>(gpu.state_size(n), 0.0f));
  const std::vector<float> t1 = theta[1]->download();
  EXPECT_NE(t1, std::vector<float>(n, 1.0f));
  for (int k = 2; k < threads; ++k) EXPECT_TRUE(theta[k]->download() == t1) << "thread " << k;
}

// set_weights returns with the new phi on the device: a step right after it, on a stream
// that does not wait for the default stream, uses the new phi.
TEST_F(CudaTest, SetWeightsIsCompleteOnReturn) {
  const Weights phi1 = Weights::initialise(OptimizerConfig{}, 31),
                phi2 = Weights::initialise(OptimizerConfig{}, 32);
  LstmOptimizer gpu(phi1, Device::kCuda), cpu(phi2, Device::kCpu);
  TestStream stream;
  const std::size_t n = 4097;
  Rng rng(8);
  const std::vector<float> g = random_grads(n, rng);
  std::vector<float> theta(n, 0.0f), state(cpu.state_size(n), 0.0f);
  DeviceBuffer<float> d_theta(n), d_grad(n), d_state(state.size());
  d_theta.upload(theta);
  d_grad.upload(g);
  gpu.reset_state(d_state.ptr, n, stream.s);
  CHECK_CUDA(cudaStreamSynchronize(stream.s));
  gpu.set_weights(phi2);
  gpu.step(d_theta.ptr, d_grad.ptr, d_state.ptr, n, stream.s);
  cpu.step(theta.data(), g.data(), state.data(), n);
  CHECK_CUDA(cudaStreamSynchronize(stream.s));
  const std::vector<float> gt = d_theta.download();
  for (std::size_t i = 0; i < n; ++i)
    ASSERT_NEAR(gt[i], theta[i], 2e-5 + 1e-4 * std::fabs(theta[i])) << i;
}

// Two live optimizers with the same hidden size (one kernel instantiation) and phi of
// different sizes, both above the default 48 KB of shared memory: creating the second,
// smaller one must not lower the kernel's limit below what the first needs.
TEST_F(CudaTest, TwoOptimizersWithTheSameKernelAndDifferentPhiSizes) {
  OptimizerConfig big, small;
  big.hidden = small.hidden = 40;
  big.layers = 3;    // 32,841 floats: 131 KB
  small.layers = 2;  // 19,881 floats: 80 KB
  const Weights phi_big = Weights::initialise(big, 1), phi_small = Weights::initialise(small, 2);
  LstmOptimizer gpu_big(phi_big, Device::kCuda);
  LstmOptimizer gpu_small(phi_small, Device::kCuda);  // after the big one
  LstmOptimizer cpu_big(phi_big, Device::kCpu);
  const std::size_t n = 2049;
  Rng rng(5);
  const std::vector<float> g = random_grads(n, rng);
  std::vector<float> theta(n, 0.1f), state(cpu_big.state_size(n), 0.0f);
  DeviceBuffer<float> d_theta(n), d_grad(n), d_state(state.size());
  d_theta.upload(theta);
  d_grad.upload(g);
  gpu_big.reset_state(d_state.ptr, n);
  ASSERT_NO_THROW(gpu_big.step(d_theta.ptr, d_grad.ptr, d_state.ptr, n));
  CHECK_CUDA(cudaDeviceSynchronize());
  cpu_big.step(theta.data(), g.data(), state.data(), n);
  const std::vector<float> gt = d_theta.download();
  for (std::size_t i = 0; i < n; ++i)
    ASSERT_NEAR(gt[i], theta[i], 2e-5 + 1e-4 * std::fabs(theta[i])) << i;
}

// phi larger than the shared memory a block may have: refused with both sizes named.
TEST_F(CudaTest, PhiTooLargeForSharedMemoryIsRefusedWithTheSizes) {
  OptimizerConfig c;
  c.hidden = 64;
  c.layers = 3;  // 83,265 floats: 333 KB
  try {
    LstmOptimizer gpu(Weights::initialise(c, 1), Device::kCuda);
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("phi needs 333060 bytes"), std::string::npos) << what;
    EXPECT_NE(what.find("the device allows"), std::string::npos) << what;
  }
}

TEST_F(CudaTest, UnrollerRefusesWhatItCannotHold) {
  const Weights phi = Weights::initialise(OptimizerConfig{}, 1);
  // More coordinates than cuBLAS's 32-bit dimensions: refused before the tape is allocated
  // (which would fail too, at 168 GiB, so the message is what tells).
  const std::size_t too_many = std::size_t(std::numeric_limits<int>::max()) + 1;
  try {
    Unroller u(phi, too_many, 20, Device::kCuda);
    ADD_FAILURE() << "accepted " << too_many << " coordinates";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("coordinates, at most 2147483647"), std::string::npos)
        << e.what();
  }
  // phi of another structure: refused (the tape and buffers are sized for the first).
  Unroller u(phi, 1000, 5, Device::kCuda);
  OptimizerConfig wider;
  wider.hidden = 40;
  EXPECT_THROW(u.set_weights(Weights::initialise(wider, 1)), Error);
  OptimizerConfig raw;
  raw.preprocess = Preprocess::kNone;
  EXPECT_THROW(u.set_weights(Weights::initialise(raw, 1)), Error);
}

// Indices past 2^31: n = 2^25 coordinates with the default configuration hold 80 n =
// 2.7e9 state values (10.7 GB). Coordinates are independent, so the last ones must equal
// a CPU step of just those coordinates (tolerance as in test_cuda.cpp's compare_backends).
TEST_F(CudaTest, StepIndexesPast2To31StateValues) {
  const std::size_t n = std::size_t(1) << 25, tail = 1000;
  LstmOptimizer gpu(Weights::initialise(OptimizerConfig{}, 3), Device::kCuda);
  const std::size_t sd = gpu.state_size(1);
  ASSERT_GT(sd * n, std::size_t(1) << 31);
  std::size_t free_bytes = 0, total = 0;
  CHECK_CUDA(cudaMemGetInfo(&free_bytes, &total));
  if (free_bytes < (sd + 3) * n * sizeof(float))
    GTEST_SKIP() << "needs " << (sd + 3) * n * sizeof(float) << " bytes of device memory, "
                 << free_bytes << " free";
  std::vector<float> g(n);
  for (std::size_t i = 0; i < n; ++i)  // cheap, deterministic, both signs and magnitudes
    g[i] = float((std::int64_t((i * 2654435761u) % 2001) - 1000)) * 1e-3f;
  DeviceBuffer<float> theta(n), grad(n), state(sd * n);
  theta.upload(std::vector<float>(n, 0.0f));
  grad.upload(g);
  gpu.reset_state(state.ptr, n);
  for (int t = 0; t < 2; ++t) gpu.step(theta.ptr, grad.ptr, state.ptr, n);
  CHECK_CUDA(cudaDeviceSynchronize());

  LstmOptimizer cpu(Weights::initialise(OptimizerConfig{}, 3), Device::kCpu);
  std::vector<float> t_cpu(tail, 0.0f), s_cpu(sd * tail, 0.0f);
  const std::vector<float> g_tail(g.end() - tail, g.end());
  for (int t = 0; t < 2; ++t) cpu.step(t_cpu.data(), g_tail.data(), s_cpu.data(), tail);

  const std::vector<float> t_gpu = theta.download(n - tail, tail);
  for (std::size_t i = 0; i < tail; ++i)
    ASSERT_NEAR(t_gpu[i], t_cpu[i], 2e-5 + 1e-4 * std::fabs(t_cpu[i]))
        << "theta[n - " << tail - i << "]";
  for (std::size_t k = 0; k < sd; ++k) {  // row k of the state: offset k n, past 2^31 for k >= 64
    const std::vector<float> row = state.download(k * n + (n - tail), tail);
    for (std::size_t i = 0; i < tail; ++i)
      ASSERT_NEAR(row[i], s_cpu[k * tail + i], 5e-5)
          << "state row " << k << ", coordinate n - " << tail - i;
  }
}
#else
TEST_F(CudaTest, FaultTestsBuiltWithoutCuda) {
  GTEST_SKIP() << "l2o was built without the CUDA backend";
}
#endif

}  // namespace
}  // namespace l2o
