#include "l2o/config.hpp"
#include "l2o/device.hpp"
#include "l2o/error.hpp"
#include "l2o/optimizer.hpp"
#include "l2o/weights.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace l2o {
namespace {

// The message of the Error thrown by f, or "" when none is thrown.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, InvalidFieldsAreNamedWithTheirValue) {
  OptimizerConfig c;
  c.hidden = 21;
  EXPECT_NE(error_of([&] { c.validate(); }).find("hidden = 21"), std::string::npos);
  c = {};
  c.layers = 0;
  EXPECT_NE(error_of([&] { c.validate(); }).find("layers = 0"), std::string::npos);
  c = {};
  c.p = -1;
  EXPECT_NE(error_of([&] { c.validate(); }).find("p = -1"), std::string::npos);
  c = {};
  c.output_scale = NAN;
  EXPECT_NE(error_of([&] { c.validate(); }).find("output_scale"), std::string::npos);
  c = {};
  c.preprocess = Preprocess::kNone;
  c.p = -1;  // p is unused without log_sign preprocessing
  EXPECT_EQ(error_of([&] { c.validate(); }), "");
}

TEST(Config, OptionsAfterThePaperAreCheckedAndSizeTheState) {
  OptimizerConfig c;
  c.nominal_lr = -0.1f;
  EXPECT_NE(error_of([&] { c.validate(); }).find("nominal_lr = -0.1"), std::string::npos);
  c = {};
  c.beta2 = 1.0f;
  EXPECT_NE(error_of([&] { c.validate(); }).find("beta2 = 1"), std::string::npos);
  c = {};
  c.moment_eps = 0.0f;
  EXPECT_NE(error_of([&] { c.validate(); }).find("moment_eps = 0"), std::string::npos);
  c = {};
  EXPECT_EQ(c.num_inputs(), 2);
  EXPECT_EQ(c.state_dim(), 80);
  c.bounded_output = true;  // no moments needed
  EXPECT_EQ(c.state_dim(), 80);
  c.nominal_lr = 1e-3f;  // moments in the state, no new inputs
  EXPECT_EQ(c.num_inputs(), 2);
  EXPECT_EQ(c.state_dim(), 84);
  c.moment_inputs = true;
  EXPECT_EQ(c.num_inputs(), 4);
  EXPECT_EQ(c.state_dim(), 84);
  EXPECT_NE(describe(c).find("moment inputs"), std::string::npos) << describe(c);
  OptimizerConfig d = c;
  d.beta1 = 0.5f;
  EXPECT_NE(c, d);
  c.moment_inputs = false;
  c.nominal_lr = 0.0f;
  d = c;
  d.beta1 = 0.5f;  // unused without moments
  EXPECT_EQ(c, d);
  // The time input: one more input, and the moment rows it reads its count from.
  c = {};
  c.time_input = true;
  EXPECT_EQ(c.num_inputs(), 3);
  EXPECT_EQ(c.state_dim(), 84);
  EXPECT_TRUE(c.has_extensions());
  EXPECT_NE(describe(c).find("time input"), std::string::npos) << describe(c);
  EXPECT_NE(c, OptimizerConfig{});
  c.moment_inputs = true;
  EXPECT_EQ(c.num_inputs(), 5);
  c.hidden = 4;  // five inputs do not fit a layer of four units
  EXPECT_NE(error_of([&] { c.validate(); }).find("5 inputs with hidden = 4"), std::string::npos)
      << error_of([&] { c.validate(); });
}

// extend_weights: the paper's phi carried into moment inputs computes the same steps
// (the new columns are zero); other differences are refused.
TEST(Config, ExtendWeightsAddsZeroInputColumns) {
  OptimizerConfig paper;
  paper.hidden = 8;
  const Weights phi = Weights::initialise(paper, 5);
  OptimizerConfig wide = paper;
  wide.moment_inputs = true;
  wide.nominal_lr = 0.0f;
  const Weights ext = extend_weights(phi, wide);
  ASSERT_EQ(ext.config(), wide);
  const std::size_t n = 37;
  std::vector<float> g(n), a(n, 0.5f), b(n, 0.5f);
  for (std::size_t i = 0; i < n; ++i) g[i] = std::sin(float(i)) * std::pow(10.0f, float(i % 7) - 4);
  LstmOptimizer oa(phi, Device::kCpu), ob(ext, Device::kCpu);
  std::vector<float> sa(oa.state_size(n), 0.0f), sb(ob.state_size(n), 0.0f);
  for (int t = 0; t < 3; ++t) {
    oa.step(a.data(), g.data(), sa.data(), n);
    ob.step(b.data(), g.data(), sb.data(), n);
  }
  EXPECT_EQ(a, b);
  OptimizerConfig other = wide;
  other.hidden = 16;
  EXPECT_NE(error_of([&] { extend_weights(phi, other); }).find("cannot carry phi"),
            std::string::npos);
  EXPECT_NE(error_of([&] { extend_weights(ext, paper); }).find("inputs may only be added"),
            std::string::npos);

  // The time input is the last column: added to the paper's phi or to phi with moment
  // inputs it is a zero column (the same steps), added with moment inputs both are; a phi
  // that has it keeps it, and no input may go before it.
  OptimizerConfig timed = wide;
  timed.time_input = true;
  for (const Weights& from : {phi, ext}) {
    const Weights t = extend_weights(from, timed);
    ASSERT_EQ(t.config(), timed);
    LstmOptimizer ot(t, Device::kCpu);
    std::vector<float> c(n, 0.5f), sc(ot.state_size(n), 0.0f);
    for (int s = 0; s < 3; ++s) ot.step(c.data(), g.data(), sc.data(), n);
    EXPECT_EQ(c, b);
  }
  OptimizerConfig paper_timed = paper;
  paper_timed.time_input = true;
  const Weights pt = Weights::initialise(paper_timed, 5);
  EXPECT_NE(error_of([&] { extend_weights(pt, paper); }).find("it reads the time input"),
            std::string::npos);
  EXPECT_NE(error_of([&] { extend_weights(pt, timed); }).find("before its time input"),
            std::string::npos);
  EXPECT_EQ(extend_weights(pt, paper_timed).values(), pt.values());
}

