// Kernels of the optimizer step (docs/method.md §3, forward). One thread per coordinate runs
// the preprocessing, the stacked LSTM cells and the update from coordinate.hpp; phi sits
// in shared memory, where every thread of a warp reads the same word (a broadcast); the
// state is structure of arrays, so each of the state_dim loads and stores is coalesced.
// Reference: the CPU backend (host/cpu_backend.cpp), compared in tests/test_cuda.cpp.
#pragma once

#include "kernels/launch.cuh"
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
  int bounded_output;  // OptimizerConfig::bounded_output
};

// State accessor for one coordinate: row k of the structure-of-arrays buffer, stored as
// S = float or bfloat16 (widened on load, rounded on store: state_value of coordinate.hpp).
template <class S>
struct CoordStateIO {
  S* base;  // state + i
  std::size_t ld;
  __device__ __forceinline__ float load(int k) const { return state_value(base + k * ld); }
  __device__ __forceinline__ void store(int k, float v) const { set_state_value(base + k * ld, v); }
};

// The tensors of one step, passed by value as a kernel parameter: a single tensor as a
// table of capacity 1 (a few dozen bytes), a list in tables of capacity kMaxSegments
// (~10 KB: within the 32 KB that CUDA 12.1+ allows on Volta and later). The coordinates of
// all tensors form one sequence of tiles of kTile (the block size): tensor s owns tiles
// [first_tile[s], first_tile[s + 1]).
constexpr int kMaxSegments = 256;
constexpr int kTile = kBlockThreads;  // coordinates per tile: one per thread of a block

template <class S, int Cap>
struct SegmentTable {
  static constexpr int kCapacity = Cap;
  int count;
  float* theta[Cap];
  const float* grad[Cap];
  S* state[Cap];
  std::size_t n[Cap];
  std::size_t first_tile[Cap + 1];
};
static_assert(sizeof(SegmentTable<float, kMaxSegments>) < 32 * 1024 - 512,
              "segment table too large for a kernel parameter");

// Calls f(segment, i) for every coordinate i of every tensor of the table that falls to
// this thread. One tensor: the plain grid-stride loop (the walk below costs the step
// kernel up to twice the registers, measured with ptxas at H = 8 and 32). Several:
// blocks stride over the tiles in increasing order, so each finds its tensor by walking
// forward.
template <class S, int Cap, class F>
__device__ __forceinline__ void for_each_coordinate(const SegmentTable<S, Cap>& t, F&& f) {
  if constexpr (Cap == 1) {
    const std::size_t n = t.n[0];
    for (std::size_t i = blockIdx.x * std::size_t(kTile) + threadIdx.x; i < n;
         i += std::size_t(gridDim.x) * kTile)
      f(0, i);
  } else {
    const std::size_t tiles = t.first_tile[t.count];
    int seg = 0;
    for (std::size_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
      while (tile >= t.first_tile[seg + 1]) ++seg;
      const std::size_t i = (tile - t.first_tile[seg]) * kTile + threadIdx.x;
      if (i < t.n[seg]) f(seg, i);
    }
  }
}

// Sets *flag = 1 when any gradient of the table is NaN or +-Inf. Nothing is written
// otherwise, so the caller clears the flag first.
template <class S, int Cap>
__global__ void __launch_bounds__(kTile)
    l2o_check_finite_kernel(const SegmentTable<S, Cap> t, int* flag) {
  bool bad = false;
  for_each_coordinate(t, [&](int s, std::size_t i) { bad |= !is_finite(t.grad[s][i]); });
  if (__syncthreads_or(bad) && threadIdx.x == 0) *flag = 1;
}

// Copies phi into shared memory in the quad layout of coordinate.hpp (QuadRows), which the
// forward kernels read with 16-byte broadcast loads.
__device__ __forceinline__ void load_phi_quads(const StepParams& p, float* s_phi) {
  const int count = static_cast<int>(p.layout.count());
  for (int e = threadIdx.x; e < count; e += blockDim.x) s_phi[quad_index(p.layout, e)] = p.phi[e];
  __syncthreads();
}

// One coordinate of a forward step: theta += g(grad, state; phi), the state read and
// written through io. s_phi: phi in shared memory as quads.
template <int H, class IO>
__device__ __forceinline__ void forward_one(const StepParams& p, const float* s_phi, float& theta,
                                            float grad, IO& io) {
  float x[kMaxInputs] = {};
  const float nominal = coordinate_inputs(grad, p.pre, io, true, x);
  theta += lstm_forward_step<H>(QuadPhi{s_phi}, p.layout, p.forget_bias, p.output_scale,
                                p.bounded_output != 0, x, io) +
           nominal;
}

// The body of the unroll's forward kernel: phi into shared memory as quads, then
// forward_one for this block's coordinates, the state of coordinate i read and written
// through state_of(i).
template <int H, class StateOf>
__device__ __forceinline__ void forward_coordinates(const StepParams& p, float* __restrict__ theta,
                                                    const float* __restrict__ grad, std::size_t n,
                                                    StateOf state_of) {
  extern __shared__ __align__(16) float s_phi[];
  load_phi_quads(p, s_phi);
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    auto io = state_of(i);
    forward_one<H>(p, s_phi, theta[i], grad[i], io);
  }
}

// The step of every tensor of the table (a single-tensor step is a table of one), unless
// *skip is set by the check kernel, in which case nothing changes and *found (if given)
// is set to 1. The state of tensor s is S (float or bfloat16), row k of coordinate i at
// state[s][k * n[s] + i].
template <int H, class S, int Cap>
__global__ void __launch_bounds__(kTile)
    l2o_lstm_step_kernel(StepParams p, const SegmentTable<S, Cap> t, const int* __restrict__ skip,
                         int* found) {
  if (*skip) {
    if (found && blockIdx.x == 0 && threadIdx.x == 0) *found = 1;
    return;
  }
  extern __shared__ __align__(16) float s_phi[];
  load_phi_quads(p, s_phi);
  for_each_coordinate(t, [&](int s, std::size_t i) {
    CoordStateIO<S> io{t.state[s] + i, t.n[s]};
    forward_one<H>(p, s_phi, t.theta[s][i], t.grad[s][i], io);
  });
}

}  // namespace kernels
}  // namespace l2o
