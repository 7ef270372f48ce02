// The baselines' fused step: one thread per coordinate, baseline_update from
// coordinate.hpp, skipped entirely when the check kernel flagged a non-finite gradient.
// Reference: the CPU loop in host/baselines.cpp.
#pragma once

#include "kernels/step_kernels.cuh"
#include "maths/coordinate.hpp"

#include <cstddef>

namespace l2o {
namespace kernels {

// The baseline step of every tensor of the table; the state of tensor s is s0 = state[s]
// (momentum / mean square / Adam's m) and, for Adam, s1 = state[s] + n[s] (v).
template <int Cap>
__global__ void __launch_bounds__(kTile)
    l2o_baseline_step_kernel(BaselineParams p, const SegmentTable<float, Cap> t,
                             const int* __restrict__ skip, int* found) {
  if (*skip) {
    if (found && blockIdx.x == 0 && threadIdx.x == 0) *found = 1;
    return;
  }
  for_each_coordinate(t, [&](int s, std::size_t i) {
    float* s0 = p.kind == 0 ? nullptr : t.state[s];
    float* s1 = p.kind == 2 ? t.state[s] + t.n[s] : nullptr;
    float a = s0 ? s0[i] : 0.0f, b = s1 ? s1[i] : 0.0f, th = t.theta[s][i];
    baseline_update(p, t.grad[s][i], th, a, b);
    t.theta[s][i] = th;
    if (s0) s0[i] = a;
    if (s1) s1[i] = b;
  });
}

}  // namespace kernels
}  // namespace l2o
