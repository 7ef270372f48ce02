// The multi-tensor steps against the single-tensor steps (bit for bit: every coordinate
// runs the same code whatever the chunking), the whole-list non-finite rule, refusals;
// and on CUDA (skipped, visibly, without a device) the same against the CPU.
#include "cuda_test_util.hpp"
#include "l2o/baselines.hpp"
#include "l2o/bfloat16.hpp"
#include "l2o/error.hpp"
#include "l2o/optimizer.hpp"
#include "l2o/segment.hpp"
#include "maths/coordinate.hpp"
#include "maths/random.hpp"
#include "random_inputs.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace l2o {
namespace {

using test_inputs::random_grads;

// Random tensor sizes: 0, 1, odd, unaligned, a few larger than a CPU chunk (1,024).
std::vector<std::size_t> random_sizes(Rng& rng, int count) {
  std::vector<std::size_t> n(count);
  for (auto& v : n) {
    const double u = rng.uniform();
    v = u < 0.1 ? 0 : u < 0.2 ? 1 : u < 0.9 ? 1 + rng.below(300) : 1000 + rng.below(3000);
  }
  return n;
}

// The tensors of one model: parameters, gradients, state (S) of each.
template <class S>
struct Model {
  std::vector<std::vector<float>> theta, grad;
  std::vector<std::vector<S>> state;
  Model(const std::vector<std::size_t>& sizes, std::size_t state_dim, Rng& rng) {
    for (std::size_t n : sizes) {
      theta.emplace_back(n);
      for (auto& t : theta.back()) t = float(rng.normal());
      grad.push_back(random_grads(n, rng));
      state.emplace_back(state_dim * n, S{});
    }
  }
  std::vector<Segment<S>> segments() {
    std::vector<Segment<S>> s;
    for (std::size_t k = 0; k < theta.size(); ++k)
      s.push_back({theta[k].data(), grad[k].data(), state[k].data(), theta[k].size()});
    return s;
  }
};

template <class S>
bool same_bits(const std::vector<std::vector<S>>& a, const std::vector<std::vector<S>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k)
    if (a[k].size() != b[k].size() ||
        (!a[k].empty() && std::memcmp(a[k].data(), b[k].data(), a[k].size() * sizeof(S)) != 0))
      return false;
  return true;
}

template <class S>
void check_lstm_multi_equals_single(const OptimizerConfig& cfg, int count, std::uint64_t seed) {
  SCOPED_TRACE(describe(cfg) + ", " + std::to_string(count) + " tensors, seed " +
               std::to_string(seed));
  LstmOptimizer opt(Weights::initialise(cfg, seed), Device::kCpu);
  Rng rng(seed);
  const std::vector<std::size_t> sizes = random_sizes(rng, count);
  Rng ra(seed + 1), rb(seed + 1);
  Model<S> multi(sizes, cfg.state_dim(), ra), single(sizes, cfg.state_dim(), rb);
  for (int step = 0; step < 3; ++step) {
    for (std::size_t k = 0; k < sizes.size(); ++k) {  // new gradients, same in both
      multi.grad[k] = random_grads(sizes[k], ra);
      single.grad[k] = multi.grad[k];
    }
    const auto segs = multi.segments();
    opt.step(segs.data(), segs.size());
    for (std::size_t k = 0; k < sizes.size(); ++k)
      opt.step(single.theta[k].data(), single.grad[k].data(), single.state[k].data(), sizes[k]);
  }
  EXPECT_TRUE(same_bits(multi.theta, single.theta));
  EXPECT_TRUE(same_bits(multi.state, single.state));
}

TEST(MultiTensor, LstmStepEqualsOneStepPerTensorBitForBit) {
  for (int count : {0, 1, 2, 7, 200})
    check_lstm_multi_equals_single<float>(OptimizerConfig{}, count, 10 + count);
  OptimizerConfig small;
  small.hidden = 8;
  small.layers = 3;
  small.preprocess = Preprocess::kNone;
  check_lstm_multi_equals_single<float>(small, 33, 5);
  check_lstm_multi_equals_single<bfloat16>(OptimizerConfig{}, 50, 6);
}

// Any non-finite gradient in any tensor skips every tensor: all of theta and the state
// stay bit for bit, the caller's flag is set; the next finite list steps again.
TEST(MultiTensor, NonFiniteGradientInOneTensorSkipsThemAll) {
  LstmOptimizer opt(Weights::initialise(OptimizerConfig{}, 3), Device::kCpu);
  Rng rng(3);
  std::vector<std::size_t> sizes = random_sizes(rng, 40);
  sizes.push_back(2049);
  Model<float> m(sizes, OptimizerConfig{}.state_dim(), rng);
  auto segs = m.segments();
  opt.step(segs.data(), segs.size());  // a non-zero state to keep
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    const auto theta0 = m.theta;
    const auto state0 = m.state;
    m.grad.back()[2048] = bad;
    int found = 0;
    opt.step(segs.data(), segs.size(), nullptr, &found);
    EXPECT_EQ(found, 1);
    EXPECT_TRUE(opt.last_step_skipped());
    EXPECT_TRUE(same_bits(m.theta, theta0));
    EXPECT_TRUE(same_bits(m.state, state0));
  }
  m.grad.back()[2048] = 0.5f;
  opt.step(segs.data(), segs.size());
  EXPECT_FALSE(opt.last_step_skipped());
}

