// The CPU's backward of an unroll for a block of kBlock coordinates (docs/method.md §3),
// with the same register-blocked products as the forward (lstm_tile.hpp):
//   - each step's forward is recomputed once, all layers together, from the recorded
//     state (the tape keeps states and gradients only), keeping every layer's inputs,
//     activations and cell states for the block;
//   - dL/d[in ; h_prev] = W^T dz is a product with the 4H gate rows as inner dimension,
//     blocked kTileRows columns x kTileVecs vectors;
//   - dL/dW = sum over steps and coordinates of dz [in ; h_prev]^T is accumulated after
//     the block's T steps, a tile of dW in registers over all steps and vectors, so each
//     accumulator is read and written once per block.
// The per-unit maths are lstm_unit and lstm_unit_backward of maths/coordinate.hpp.
#pragma once

#include "host/cpu/isa.hpp"
#include "host/cpu/lstm_tile.hpp"
#include "maths/coordinate.hpp"
#include "maths/simd_pack.hpp"

#include <cstddef>
#include <vector>

namespace l2o {
namespace cpu {
L2O_ISA_BEGIN

// du[k * kTileVecs + v] = sum over the `rows` gate rows r of W[r * ldw + k] dz[r * ds + v]
// for k < K; W row-major (as phi stores it), so a tile's kTileRows weights of one row are
// contiguous.
L2O_KERNEL void transpose_product(const float* __restrict__ W, int rows, int ldw, int K,
                                  const Pack* __restrict__ dz, int ds, Pack* __restrict__ du) {
  constexpr int C = kTileRows, V = kTileVecs;
  int k0 = 0;
  for (; k0 + C <= K; k0 += C) {
    VecF acc[C][V] = {};
    tile_fma<C>(W + k0, ldw, dz, ds, rows, acc);
    L2O_UNROLL_CPU
    for (int q = 0; q < C; ++q) {
      L2O_UNROLL_CPU
      for (int v = 0; v < V; ++v) du[(k0 + q) * V + v].v = acc[q][v];
    }
  }
  for (; k0 < K; ++k0) {  // the last K % C columns
    VecF acc[1][V] = {};
    tile_fma<1>(W + k0, ldw, dz, ds, rows, acc);
    L2O_UNROLL_CPU
    for (int v = 0; v < V; ++v) du[k0 * V + v].v = acc[0][v];
  }
}

// acc[r * K + k] += sum over n < count of a[r * count + n] * b[k * count + n], lane by
// lane, for r < rows (a multiple of kAccRows) and k < K: dW's outer products summed over
// a block's steps and vectors (n), each row of a and b contiguous, a tile of kAccRows x
// kAccCols sums in registers.
#if defined(__AVX512F__)
constexpr int kAccRows = 4, kAccCols = 4;
#else
constexpr int kAccRows = 4, kAccCols = 2;
#endif
L2O_KERNEL void accumulate_outer(const Pack* __restrict__ a, int rows, const Pack* __restrict__ b,
                                 int K, int count, Pack* __restrict__ acc) {
  for (int r0 = 0; r0 < rows; r0 += kAccRows) {
    const Pack* ar = a + static_cast<std::size_t>(r0) * count;
    int k0 = 0;
    for (; k0 + kAccCols <= K; k0 += kAccCols) {
      const Pack* bk = b + static_cast<std::size_t>(k0) * count;
      VecF s[kAccRows][kAccCols];
      L2O_UNROLL_CPU
      for (int q = 0; q < kAccRows; ++q) {
        L2O_UNROLL_CPU
        for (int c = 0; c < kAccCols; ++c) s[q][c] = VecF{};
      }
      for (int n = 0; n < count; ++n) {
        VecF x[kAccCols];
        L2O_UNROLL_CPU
        for (int c = 0; c < kAccCols; ++c) x[c] = bk[c * count + n].v;
        L2O_UNROLL_CPU
        for (int q = 0; q < kAccRows; ++q) {
          const VecF d = ar[q * count + n].v;
          L2O_UNROLL_CPU
          for (int c = 0; c < kAccCols; ++c) s[q][c] += d * x[c];
        }
      }
      L2O_UNROLL_CPU
      for (int q = 0; q < kAccRows; ++q) {
        L2O_UNROLL_CPU
        for (int c = 0; c < kAccCols; ++c) acc[(r0 + q) * K + k0 + c].v += s[q][c];
      }
    }
    for (; k0 < K; ++k0) {
      const Pack* bk = b + static_cast<std::size_t>(k0) * count;
      VecF s[kAccRows];
      L2O_UNROLL_CPU
      for (int q = 0; q < kAccRows; ++q) s[q] = VecF{};
      for (int n = 0; n < count; ++n) {
        const VecF x = bk[n].v;
        L2O_UNROLL_CPU
        for (int q = 0; q < kAccRows; ++q) s[q] += ar[q * count + n].v * x;
      }
      L2O_UNROLL_CPU
      for (int q = 0; q < kAccRows; ++q) acc[(r0 + q) * K + k0].v += s[q];
    }
  }
}

// One thread's workspace for the backward of blocks of kBlock coordinates over T steps.
// The per-step inputs and gate gradients that the dW outer products need are kept
// entry-major: entry e (an input k or a gate row r) of layer l holds T * kTileVecs packs,
// step t's vectors at t * kTileVecs, so each entry is one contiguous run for
// accumulate_outer; the products read them with a stride.
template <int H>
class TileBackward {
  static constexpr int V = kTileVecs;

