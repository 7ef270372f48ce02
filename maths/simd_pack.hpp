// Pack: kLanes neighbouring coordinates processed together by the CPU backend, held in
// one SIMD register through the compiler's vector extensions (GCC and Clang), so the
// per-coordinate maths of coordinate.hpp runs across coordinates, one instruction for
// all lanes. kLanes follows the instruction set the including file is compiled for: the
// CPU kernels are compiled once per instruction set (host/cpu/kernels_isa.cpp), each with
// its own Pack inside its inline namespace (L2O_ISA_BEGIN, maths/hd.hpp).
#pragma once

#include "l2o/bfloat16.hpp"
#include "maths/coordinate.hpp"

#include <cstdint>
#include <cstring>

// Forced inlining for the CPU's per-unit maths (a call would pass packs through memory),
// and the opposite for the register-blocked products: compiled as functions of their own,
// their accumulators get the whole register file (inlined into a larger loop body they
// were spilled to the stack, which halved the product's speed).
#define L2O_ALWAYS_INLINE inline __attribute__((always_inline))
#define L2O_KERNEL inline __attribute__((noinline))

namespace l2o {
namespace cpu {
L2O_ISA_BEGIN

#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif

typedef float VecF __attribute__((vector_size(kLanes * sizeof(float))));
typedef std::uint32_t VecU __attribute__((vector_size(kLanes * sizeof(float))));
typedef std::int32_t VecI __attribute__((vector_size(kLanes * sizeof(float))));
typedef std::uint16_t VecU16 __attribute__((vector_size(kLanes * sizeof(std::uint16_t))));

struct Pack {
  VecF v;
  Pack() = default;
  explicit Pack(float s) : v(VecF{} + s) {}
  explicit Pack(VecF x) : v(x) {}
  static Pack load(const float* p) {
    Pack r;
    std::memcpy(&r.v, p, sizeof r.v);
    return r;
  }
  void store(float* p) const { std::memcpy(p, &v, sizeof v); }
  float operator[](int l) const { return v[l]; }
  void set(int l, float x) { v[l] = x; }
};

inline Pack operator+(Pack a, Pack b) {
  return Pack(a.v + b.v);
}
inline Pack operator+(Pack a, float s) {
  return Pack(a.v + s);
}
inline Pack operator+(float s, Pack a) {
  return Pack(s + a.v);
}
inline Pack operator-(Pack a, Pack b) {
  return Pack(a.v - b.v);
}
inline Pack operator-(Pack a, float s) {
  return Pack(a.v - s);
}
inline Pack operator-(float s, Pack a) {
  return Pack(s - a.v);
}
inline Pack operator-(Pack a) {
  return Pack(-a.v);
}
inline Pack operator*(Pack a, Pack b) {
  return Pack(a.v * b.v);
}
inline Pack operator*(float s, Pack a) {
  return Pack(s * a.v);
}
inline Pack operator*(Pack a, float s) {
  return Pack(a.v * s);
}
inline Pack operator/(float s, Pack a) {
  return Pack(s / a.v);
}
inline Pack operator/(Pack a, Pack b) {
  return Pack(a.v / b.v);
}

// Lane masks and bit views for math::exp_poly.
inline VecI operator<(Pack a, float s) {
  return a.v < s;
}
inline VecI operator>(Pack a, float s) {
  return a.v > s;
}
inline Pack select(VecI m, Pack a, Pack b) {
  return Pack(m ? a.v : b.v);
}
inline VecU bits_of(Pack a) {
  return (VecU)a.v;
}  // same-size vector cast: a bit copy
inline Pack from_bits(Pack /*like*/, VecU u) {
  return Pack((VecF)u);
}
inline Pack clamp_f(Pack a, float lo, float hi) {
  VecF x = a.v;
  x = hi < x ? VecF{} + hi : x;  // minps(hi, x): a NaN lane stays NaN
  x = lo > x ? VecF{} + lo : x;  // maxps(lo, x)
  return Pack(x);
}
L2O_ALWAYS_INLINE Pack exp_f(Pack a) {
  return math::exp_poly(a);
}

// kLanes state values in memory as fp32 or bfloat16 (lane-wise bf16_from_float and
// float_from_bf16 of coordinate.hpp).
inline Pack load_state(const float* p) {
  return Pack::load(p);
}
inline void store_state(float* p, const Pack& v) {
  v.store(p);
}
inline Pack load_state(const bfloat16* p) {
  VecU16 h;
  std::memcpy(&h, p, sizeof h);
  return Pack((VecF)(__builtin_convertvector(h, VecU) << 16));
}
inline void store_state(bfloat16* p, const Pack& v) {
  const VecU u = bits_of(v);
  const VecU rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  const VecU r = (u & 0x7FFFFFFFu) > 0x7F800000u ? (u >> 16) | 0x40u : rounded;
  const VecU16 h = __builtin_convertvector(r, VecU16);
  std::memcpy(p, &h, sizeof h);
}

L2O_ISA_END
}  // namespace cpu
}  // namespace l2o
