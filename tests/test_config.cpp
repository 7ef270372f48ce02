#include "l2o/config.hpp"
#include "l2o/device.hpp"
#include "l2o/error.hpp"
#include "l2o/optimizer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>

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
