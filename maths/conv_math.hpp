// Index maths of the CNN optimizee's convolutions (3 x 3, stride 2, padding 1), shared by
// its CPU implementation (host/problems/cnn.cpp) and its CUDA kernels
// (kernels/cnn_kernels.cuh), so both read the same pixels for the same patch entry.
#pragma once

#include "maths/hd.hpp"

namespace l2o {
namespace conv {

constexpr int kK = 3;  // kernel size; stride 2, padding 1

// The output size of a convolution over `in` pixels (28 -> 14 -> 7 -> 4).
L2O_HD int out_size(int in) {
  return (in + 2 - kK) / 2 + 1;
}

// The input pixel that output pixel o reads at kernel offset k (may be outside the image:
// -1 or in, the padding).
L2O_HD int source(int o, int k) {
  return 2 * o - 1 + k;
}

// The adjoint: the output pixel that reads input pixel i at kernel offset k, or -1 when
// none does (stride 2 skips it, or it would be outside the out output pixels).
L2O_HD int reader(int i, int k, int out) {
  const int t = i + 1 - k;
  if (t < 0 || (t & 1)) return -1;
  const int o = t / 2;
  return o < out ? o : -1;
}

// col[(c * 9 + ky * 3 + kx)][(b * Ho + oy) * Wo + ox] = in[c][b][iy][ix] (0 in the
// padding): entry e of the im2col matrix of B images of H x W (any number of channels).
L2O_HD float im2col_entry(const float* in, int B, int H, int W, long long e) {
  const int Ho = out_size(H), Wo = out_size(W);
  const long long n = (long long)B * Ho * Wo;
  const long long row = e / n, i = e - row * n;
  const int c = static_cast<int>(row / (kK * kK)), kyx = static_cast<int>(row % (kK * kK));
  const int ky = kyx / kK, kx = kyx % kK;
  const int b = static_cast<int>(i / (Ho * Wo)), p = static_cast<int>(i % (Ho * Wo));
  const int iy = source(p / Wo, ky), ix = source(p % Wo, kx);
  if (iy < 0 || iy >= H || ix < 0 || ix >= W) return 0.0f;
  return in[((long long)c * B + b) * H * W + (long long)iy * W + ix];
}

// The col2im entry of input pixel e = ((c * B + b) * H + iy) * W + ix: the sum of the col
// entries it was copied to (at most four with stride 2), in a fixed order.
L2O_HD float col2im_entry(const float* col, int B, int H, int W, long long e) {
  const int Ho = out_size(H), Wo = out_size(W);
  const long long n = (long long)B * Ho * Wo;
  const int ix = static_cast<int>(e % W), iy = static_cast<int>((e / W) % H);
  const long long cb = e / ((long long)H * W);
  const int b = static_cast<int>(cb % B), c = static_cast<int>(cb / B);
  float sum = 0.0f;
  for (int ky = 0; ky < kK; ++ky) {
    const int oy = reader(iy, ky, Ho);
    if (oy < 0) continue;
    for (int kx = 0; kx < kK; ++kx) {
      const int ox = reader(ix, kx, Wo);
      if (ox < 0) continue;
      sum += col[((long long)c * kK * kK + ky * kK + kx) * n + ((long long)b * Ho + oy) * Wo + ox];
    }
  }
  return sum;
}

}  // namespace conv
}  // namespace l2o