// LSTM-sub: phi holds `groups` copies of one LSTM's weights; group(k) and set_group see
// one of them; a fresh phi starts with all alike; extend_weights carries a phi of one
// group into every group (with new inputs too) and keeps an LSTM-sub phi's groups; a
// single optimizer refuses it with a message that says what to do.
TEST(Config, LstmSubGroups) {
  OptimizerConfig sub;
  sub.hidden = 4;
  sub.groups = 2;
  EXPECT_EQ(describe(sub).find("LSTM-sub: 2 LSTMs") != std::string::npos, true) << describe(sub);
  EXPECT_NE(sub, sub.single());
  const Weights phi = Weights::initialise(sub, 4);
  const std::size_t P = phi.layout().count();
  ASSERT_EQ(phi.size(), 2 * P);
  EXPECT_EQ(phi.group(0).values(), phi.group(1).values());
  EXPECT_EQ(phi.group(0).values(), Weights::initialise(sub.single(), 4).values());
  Weights changed = phi;
  Weights other = Weights::initialise(sub.single(), 9);
  changed.set_group(1, other);
  EXPECT_EQ(changed.group(1).values(), other.values());
  EXPECT_EQ(changed.group(0).values(), phi.group(0).values());
  EXPECT_NE(error_of([&] { phi.group(2); }).find("group(2)"), std::string::npos);
  EXPECT_NE(error_of([&] {
              changed.set_group(0, Weights::initialise(OptimizerConfig{}, 1));
            }).find("is not one group"),
            std::string::npos);
  for (int bad : {0, 17}) {
    OptimizerConfig c = sub;
    c.groups = bad;
    EXPECT_NE(error_of([&] { c.validate(); }).find("groups = " + std::to_string(bad)),
              std::string::npos);
  }

  OptimizerConfig wide = sub;
  wide.moment_inputs = true;
  const Weights single = Weights::initialise(sub.single(), 6);
  const Weights ext = extend_weights(single, wide);
  ASSERT_EQ(ext.config(), wide);
  const Weights want = extend_weights(single, wide.single());
  EXPECT_EQ(ext.group(0).values(), want.values());
  EXPECT_EQ(ext.group(1).values(), want.values());
  EXPECT_EQ(extend_weights(changed, wide).group(1).values(),
            extend_weights(other, wide.single()).values());
  OptimizerConfig three = sub;
  three.groups = 3;
  EXPECT_NE(error_of([&] { extend_weights(changed, three); }).find("keeps its number of groups"),
            std::string::npos);
  EXPECT_NE(error_of([&] { LstmOptimizer o(phi, Device::kCpu); }).find("phi.group(k)"),
            std::string::npos);
}

TEST(Config, ParseNames) {
  EXPECT_EQ(parse_preprocess("none"), Preprocess::kNone);
  EXPECT_EQ(parse_preprocess("log_sign"), Preprocess::kLogSign);
  EXPECT_NE(error_of([] { parse_preprocess("log"); }).find("'log'"), std::string::npos);
  EXPECT_EQ(parse_device("cuda"), Device::kCuda);
  EXPECT_NE(error_of([] { parse_device("gpu"); }).find("'gpu'"), std::string::npos);
}

TEST(Device, AutoFallsBackToCpuAndCudaIsRefusedWithAReason) {
  std::string why;
  if (cuda_available(&why)) GTEST_SKIP() << "a CUDA device is present; this checks its absence";
  EXPECT_FALSE(why.empty());
  EXPECT_EQ(resolve(Device::kAuto), Device::kCpu);
  LstmOptimizer opt(Weights::initialise(OptimizerConfig{}, 1), Device::kAuto);
  EXPECT_EQ(opt.device(), Device::kCpu);
  const std::string msg = error_of(
      [] { LstmOptimizer cuda(Weights::initialise(OptimizerConfig{}, 1), Device::kCuda); });
  EXPECT_NE(msg.find("CUDA backend was requested"), std::string::npos) << msg;
  EXPECT_NE(msg.find(why), std::string::npos) << msg;
}

// The CPU kernels in use are one this CPU runs, the widest unless L2O_CPU_ISA forces one
// (ctest runs the numerical suites once per instruction set that way: tests/CMakeLists.txt).
TEST(Device, CpuKernelsAreTheForcedOrTheWidestSupported) {
  const std::vector<std::string> isas = cpu_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.back(), "generic");
  const char* env = std::getenv("L2O_CPU_ISA");
  const std::string forced = env ? env : "";
  if (forced.empty() || forced == "auto")
    EXPECT_EQ(cpu_isa(), isas.front());
  else
    EXPECT_EQ(cpu_isa(), forced);
  std::cout << "CPU kernels: " << cpu_isa() << "\n";
}

}  // namespace
}  // namespace l2o