TEST(MultiTensor, BaselineStepEqualsOneStepPerTensor) {
  for (BaselineKind k :
       {BaselineKind::kSgd, BaselineKind::kRmsprop, BaselineKind::kAdam, BaselineKind::kNag}) {
    SCOPED_TRACE(to_string(k));
    BaselineConfig c;
    c.kind = k;
    c.lr = 0.01f;
    Rng rng(7);
    const std::vector<std::size_t> sizes = random_sizes(rng, 60);
    Rng ra(8), rb(8);
    Model<float> multi(sizes, c.state_dim(), ra), single(sizes, c.state_dim(), rb);
    BaselineOptimizer one(c, Device::kCpu);
    std::vector<BaselineOptimizer> per_tensor;  // Adam counts steps per object
    for (std::size_t t = 0; t < sizes.size(); ++t) per_tensor.emplace_back(c, Device::kCpu);
    for (int step = 0; step < 4; ++step) {
      for (std::size_t t = 0; t < sizes.size(); ++t) {
        multi.grad[t] = random_grads(sizes[t], ra);
        single.grad[t] = multi.grad[t];
      }
      const auto segs = multi.segments();
      one.step(segs.data(), segs.size());
      for (std::size_t t = 0; t < sizes.size(); ++t)
        per_tensor[t].step(single.theta[t].data(), single.grad[t].data(), single.state[t].data(),
                           sizes[t]);
    }
    EXPECT_TRUE(same_bits(multi.theta, single.theta));
    EXPECT_TRUE(same_bits(multi.state, single.state));
    // And the list rule: a NaN in one tensor leaves every tensor alone.
    const auto theta0 = multi.theta;
    multi.grad[sizes.size() / 2].assign(sizes[sizes.size() / 2],
                                        std::numeric_limits<float>::quiet_NaN());
    int found = 0;
    const auto segs = multi.segments();
    one.step(segs.data(), segs.size(), nullptr, &found);
    if (sizes[sizes.size() / 2] > 0) {
      EXPECT_EQ(found, 1);
      EXPECT_TRUE(same_bits(multi.theta, theta0));
    }
  }
}

