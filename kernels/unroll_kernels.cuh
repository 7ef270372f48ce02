// Kernels of meta-training (docs/method.md §3): the unroll's forward step over the tape and
// the backward of one step, one thread per coordinate, with the maths of coordinate.hpp.
// The backward writes, per layer, the gate gradients dz (4H x n) and the cell inputs
// [in ; h_prev] (K x n) in structure-of-arrays layout, i.e. column-major n x 4H and
// n x K matrices: host/cuda_unroll.cu reduces dL/dW = sum_i dz_i [in ; h_prev]_i^T with
// cuBLAS, one GEMM of inner dimension n per layer and step (n T over the unroll).
// Reference: the CPU unroll (host/cpu_unroll.cpp), compared in tests/test_cuda.cpp.
#pragma once

#include "kernels/step_kernels.cuh"

namespace l2o {
namespace kernels {

// Reads state rows of one coordinate from src, writes them to dst.
struct CoordCopyIO {
  const float* src;
  float* dst;
  std::size_t ld;
  __device__ __forceinline__ float load(int k) const { return src[k * ld]; }
  __device__ __forceinline__ void store(int k, float v) const { dst[k * ld] = v; }
};

struct BackwardBuffers {
  float* dz[kMaxLayers];   // per layer: 4H rows of n
  float* xin[kMaxLayers];  // per layer: (nin + H) rows of n
  float* dout;             // n: dL/d(w_o . h_top + b_o)
  float* htop;             // H rows of n: the top layer's h
  float* carry;            // state_dim rows of n: dL/d(state) carried to the step before
  float* lambda;           // n: lambda_{t+1}, the suffix sum of w_s grad_s
};

template <int H>
struct CoordSink {
  const BackwardBuffers& b;
  const WeightLayout& L;
  std::size_t n, i;
  __device__ __forceinline__ void output(float d, const float* h) {
    b.dout[i] = d;
#pragma unroll
    for (int j = 0; j < H; ++j) b.htop[j * n + i] = h[j];
  }
  __device__ __forceinline__ void layer(int l, const float* dz, const float* in, const float* hp) {
    const int nin = L.layer_input(l);
    float* dzl = b.dz[l];
    float* xl = b.xin[l];
#pragma unroll
    for (int r = 0; r < 4 * H; ++r) dzl[r * n + i] = dz[r];
#pragma unroll
    for (int k = 0; k < H; ++k)
      if (k < nin) xl[k * n + i] = in[k];
#pragma unroll
    for (int j = 0; j < H; ++j) xl[(nin + j) * n + i] = hp[j];
  }
};

__device__ __forceinline__ void load_phi(const StepParams& p, float* s_phi) {
  const int count = static_cast<int>(p.layout.count());
  for (int k = threadIdx.x; k < count; k += blockDim.x) s_phi[k] = p.phi[k];
  __syncthreads();
}

// theta += g_t; state read from src (tape slot t), written to dst (slot t + 1).
template <int H>
__global__ void __launch_bounds__(kBlockThreads)
    l2o_unroll_forward_kernel(StepParams p, float* __restrict__ theta,
                              const float* __restrict__ grad, const float* __restrict__ src,
                              float* __restrict__ dst, std::size_t n) {
  forward_coordinates<H>(p, theta, grad, n, [=](std::size_t i) {
    return CoordCopyIO{src + i, dst + i, n};
  });
}

// Backward of step t: lambda += w_{t+1} grad_{t+1}; then lstm_backward_step from the
// state entering step t, with the carried state gradients updated in place.
template <int H>
__global__ void __launch_bounds__(kBlockThreads)
    l2o_unroll_backward_kernel(StepParams p, const float* __restrict__ grad_t,
                               const float* __restrict__ grad_next, float omega_next,
                               const float* __restrict__ state_t, std::size_t n,
                               BackwardBuffers b) {
  extern __shared__ __align__(16) float s_phi[];
  load_phi(p, s_phi);
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const float lambda = b.lambda[i] + omega_next * grad_next[i];
    b.lambda[i] = lambda;
    CoordCopyIO state{state_t + i, nullptr, n};
    float x[kMaxInputs] = {};
    coordinate_inputs(grad_t[i], p.pre, state, false, x);
    CoordStateIO<float> carry{b.carry + i, n};
    CoordSink<H> sink{b, p.layout, n, i};
    lstm_backward_step<H>(s_phi, p.layout, p.forget_bias, p.output_scale, p.bounded_output != 0, x,
                          state, lambda, carry, sink);
  }
}

}  // namespace kernels
}  // namespace l2o