 public:
  TileBackward(const StepArgs& a, int T) : a_(a), L_(a.layout), T_(T), TV_(T * V) {
    std::size_t u = 0;
    for (int l = 0; l < L_.layers; ++l) {
      uoff_[l] = u;
      u += static_cast<std::size_t>(L_.row_length(l)) * TV_;
    }
    u_.resize(u);
    dz_.resize(static_cast<std::size_t>(L_.layers) * 4 * H * TV_);
    dout_.resize(TV_);
    htop_.resize(static_cast<std::size_t>(H) * TV_);
    act_.resize(static_cast<std::size_t>(L_.layers) * 4 * H * V);
    cp_.resize(static_cast<std::size_t>(L_.layers) * H * V);
    tc_.resize(cp_.size());
    carry_.resize(2 * cp_.size());
  }

  // The backward of the block at coordinate i0 over all T steps, its contribution to
  // dL/dphi added lane-wise to acc (phi's layout).
  void block(const BackwardArgs& b, std::size_t i0, Pack* acc) {
    for (Pack& p : carry_) p = Pack(0.0f);
    Pack lambda[V];
    for (Pack& p : lambda) p = Pack(0.0f);
    const std::size_t ld = b.ld;
    for (int t = T_ - 1; t >= 0; --t) {
      const float* g1 = b.grads + static_cast<std::size_t>(t + 1) * ld + i0;
      L2O_UNROLL_CPU
      for (int v = 0; v < V; ++v)
        lambda[v] = lambda[v] + b.omega[t + 1] * Pack::load(g1 + v * kLanes);
      recompute(b, t, t, i0);
      backward_step(t, lambda);
    }
    accumulate(acc);
  }

  // Step t alone for the block at i0, for a backward that goes step by step over every
  // block (LSTM+GAC: the carry is averaged over the coordinates between steps). The
  // carried dL/dstate (the LSTM's rows, at carry + row * ld) and lambda (ld floats) are
  // read from and written back to full-width buffers. The step's products for dL/dphi are
  // kept in the workspace's step `slot` (< T), so that several blocks' steps are
  // accumulated together: flush() adds the first `used` slots to acc.
  void step(const BackwardArgs& b, int t, std::size_t i0, float* carry, float* lambda_buf,
            int slot) {
    const std::size_t ld = b.ld;
    const int rows = 2 * L_.layers * H;
    for (int k = 0; k < rows; ++k) L2O_UNROLL_CPU
    for (int v = 0; v < V; ++v)
      carry_[k * V + v] = Pack::load(carry + static_cast<std::size_t>(k) * ld + i0 + v * kLanes);
    Pack lambda[V];
    const float* g1 = b.grads + static_cast<std::size_t>(t + 1) * ld + i0;
    L2O_UNROLL_CPU
    for (int v = 0; v < V; ++v)
      lambda[v] =
          Pack::load(lambda_buf + i0 + v * kLanes) + b.omega[t + 1] * Pack::load(g1 + v * kLanes);
    recompute(b, t, slot, i0);
    backward_step(slot, lambda);
    for (int k = 0; k < rows; ++k) L2O_UNROLL_CPU
    for (int v = 0; v < V; ++v)
      carry_[k * V + v].store(carry + static_cast<std::size_t>(k) * ld + i0 + v * kLanes);
    L2O_UNROLL_CPU
    for (int v = 0; v < V; ++v) lambda[v].store(lambda_buf + i0 + v * kLanes);
  }

