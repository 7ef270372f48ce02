// Kernels of the MLP optimizee (docs/method.md §2) around cuBLAS's products: minibatch
// gather, bias + activation, softmax cross-entropy, activation backward. The per-element
// maths is mlp_math.hpp, shared with the CPU path (host/mlp.cpp, the reference).
#pragma once

#include "maths/mlp_math.hpp"

#include <cstddef>
#include <cstdint>

namespace l2o {
namespace kernels {

// x[b, :] = images[idx(b), :], labels[b] = all_labels[idx(b)] for minibatch `call`.
static __global__ void l2o_mlp_gather_kernel(const float* __restrict__ images,
                                             const std::uint8_t* __restrict__ all_labels,
                                             std::uint32_t count, int features, int batch,
                                             std::uint64_t seed, std::uint64_t call,
                                             float* __restrict__ x, int* __restrict__ labels) {
  for (int b = blockIdx.x; b < batch; b += gridDim.x) {
    const std::uint32_t i = mlp::minibatch_index(seed, call, b, count);
    for (int f = threadIdx.x; f < features; f += blockDim.x)
      x[std::size_t(b) * features + f] = images[std::size_t(i) * features + f];
    if (threadIdx.x == 0) labels[b] = all_labels[i];
  }
}

// z[r, j] += b[j], then z = act(z) when apply (hidden layers). z is rows x out row-major.
static __global__ void l2o_mlp_bias_act_kernel(float* __restrict__ z, const float* __restrict__ b,
                                               int rows, int out, int act, int apply) {
  const std::size_t total = std::size_t(rows) * out;
  for (std::size_t e = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; e < total;
       e += std::size_t(gridDim.x) * blockDim.x) {
    const float v = z[e] + b[e % out];
    z[e] = apply ? mlp::activate(act, v) : v;
  }
}

// One thread per row: loss[r] and delta[r, :] = (softmax - onehot) * scale.
static __global__ void l2o_mlp_softmax_xent_kernel(const float* __restrict__ z,
                                                   const int* __restrict__ labels, int rows,
                                                   int classes, float scale,
                                                   float* __restrict__ delta,
                                                   float* __restrict__ loss) {
  for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += gridDim.x * blockDim.x)
    loss[r] = mlp::softmax_xent(z + std::size_t(r) * classes, classes, labels[r], scale,
                                delta + std::size_t(r) * classes);
}

// d[e] *= act'(a[e]) where a = act(z) is the layer's output.
static __global__ void l2o_mlp_act_backward_kernel(float* __restrict__ d,
                                                   const float* __restrict__ a, std::size_t n,
                                                   int act) {
  for (std::size_t e = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; e < n;
       e += std::size_t(gridDim.x) * blockDim.x)
    d[e] *= mlp::activate_grad(act, a[e], a[e]);
}

}  // namespace kernels
}  // namespace l2o
