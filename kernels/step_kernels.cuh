// Kernels of the optimizer step (MISSION.md §3, forward). One thread per coordinate runs
// the preprocessing, the stacked LSTM cells and the update from coordinate.hpp; phi sits
// in shared memory, where every thread of a warp reads the same word (a broadcast); the
// state is structure of arrays, so each of the state_dim loads and stores is coalesced.
// Reference: the CPU backend (host/cpu_backend.cpp), compared in tests/test_cuda.cpp.
#pragma once

#include "l2o/bfloat16.hpp"
#include "maths/coordinate.hpp"

#include <cstddef>

namespace l2o {
namespace kernels {

struct StepParams {
  const float* phi;  // device copy of phi (layout.count() floats)
  WeightLayout layout;
  PreprocessParams pre;
  float forget_bias;
  float output_scale;
};

// State accessor for one coordinate: row k of the structure-of-arrays buffer, stored as
// S = float or bfloat16 (widened on load, rounded on store: coordinate.hpp).
template <class S>
struct CoordStateIO;

template <>
struct CoordStateIO<float> {
  float* base;  // state + i
  std::size_t ld;
  __device__ __forceinline__ float load(int k) const { return base[k * ld]; }
  __device__ __forceinline__ void store(int k, float v) const { base[k * ld] = v; }
};

template <>
struct CoordStateIO<bfloat16> {
  bfloat16* base;
  std::size_t ld;
  __device__ __forceinline__ float load(int k) const { return float_from_bf16(base[k * ld].bits); }
  __device__ __forceinline__ void store(int k, float v) const {
    base[k * ld].bits = bf16_from_float(v);
  }
};

// Sets *flag = 1 when any of g[0..n) is NaN or +-Inf. Nothing is written otherwise, so
// the caller clears the flag first.
static __global__ void l2o_check_finite_kernel(const float* __restrict__ g, std::size_t n,
                                               int* flag) {
  bool bad = false;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x)
    bad |= !is_finite(g[i]);
  if (__syncthreads_or(bad) && threadIdx.x == 0) *flag = 1;
}

// Copies phi into shared memory in the quad layout of coordinate.hpp (QuadRows), which the
// forward kernels read with 16-byte broadcast loads.
__device__ __forceinline__ void load_phi_quads(const StepParams& p, float* s_phi) {
  const int count = static_cast<int>(p.layout.count());
  for (int e = threadIdx.x; e < count; e += blockDim.x) s_phi[quad_index(p.layout, e)] = p.phi[e];
  __syncthreads();
}

// The body of both forward kernels (this step and the unroll's forward step): phi into
// shared memory as quads, then theta[i] += g(grad[i], state; phi) for this block's
// coordinates, the state of coordinate i read and written through state_of(i).
template <int H, class StateOf>
__device__ __forceinline__ void forward_coordinates(const StepParams& p, float* __restrict__ theta,
                                                    const float* __restrict__ grad, std::size_t n,
                                                    StateOf state_of) {
  extern __shared__ __align__(16) float s_phi[];
  load_phi_quads(p, s_phi);
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    float x[2] = {0.0f, 0.0f};
    preprocess(grad[i], p.pre, x);
    auto io = state_of(i);
    theta[i] +=
        lstm_forward_step<H>(QuadPhi{s_phi}, p.layout, p.forget_bias, p.output_scale, x, io);
  }
}

// theta += g(grad, state; phi) for every coordinate, unless *skip is set by the check
// kernel, in which case nothing changes and *found (if given) is set to 1.
template <int H, class S>
__global__ void __launch_bounds__(256)
    l2o_lstm_step_kernel(StepParams p, float* __restrict__ theta, const float* __restrict__ grad,
                         S* __restrict__ state, std::size_t n, const int* __restrict__ skip,
                         int* found) {
  if (*skip) {
    if (found && blockIdx.x == 0 && threadIdx.x == 0) *found = 1;
    return;
  }
  forward_coordinates<H>(p, theta, grad, n, [=](std::size_t i) {
    return CoordStateIO<S>{state + i, n};
  });
}

}  // namespace kernels
}  // namespace l2o