TEST(MultiTensor, NullPointersAreRefusedNamingTheTensor) {
  LstmOptimizer opt(Weights::initialise(OptimizerConfig{}, 1), Device::kCpu);
  std::vector<float> theta(4), grad(4, 1.0f), state(opt.state_size(4));
  std::vector<Segment<float>> segs = {{theta.data(), grad.data(), state.data(), 4},
                                      {nullptr, nullptr, nullptr, 0},  // empty: fine
                                      {theta.data(), nullptr, state.data(), 4}};
  try {
    opt.step(segs.data(), segs.size());
    FAIL() << "a null gradient was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 2 of 3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(theta, std::vector<float>(4, 0.0f)) << "nothing may change before the refusal";
  EXPECT_THROW(opt.step(static_cast<const Segment<float>*>(nullptr), 2), Error);
  opt.step(static_cast<const Segment<float>*>(nullptr), 0);  // no tensors: a no-op
  BaselineConfig c;
  BaselineOptimizer adam(c, Device::kCpu);
  std::vector<float> s2(adam.state_size(4));
  std::vector<Segment<float>> bsegs = {{theta.data(), grad.data(), nullptr, 4}};
  EXPECT_THROW(adam.step(bsegs.data(), bsegs.size()), Error);
}

using test_cuda::CudaTest;

#if L2O_WITH_CUDA
using test_cuda::DeviceBuffer;

// Device copies of a model's tensors.
template <class S>
struct DeviceModel {
  std::vector<std::unique_ptr<DeviceBuffer<float>>> theta, grad;
  std::vector<std::unique_ptr<DeviceBuffer<S>>> state;
  explicit DeviceModel(const Model<S>& m) {
    for (std::size_t k = 0; k < m.theta.size(); ++k) {
      theta.push_back(std::make_unique<DeviceBuffer<float>>(m.theta[k].size()));
      grad.push_back(std::make_unique<DeviceBuffer<float>>(m.grad[k].size()));
      state.push_back(std::make_unique<DeviceBuffer<S>>(m.state[k].size()));
      theta[k]->upload(m.theta[k]);
      grad[k]->upload(m.grad[k]);
      state[k]->upload(m.state[k]);
    }
  }
  std::vector<Segment<S>> segments() {
    std::vector<Segment<S>> s;
    for (std::size_t k = 0; k < theta.size(); ++k)
      s.push_back({theta[k]->ptr, grad[k]->ptr, state[k]->ptr, theta[k]->n});
    return s;
  }
};

// Whether a (GPU) and b (CPU) agree within the tolerances of tests/test_cuda.cpp's
// compare_backends: theta 2e-5 + 1e-4 |theta| (fp32 state) or 1e-4 + 1e-3 |theta| (bf16),
// state 5e-5 (fp32) or 1e-4 + 2^-6 |s| (bf16: a few bf16 ulps after a rounding flip).
template <class S>
void expect_close(const std::vector<float>& ta, const std::vector<float>& tb,
                  const std::vector<S>& sa, const std::vector<S>& sb, const std::string& what) {
  constexpr bool bf16 = std::is_same<S, bfloat16>::value;
  auto f = [](const auto& v) {
    if constexpr (std::is_same<std::decay_t<decltype(v)>, bfloat16>::value)
      return float_from_bf16(v.bits);
    else
      return float(v);
  };
  for (std::size_t i = 0; i < tb.size(); ++i)
    ASSERT_NEAR(ta[i], tb[i], (bf16 ? 1e-4 : 2e-5) + (bf16 ? 1e-3 : 1e-4) * std::fabs(tb[i]))
        << what << ", theta[" << i << "]";
  for (std::size_t k = 0; k < sb.size(); ++k)
    ASSERT_NEAR(f(sa[k]), f(sb[k]),
                (bf16 ? 1e-4 : 5e-5) + (bf16 ? 1.0 / 64 : 0.0) * std::fabs(f(sb[k])))
        << what << ", state[" << k << "]";
}

// One launch for up to 256 tensors; 300 tensors take two tables; one non-empty tensor
// takes the single-tensor kernel. On the GPU the multi-tensor step equals the GPU's
// single-tensor steps bit for bit (same code per coordinate), and the CPU's within the
// tolerances above, after two steps, with fp32 and bf16 state.
template <class S>
void check_multi_on_gpu(int count) {
  SCOPED_TRACE(std::to_string(count) + " tensors" +
               (std::is_same<S, bfloat16>::value ? ", bf16 state" : ""));
  const Weights phi = Weights::initialise(OptimizerConfig{}, 40);
  LstmOptimizer gpu(phi, Device::kCuda), cpu(phi, Device::kCpu);
  Rng rng(count);
  const std::vector<std::size_t> sizes = random_sizes(rng, count);
  Model<S> host(sizes, phi.config().state_dim(), rng);
  DeviceModel<S> multi(host), single(host);
  for (int step = 0; step < 2; ++step) {
    auto segs = multi.segments();
    gpu.step(segs.data(), segs.size());
    for (std::size_t k = 0; k < sizes.size(); ++k)
      gpu.step(single.theta[k]->ptr, single.grad[k]->ptr, single.state[k]->ptr, sizes[k]);
    auto hsegs = host.segments();
    cpu.step(hsegs.data(), hsegs.size());
  }
  CHECK_CUDA(cudaDeviceSynchronize());
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    const std::vector<float> a = multi.theta[k]->download(), b = single.theta[k]->download();
    const std::vector<S> sa = multi.state[k]->download(), sb = single.state[k]->download();
    ASSERT_TRUE(a == b) << "tensor " << k;
    ASSERT_EQ(0, std::memcmp(sa.data(), sb.data(), sa.size() * sizeof(S))) << "tensor " << k;
    expect_close(a, host.theta[k], sa, host.state[k], "tensor " + std::to_string(k));
  }
}

TEST_F(CudaTest, MultiTensorStepEqualsSingleStepsAndCpu) {
  for (int count : {1, 200, 300}) check_multi_on_gpu<float>(count);
  check_multi_on_gpu<bfloat16>(120);
}

