// The CUDA backend's parts (internal), assembled into a DeviceBackend in
// host/cuda/device.cu.
#pragma once

#include "host/backend.hpp"

namespace l2o {
namespace detail {

std::unique_ptr<StepBackend> make_cuda_step(const Weights& phi);  // cuda/step.cu
std::unique_ptr<BaselineBackend> make_cuda_baseline();            // cuda/baselines.cu
std::unique_ptr<UnrollBackend> make_cuda_unroll(const Weights& phi, std::size_t n, int T,
                                                std::vector<float> omega);  // cuda/unroll.cu

}  // namespace detail
}  // namespace l2o
