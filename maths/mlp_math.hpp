// Per-element maths of the MLP optimizee, shared by its CPU and CUDA implementations.
#pragma once

#include "maths/hd.hpp"

#include <cmath>
#include <cstdint>

namespace l2o {
namespace mlp {

enum Act : int { kSigmoid = 0, kRelu = 1, kTanh = 2 };

L2O_HD float activate(int act, float z) {
  switch (act) {
    case kRelu:
      return z > 0.0f ? z : 0.0f;
    case kTanh:
      return tanhf(z);
    default:
      return 1.0f / (1.0f + expf(-z));
  }
}

// d act / dz, from the activation's value a = act(z) (and z for ReLU).
L2O_HD float activate_grad(int act, float z, float a) {
  switch (act) {
    case kRelu:
      return z > 0.0f ? 1.0f : 0.0f;
    case kTanh:
      return 1.0f - a * a;
    default:
      return a * (1.0f - a);
  }
}

// Softmax cross-entropy of one row of `classes` logits with label y: returns the loss and
// writes d loss / d logits, scaled by `scale` (1 / batch for a mean), to d.
L2O_HD float softmax_xent(const float* z, int classes, int y, float scale, float* d) {
  float m = z[0];
  for (int c = 1; c < classes; ++c) m = z[c] > m ? z[c] : m;
  float s = 0.0f;
  for (int c = 0; c < classes; ++c) s += expf(z[c] - m);
  const float inv = 1.0f / s;
  for (int c = 0; c < classes; ++c) d[c] = scale * (expf(z[c] - m) * inv - (c == y ? 1.0f : 0.0f));
  return logf(s) + m - z[y];
}

// The example drawn for slot b of minibatch `call` of an optimizee (sampling with
// replacement from n examples): a counter-based hash, so both backends draw the same
// minibatches without sharing a generator's state.
L2O_HD std::uint32_t minibatch_index(std::uint64_t seed, std::uint64_t call, std::uint32_t b,
                                     std::uint32_t n) {
  std::uint64_t z = seed ^ (call * 0x9E3779B97F4A7C15ull) ^ (std::uint64_t(b) << 32 | b);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<std::uint32_t>(((z >> 32) * n) >> 32);
}

}  // namespace mlp
}  // namespace l2o