  // Adds the products of slots 0..used-1 (the steps since the last flush) to acc. Slots
  // from `used` on contribute nothing: their values (left from an earlier flush) are
  // zeroed first, so that not even a non-finite one reaches acc.
  void flush(int used, Pack* acc) {
    if (used == 0) return;
    for (int slot = used; slot < T_; ++slot) {
      for (int l = 0; l < L_.layers; ++l) {
        Pack* dz = dz_at(l, slot);
        for (int r = 0; r < 4 * H; ++r) L2O_UNROLL_CPU
        for (int v = 0; v < V; ++v) dz[r * TV_ + v] = Pack(0.0f);
        Pack* u = u_at(l, slot);
        for (int k = 0; k < L_.row_length(l); ++k) L2O_UNROLL_CPU
        for (int v = 0; v < V; ++v) u[k * TV_ + v] = Pack(0.0f);
      }
      for (int j = 0; j < H; ++j) L2O_UNROLL_CPU
      for (int v = 0; v < V; ++v)
        htop_[j * TV_ + static_cast<std::size_t>(slot) * V + v] = Pack(0.0f);
      L2O_UNROLL_CPU
      for (int v = 0; v < V; ++v) dout_[static_cast<std::size_t>(slot) * V + v] = Pack(0.0f);
    }
    accumulate(acc);
  }

 private:
  Pack* u_at(int l, int t) { return u_.data() + uoff_[l] + static_cast<std::size_t>(t) * V; }
  Pack* dz_at(int l, int t) {
    return dz_.data() + static_cast<std::size_t>(l) * 4 * H * TV_ + static_cast<std::size_t>(t) * V;
  }

  // Step t's forward for the block from the recorded state, keeping each layer's input
  // column (u_), activations, cell state before the step and tanh of the one after, in
  // the workspace's step `slot`.
  void recompute(const BackwardArgs& b, int t, int slot, std::size_t i0) {
    const std::size_t ld = b.ld;
    const float* grad = b.grads + static_cast<std::size_t>(t) * ld + i0;
    const float* st = b.states + static_cast<std::size_t>(t) * b.state_dim * ld + i0;
    inputs_block(grad, a_.pre, L_.num_inputs, u_at(0, slot), TV_, st, static_cast<float*>(nullptr),
                 ld, nullptr);
    alignas(64) Pack z[4 * H * V];
    for (int l = 0; l < L_.layers; ++l) {
      const int nin = L_.layer_input(l), K = nin + H;
      Pack* u = u_at(l, slot);
      const float* hs = st + static_cast<std::size_t>(2 * l) * H * ld;
      const float* cs = hs + static_cast<std::size_t>(H) * ld;
      for (int j = 0; j < H; ++j) L2O_UNROLL_CPU
      for (int v = 0; v < V; ++v) u[(nin + j) * TV_ + v] = Pack::load(hs + j * ld + v * kLanes);
      gate_product(a_.tiles + L_.w_offset(l), a_.phi + L_.b_offset(l), 4 * H, K, u, TV_, z);
      Pack* act = act_.data() + static_cast<std::size_t>(l) * 4 * H * V;
      Pack* cp = cp_.data() + static_cast<std::size_t>(l) * H * V;
      Pack* tc = tc_.data() + static_cast<std::size_t>(l) * H * V;
      // This layer's h: the next layer's input, or the top layer's output.
      const bool top = l + 1 == L_.layers;
      Pack* next = top ? htop_.data() + static_cast<std::size_t>(slot) * V : u_at(l + 1, slot);
      for (int j = 0; j < H; ++j) {
        L2O_UNROLL_CPU
        for (int v = 0; v < V; ++v) {
          const int e = j * V + v;
          const Pack c0 = Pack::load(cs + j * ld + v * kLanes);
          Pack c = c0, h, a5[5];
          lstm_unit(z[e], z[H * V + e], z[2 * H * V + e], z[3 * H * V + e], a_.forget_bias, c, h,
                    a5);
          for (int q = 0; q < 4; ++q) act[q * H * V + e] = a5[q];
          cp[e] = c0;
          tc[e] = a5[4];
          next[j * TV_ + v] = h;
        }
      }
    }
  }