// LSTM+GAC on the GPU: the global units averaged over every tensor of the call, across
// two tables (300 tensors) and within one, against the CPU's multi-tensor step (same
// tolerances); a NaN anywhere leaves every tensor, global rows included, untouched.
template <class S>
void check_global_units_on_gpu(int count) {
  SCOPED_TRACE(std::to_string(count) + " tensors with global units" +
               (std::is_same<S, bfloat16>::value ? ", bf16 state" : ""));
  OptimizerConfig c;
  c.gac = 4;
  const Weights phi = Weights::initialise(c, 42);
  LstmOptimizer gpu(phi, Device::kCuda), cpu(phi, Device::kCpu);
  Rng rng(count + 1000);
  std::vector<std::size_t> sizes = random_sizes(rng, count);
  sizes.front() = std::max<std::size_t>(sizes.front(), 1);
  sizes.back() = std::max<std::size_t>(sizes.back(), 1);  // the NaN below goes there
  Model<S> host(sizes, phi.config().state_dim(), rng);
  DeviceModel<S> dev(host);
  for (int step = 0; step < 3; ++step) {
    auto segs = dev.segments();
    gpu.step(segs.data(), segs.size());
    auto hsegs = host.segments();
    cpu.step(hsegs.data(), hsegs.size());
  }
  CHECK_CUDA(cudaDeviceSynchronize());
  for (std::size_t k = 0; k < sizes.size(); ++k)
    expect_close(dev.theta[k]->download(), host.theta[k], dev.state[k]->download(), host.state[k],
                 "tensor " + std::to_string(k));
  // A NaN in the last tensor: nothing changes anywhere. The states are made random first,
  // so that the global rows are not uniform and an averaging would show.
  std::vector<std::vector<S>> before;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    std::vector<S> st(host.state[k].size());
    for (S& v : st) {
      const float x = float(rng.normal());
      if constexpr (std::is_same<S, bfloat16>::value)
        v.bits = bf16_from_float(x);
      else
        v = x;
    }
    dev.state[k]->upload(st);
    before.push_back(st);
  }
  std::vector<float> g = host.grad.back();
  g.back() = std::numeric_limits<float>::quiet_NaN();
  dev.grad.back()->upload(g);
  auto segs = dev.segments();
  gpu.step(segs.data(), segs.size());
  EXPECT_TRUE(gpu.last_step_skipped());
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    const std::vector<S> after = dev.state[k]->download();
    ASSERT_EQ(0, std::memcmp(after.data(), before[k].data(), after.size() * sizeof(S)))
        << "tensor " << k;
  }
}

TEST_F(CudaTest, MultiTensorGlobalUnitsMatchCpu) {
  for (int count : {1, 40, 300}) check_global_units_on_gpu<float>(count);
  check_global_units_on_gpu<bfloat16>(50);
}

// A NaN in a tensor of the second table (past the first 256 tensors) skips the tensors
// of the first table too: every check runs before any step.
TEST_F(CudaTest, MultiTensorNonFiniteInTheLastTableSkipsTheFirst) {
  LstmOptimizer gpu(Weights::initialise(OptimizerConfig{}, 41), Device::kCuda);
  Rng rng(41);
  std::vector<std::size_t> sizes(300, 37);
  Model<bfloat16> host(sizes, OptimizerConfig{}.state_dim(), rng);
  host.grad.back()[36] = std::numeric_limits<float>::infinity();
  DeviceModel<bfloat16> dev(host);
  DeviceBuffer<int> found(1);
  found.upload({0});
  auto segs = dev.segments();
  gpu.step(segs.data(), segs.size(), nullptr, found.ptr);
  EXPECT_EQ(found.download()[0], 1);
  EXPECT_TRUE(gpu.last_step_skipped());
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    ASSERT_TRUE(dev.theta[k]->download() == host.theta[k]) << "tensor " << k;
    const std::vector<bfloat16> st = dev.state[k]->download();
    ASSERT_EQ(0, std::memcmp(st.data(), host.state[k].data(), st.size() * sizeof(bfloat16)))
        << "tensor " << k;
  }
  // A finite list steps again.
  CHECK_CUDA(cudaMemcpy(dev.grad.back()->ptr + 36, &host.grad.back()[35], sizeof(float),
                        cudaMemcpyHostToDevice));
  gpu.step(segs.data(), segs.size());
  EXPECT_FALSE(gpu.last_step_skipped());
  EXPECT_FALSE(dev.theta[0]->download() == host.theta[0]);
}

TEST_F(CudaTest, MultiTensorBaselineEqualsCpu) {
  BaselineConfig c;
  c.kind = BaselineKind::kAdam;
  c.lr = 0.01f;
  BaselineOptimizer gpu(c, Device::kCuda), cpu(c, Device::kCpu);
  Rng rng(42);
  const std::vector<std::size_t> sizes = random_sizes(rng, 270);
  Model<float> host(sizes, c.state_dim(), rng);
  DeviceModel<float> dev(host);
  auto segs = dev.segments();
  auto hsegs = host.segments();
  gpu.step(segs.data(), segs.size());
  cpu.step(hsegs.data(), hsegs.size());
  CHECK_CUDA(cudaDeviceSynchronize());
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    const std::vector<float> a = dev.theta[k]->download();
    for (std::size_t i = 0; i < sizes[k]; ++i)
      ASSERT_NEAR(a[i], host.theta[k][i], 1e-6 + 1e-5 * std::fabs(host.theta[k][i]))
          << "tensor " << k << ", coordinate " << i;
  }
}
#endif

}  // namespace
}  // namespace l2o
