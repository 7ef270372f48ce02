// The CPU backend's parts (internal), assembled into a DeviceBackend in host/cpu/device.cpp.
#pragma once

#include "host/backend.hpp"

namespace l2o {
namespace detail {

std::unique_ptr<StepBackend> make_cpu_step(const Weights& phi);  // cpu/step.cpp
std::unique_ptr<BaselineBackend> make_cpu_baseline();            // cpu/baselines.cpp
std::unique_ptr<UnrollBackend> make_cpu_unroll(const Weights& phi, std::size_t n, int T,
                                               std::vector<float> omega);  // cpu/unroll.cpp

}  // namespace detail
}  // namespace l2o