  // The backward of the step recomputed in `slot`: dz of every layer (kept there for the dW
  // accumulation) and the carried dL/d(state) for the step before.
  void backward_step(int slot, const Pack* lambda) {
    const float* wo = a_.phi + L_.out_w_offset();
    Pack* dout = dout_.data() + static_cast<std::size_t>(slot) * V;
    alignas(64) Pack dh_above[H * V];
    alignas(64) Pack du[2 * H * V];
    const Pack* htop = htop_.data() + static_cast<std::size_t>(slot) * V;
    L2O_UNROLL_CPU
    for (int v = 0; v < V; ++v) {
      if (a_.bounded_output) {  // the derivative of the bound needs the output itself
        Pack out(a_.phi[L_.out_b_offset()]);
        for (int j = 0; j < H; ++j) out = out + wo[j] * htop[j * TV_ + v];
        dout[v] = output_derivative(out, a_.output_scale, true) * lambda[v];
      } else {
        dout[v] = a_.output_scale * lambda[v];
      }
    }
    for (int j = 0; j < H; ++j) L2O_UNROLL_CPU
    for (int v = 0; v < V; ++v) dh_above[j * V + v] = wo[j] * dout[v];
    for (int l = L_.layers - 1; l >= 0; --l) {
      const int nin = L_.layer_input(l), K = nin + H;
      const Pack* act = act_.data() + static_cast<std::size_t>(l) * 4 * H * V;
      const Pack* cp = cp_.data() + static_cast<std::size_t>(l) * H * V;
      const Pack* tc = tc_.data() + static_cast<std::size_t>(l) * H * V;
      Pack* carry_h = carry_.data() + static_cast<std::size_t>(2 * l) * H * V;
      Pack* carry_c = carry_h + H * V;
      Pack* dz = dz_at(l, slot);
      for (int j = 0; j < H; ++j) {
        L2O_UNROLL_CPU
        for (int v = 0; v < V; ++v) {
          const int e = j * V + v;
          Pack d4[4];
          lstm_unit_backward(act[e], act[H * V + e], act[2 * H * V + e], act[3 * H * V + e], cp[e],
                             tc[e], dh_above[e] + carry_h[e], carry_c[e], d4);
          for (int q = 0; q < 4; ++q) dz[(q * H + j) * TV_ + v] = d4[q];
        }
      }
      // The first layer's input needs no gradient: only its h_prev columns.
      const int k0 = l == 0 ? nin : 0;
      transpose_product(a_.phi + L_.w_offset(l) + k0, 4 * H, K, K - k0, dz, TV_, du + k0 * V);
      for (int e = 0; e < H * V; ++e) carry_h[e] = du[nin * V + e];
      if (l > 0)
        for (int e = 0; e < H * V; ++e) dh_above[e] = du[e];  // nin == H above the first layer
    }
  }

  // dL/dphi of the block's T steps, added to acc.
  void accumulate(Pack* acc) {
    for (int l = 0; l < L_.layers; ++l) {
      const Pack* dz = dz_at(l, 0);
      accumulate_outer(dz, 4 * H, u_at(l, 0), L_.row_length(l), TV_, acc + L_.w_offset(l));
      Pack* db = acc + L_.b_offset(l);
      for (int r = 0; r < 4 * H; ++r) {
        VecF s = VecF{};
        for (int n = 0; n < TV_; ++n) s += dz[r * TV_ + n].v;
        db[r].v += s;
      }
    }
    VecF sb = VecF{};
    for (int n = 0; n < TV_; ++n) sb += dout_[n].v;
    acc[L_.out_b_offset()].v += sb;
    Pack* dwo = acc + L_.out_w_offset();
    for (int j = 0; j < H; ++j) {
      VecF s = VecF{};
      for (int n = 0; n < TV_; ++n) s += dout_[n].v * htop_[j * TV_ + n].v;
      dwo[j].v += s;
    }
  }

  const StepArgs& a_;
  const WeightLayout& L_;
  int T_, TV_;
  std::size_t uoff_[kMaxLayers] = {};
  std::vector<Pack> u_, dz_, dout_, htop_, act_, cp_, tc_, carry_;
};

L2O_ISA_END
}  // namespace cpu
}  // namespace l2o
