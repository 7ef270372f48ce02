// The baselines' fused step: one thread per coordinate, baseline_update from
// coordinate.hpp, skipped entirely when the check kernel flagged a non-finite gradient.
// Reference: the CPU loop in host/baselines.cpp.
#pragma once

#include "maths/coordinate.hpp"

#include <cstddef>

namespace l2o {
namespace kernels {

static __global__ void __launch_bounds__(256)
    l2o_baseline_step_kernel(BaselineParams p, float* __restrict__ theta,
                             const float* __restrict__ grad, float* __restrict__ s0,
                             float* __restrict__ s1, std::size_t n, const int* __restrict__ skip,
                             int* found) {
  if (*skip) {
    if (found && blockIdx.x == 0 && threadIdx.x == 0) *found = 1;
    return;
  }
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    float a = s0 ? s0[i] : 0.0f, b = s1 ? s1[i] : 0.0f, t = theta[i];
    baseline_update(p, grad[i], t, a, b);
    theta[i] = t;
    if (s0) s0[i] = a;
    if (s1) s1[i] = b;
  }
}

}  // namespace kernels
}  // namespace l2o
