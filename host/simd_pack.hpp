// Pack<W>: W neighbouring coordinates processed together by the CPU backend. Every
// operation is a fixed-length loop over the lanes that the compiler turns into one SIMD
// instruction, so the per-coordinate maths of coordinate.hpp runs across coordinates.
#pragma once

#include "l2o/coordinate.hpp"

namespace l2o {
namespace cpu {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif

#define L2O_LANES _Pragma("omp simd") for (int l = 0; l < W; ++l)

template <int W>
struct alignas(W * sizeof(float)) Pack {
  float v[W];
  Pack() = default;
  explicit Pack(float s) { L2O_LANES v[l] = s; }
  static Pack load(const float* p) {
    Pack r;
    L2O_LANES r.v[l] = p[l];
    return r;
  }
  void store(float* p) const { L2O_LANES p[l] = v[l]; }
};

template <int W>
inline Pack<W> operator+(Pack<W> a, Pack<W> b) {
  L2O_LANES a.v[l] += b.v[l];
  return a;
}
template <int W>
inline Pack<W> operator+(Pack<W> a, float s) {
  L2O_LANES a.v[l] += s;
  return a;
}
template <int W>
inline Pack<W> operator+(float s, Pack<W> a) { return a + s; }
template <int W>
inline Pack<W> operator-(Pack<W> a, Pack<W> b) {
  L2O_LANES a.v[l] -= b.v[l];
  return a;
}
template <int W>
inline Pack<W> operator-(Pack<W> a, float s) {
  L2O_LANES a.v[l] -= s;
  return a;
}
template <int W>
inline Pack<W> operator-(Pack<W> a) {
  L2O_LANES a.v[l] = -a.v[l];
  return a;
}
template <int W>
inline Pack<W> operator*(Pack<W> a, Pack<W> b) {
  L2O_LANES a.v[l] *= b.v[l];
  return a;
}
template <int W>
inline Pack<W> operator*(float s, Pack<W> a) {
  L2O_LANES a.v[l] *= s;
  return a;
}
template <int W>
inline Pack<W> operator*(Pack<W> a, float s) { return s * a; }
template <int W>
inline Pack<W> operator/(float s, Pack<W> a) {
  L2O_LANES a.v[l] = s / a.v[l];
  return a;
}
template <int W>
inline Pack<W> exp_f(Pack<W> a) {
  L2O_LANES a.v[l] = math::exp_f(a.v[l]);
  return a;
}

#undef L2O_LANES

// State accessor over the structure-of-arrays buffer for W coordinates starting at base.
template <int W>
struct PackStateIO {
  float* base;
  std::size_t ld;
  Pack<W> load(int k) const { return Pack<W>::load(base + k * ld); }
  void store(int k, const Pack<W>& p) const { p.store(base + k * ld); }
};

}  // namespace cpu
}  // namespace l2o
