// Kernels of the CNN optimizee (docs/generalisation.md) around cuBLAS's products: im2col
// and its adjoint (one thread per entry, the index maths of maths/conv_math.hpp shared
// with the CPU), bias + activation in the channel-major layout [C][B][H * W], and the
// reordering between that layout and the classifier's rows. The minibatch gather, the
// softmax cross-entropy and the activation backward are the MLP's (mlp_kernels.cuh).
#pragma once

#include "maths/conv_math.hpp"
#include "maths/mlp_math.hpp"

#include <cstddef>

namespace l2o {
namespace kernels {

#define L2O_GRID_STRIDE(e, total)                                                   \
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < (total); \
       e += (long long)gridDim.x * blockDim.x)

// col ((C * 9) x (B * Ho * Wo), row-major) from in ([C][B][H][W]).
static __global__ void l2o_cnn_im2col_kernel(const float* __restrict__ in, int C, int B, int H,
                                             int W, float* __restrict__ col) {
  const long long total =
      (long long)C * conv::kK * conv::kK * B * conv::out_size(H) * conv::out_size(W);
  L2O_GRID_STRIDE(e, total) col[e] = conv::im2col_entry(in, B, H, W, e);
}

// in ([C][B][H][W]) = the adjoint of im2col applied to col; every pixel written (gathered,
// so no atomics and the same sums in the same order on every run).
static __global__ void l2o_cnn_col2im_kernel(const float* __restrict__ col, int C, int B, int H,
                                             int W, float* __restrict__ in) {
  const long long total = (long long)C * B * H * W;
  L2O_GRID_STRIDE(e, total) in[e] = conv::col2im_entry(col, B, H, W, e);
}

// z[o][i] = act(z[o][i] + b[o]) for a convolution's output (channels x n).
static __global__ void l2o_cnn_bias_act_kernel(float* __restrict__ z, const float* __restrict__ b,
                                               int channels, long long n, int act) {
  L2O_GRID_STRIDE(e, (long long)channels * n) z[e] = mlp::activate(act, z[e] + b[e / n]);
}

// The classifier's input X (B x C * P, row-major) from the last activations A ([C][B][P]):
// X[b][c * P + p] = A[c][b][p].
static __global__ void l2o_cnn_to_rows_kernel(const float* __restrict__ a, int C, int B, int P,
                                              float* __restrict__ x) {
  L2O_GRID_STRIDE(e, (long long)C * B * P) {
    const int p = static_cast<int>(e % P), b = static_cast<int>((e / P) % B);
    const int c = static_cast<int>(e / ((long long)P * B));
    x[(long long)b * C * P + (long long)c * P + p] = a[e];
  }
}

// The adjoint, through the last convolution's activation: dz[c][b][p] = dx[b][c * P + p] *
// act'(a[c][b][p]).
static __global__ void l2o_cnn_from_rows_kernel(const float* __restrict__ dx,
                                                const float* __restrict__ a, int C, int B, int P,
                                                int act, float* __restrict__ dz) {
  L2O_GRID_STRIDE(e, (long long)C * B * P) {
    const int p = static_cast<int>(e % P), b = static_cast<int>((e / P) % B);
    const int c = static_cast<int>(e / ((long long)P * B));
    dz[e] = dx[(long long)b * C * P + (long long)c * P + p] * mlp::activate_grad(act, a[e], a[e]);
  }
}

#undef L2O_GRID_STRIDE

}  // namespace kernels
}  // namespace l2o
