// The CPU's optimizer step for a block of coordinates, with the gate pre-activations of
// each layer computed as a register-blocked matrix product (docs/performance.md):
//   Z (4H x block) = W (4H x K) . U (K x block) + b,   U = [layer input ; h_prev].
// A tile of kTileRows gate rows x kTileVecs SIMD vectors of coordinates is accumulated in
// registers over k; each weight is loaded once per tile and broadcast, each input vector
// once per k, so the loop runs at the FMA units' rate rather than the load ports'. The
// weights are read from a copy of phi whose W rows are interleaved by kTileRows
// (interleaved_index in maths/coordinate.hpp), so a tile's weights for one k are
// contiguous. The gates are then applied with lstm_unit, the same function the CUDA
// kernels and the generic cell call.
#pragma once

#include "maths/simd_pack.hpp"

#include "host/cpu/isa.hpp"
#include "l2o/layout.hpp"
#include "maths/coordinate.hpp"

#include <cstddef>

namespace l2o {
namespace cpu {
L2O_ISA_BEGIN

// Registers: kTileRows x kTileVecs accumulators, kTileVecs inputs and a broadcast weight
// must fit in the register file (16 vector registers below AVX-512, 32 with it).
#if defined(__AVX512F__)
constexpr int kTileRows = 8;
#else
constexpr int kTileRows = 4;
#endif
constexpr int kTileVecs = 2;
constexpr int kBlock = kTileVecs * kLanes;  // coordinates per block

#define L2O_UNROLL_CPU _Pragma("GCC unroll 16")

// acc[q][v] += sum over i < count of w[i * ws + q] x[i * xs + v], for q < C, v < kTileVecs:
// the register tile both products are made of (gate_product here, transpose_product in
// lstm_tile_backward.hpp). Each of the C weights of step i is loaded once and broadcast,
// each input vector once.
template <int C>
L2O_ALWAYS_INLINE void tile_fma(const float* __restrict__ w, std::size_t ws,
                                const Pack* __restrict__ x, int xs, int count,
                                VecF (&acc)[C][kTileVecs]) {
  constexpr int V = kTileVecs;
  for (int i = 0; i < count; ++i, w += ws) {
    VecF xv[V];
    L2O_UNROLL_CPU
    for (int v = 0; v < V; ++v) xv[v] = x[i * xs + v].v;
    L2O_UNROLL_CPU
    for (int q = 0; q < C; ++q) {
      const float wq = w[q];
      L2O_UNROLL_CPU
      for (int v = 0; v < V; ++v) acc[q][v] += wq * xv[v];
    }
  }
}

// z[r * kTileVecs + v] = b[r] + sum_k W[r][k] u[k * us + v] for the `rows` gate rows, W
// read from its interleaved copy `tiles` (rows a multiple of kTileRows); entry k of the
// input column is kTileVecs packs at u + k * us.
L2O_KERNEL void gate_product(const float* __restrict__ tiles, const float* __restrict__ b, int rows,
                             int K, const Pack* __restrict__ u, int us, Pack* __restrict__ z) {
  constexpr int R = kTileRows, V = kTileVecs;
  for (int r0 = 0; r0 < rows; r0 += R) {
    VecF acc[R][V];
    L2O_UNROLL_CPU
    for (int q = 0; q < R; ++q) {
      L2O_UNROLL_CPU
      for (int v = 0; v < V; ++v) acc[q][v] = VecF{} + b[r0 + q];
    }
    tile_fma<R>(tiles + static_cast<std::size_t>(r0) * K, R, u, us, K, acc);
    L2O_UNROLL_CPU
    for (int q = 0; q < R; ++q) {
      L2O_UNROLL_CPU
      for (int v = 0; v < V; ++v) z[(r0 + q) * V + v].v = acc[q][v];
    }
  }
}

// One coordinate's state rows as coordinate_inputs reads them: row k at src[k * ld],
// written (a step) at dst[k * ld]; fp32 or bfloat16 storage (state_value of
// maths/coordinate.hpp).
template <class S>
struct LaneStateIO {
  const S* src;
  S* dst;
  std::size_t ld;
  float load(int k) const { return state_value(src + k * ld); }
  void store(int k, float v) const { set_state_value(dst + k * ld, v); }
};

// The inputs of a block (coordinate_inputs): input k of coordinate i into lane i % kLanes
// of u[k * us + i / kLanes] (the first layer's input column), for the first `inputs`
// inputs; the nominal updates into nominal (kTileVecs packs) when not null. The moment
// rows, if any, are read at src and, when dst is not null, written updated at dst.
template <class S>
L2O_ALWAYS_INLINE void inputs_block(const float* grad, const PreprocessParams& pre, int inputs,
                                    Pack* u, int us, const S* src, S* dst, std::size_t ld,
                                    Pack* nominal) {
  for (int i = 0; i < kBlock; ++i) {
    float xi[kMaxInputs] = {};
    LaneStateIO<S> io{src + i, dst ? dst + i : nullptr, ld};
    const float nom = coordinate_inputs(grad[i], pre, io, dst != nullptr, xi);
    for (int k = 0; k < inputs; ++k) u[k * us + i / kLanes].set(i % kLanes, xi[k]);
    if (nominal) nominal[i / kLanes].set(i % kLanes, nom);
  }
}

// Asks for the `rows` state rows of the block at p (row k at p + k * ld) to be brought
// into L2. A block's rows are `rows` separate streams n floats apart, too many for the
// hardware prefetchers to follow, so without this every block waits on a cache miss per
// row (measured: 40% of the step at n = 10^5). Into L1 they evicted the working set.
template <class S>
L2O_ALWAYS_INLINE void prefetch_rows(const S* p, int rows, std::size_t ld) {
  for (int k = 0; k < rows; ++k)
    for (std::size_t b = 0; b < kBlock * sizeof(S); b += 64)
      __builtin_prefetch(reinterpret_cast<const char*>(p + k * ld) + b, 1, 2);
}
// The same for a block's theta and gradient.
L2O_ALWAYS_INLINE void prefetch_coordinates(const float* theta, const float* grad) {
  for (std::size_t b = 0; b < kBlock * sizeof(float); b += 64) {
    __builtin_prefetch(reinterpret_cast<const char*>(theta) + b, 1, 2);
    __builtin_prefetch(reinterpret_cast<const char*>(grad) + b, 0, 2);
  }
}

// One optimizer step for the kBlock coordinates at theta/grad: state row k read at
// src + k * ld and written at dst + k * ld (the same buffer for an in-place step).
template <int H, class S>
L2O_ALWAYS_INLINE void step_tile(const StepArgs& a, float* theta, const float* grad, const S* src,
                                 S* dst, std::size_t ld) {
  constexpr int V = kTileVecs;
  const WeightLayout& L = a.layout;
  alignas(64) Pack u[2 * H * V];  // [layer input ; h_prev], nin <= H
  alignas(64) Pack z[4 * H * V];
  Pack nominal[V];
  inputs_block(grad, a.pre, L.num_inputs, u, V, src, dst, ld, nominal);
  for (int l = 0; l < L.layers; ++l) {
    const int nin = L.layer_input(l), K = nin + H;
    const S* hs = src + static_cast<std::size_t>(2 * l) * H * ld;
    const S* cs = hs + static_cast<std::size_t>(H) * ld;
    S* hd = dst + static_cast<std::size_t>(2 * l) * H * ld;
    S* cd = hd + static_cast<std::size_t>(H) * ld;
    for (int j = 0; j < H; ++j) L2O_UNROLL_CPU
    for (int v = 0; v < V; ++v) u[(nin + j) * V + v] = load_state(hs + j * ld + v * kLanes);
    gate_product(a.tiles + L.w_offset(l), a.phi + L.b_offset(l), 4 * H, K, u, V, z);
    for (int j = 0; j < H; ++j) {
      L2O_UNROLL_CPU
      for (int v = 0; v < V; ++v) {
        Pack c = load_state(cs + j * ld + v * kLanes), h, act[5];
        lstm_unit(z[j * V + v], z[(H + j) * V + v], z[(2 * H + j) * V + v], z[(3 * H + j) * V + v],
                  a.forget_bias, c, h, act);
        store_state(cd + j * ld + v * kLanes, c);
        store_state(hd + j * ld + v * kLanes, h);
        u[j * V + v] = h;  // the next layer's input (this layer's product is done)
      }
    }
  }
  const float* wo = a.phi + L.out_w_offset();
  L2O_UNROLL_CPU
  for (int v = 0; v < V; ++v) {
    Pack out(a.phi[L.out_b_offset()]);
    for (int j = 0; j < H; ++j) out = out + wo[j] * u[j * V + v];
    const Pack th = Pack::load(theta + v * kLanes);
    // The paper's update as its own expression, to keep its fused multiply-add as close as
    // possible to what it was before the options existed. Not bit for bit: on the AVX2 and
    // AVX-512 paths, held-out losses differ from the earlier build in the last digit after a
    // few steps (the compiler fuses some multiply-adds differently); the generic path is
    // unchanged.
    if (!a.bounded_output && a.pre.nominal_lr == 0.0f) {
      (th + a.output_scale * out).store(theta + v * kLanes);
    } else {
      Pack next = th + output_map(out, a.output_scale, a.bounded_output);
      if (a.pre.nominal_lr != 0.0f) next = next + nominal[v];
      next.store(theta + v * kLanes);
    }
  }
}

L2O_ISA_END
}  // namespace cpu
}  // namespace l2o
