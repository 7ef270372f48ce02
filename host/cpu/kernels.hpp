// CPU loops over coordinates, kLanes at a time, calling the maths of coordinate.hpp:
// the optimizer step and the backward of an unroll. Used by the CPU backend
// (cpu_backend.cpp) and the CPU unroll (cpu_unroll.cpp).
#pragma once

#include "maths/simd_pack.hpp"

#include "l2o/config.hpp"
#include "l2o/segment.hpp"
#include "l2o/weights.hpp"
#include "maths/coordinate.hpp"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace l2o {
namespace cpu {

struct StepArgs {
  const float* phi;
  WeightLayout layout;
  PreprocessParams pre;
  float forget_bias;
  float output_scale;

  static StepArgs from(const Weights& phi, const float* data) {
    const OptimizerConfig& c = phi.config();
    return {data, phi.layout(), PreprocessParams::from(c), c.forget_bias, c.output_scale};
  }
};

// Reads state rows from src and writes them to dst (the same buffer for an in-place step);
// S: how the state is stored (float or bfloat16).
template <class S>
struct PackCopyIOT {
  const S* src;
  S* dst;
  std::size_t ld;
  Pack load(int k) const { return load_state(src + k * ld); }
  void store(int k, const Pack& p) const { store_state(dst + k * ld, p); }
};
using PackCopyIO = PackCopyIOT<float>;

// A state held in local memory (the backward's carried gradients).
struct LocalIO {
  Pack* p;
  Pack load(int k) const { return p[k]; }
  void store(int k, const Pack& v) const { p[k] = v; }
};

inline void preprocess_lanes(const float* grad, const PreprocessParams& pre, Pack* x) {
  for (int l = 0; l < kLanes; ++l) {
    float xi[2] = {0.0f, 0.0f};
    preprocess(grad[l], pre, xi);
    x[0].v[l] = xi[0];
    x[1].v[l] = xi[1];
  }
}

// One step for the kLanes coordinates at theta/grad, state rows read at src + k * ld and
// written at dst + k * ld.
template <int H, class S>
inline void step_block(const StepArgs& a, float* theta, const float* grad, const S* src, S* dst,
                       std::size_t ld) {
  Pack x[2];
  preprocess_lanes(grad, a.pre, x);
  PackCopyIOT<S> io{src, dst, ld};
  const Pack g =
      lstm_forward_step<H>(RowMajorPhi{a.phi}, a.layout, a.forget_bias, a.output_scale, x, io);
  (Pack::load(theta) + g).store(theta);
}

// step_block over n coordinates, n a multiple of kLanes, in parallel.
template <int H, class S>
void step_blocks(const StepArgs& a, float* theta, const float* grad, const S* src, S* dst,
                 std::size_t n, std::size_t ld) {
  const long long blocks = static_cast<long long>(n / kLanes);
#pragma omp parallel for schedule(static)
  for (long long b = 0; b < blocks; ++b) {
    const std::size_t i0 = static_cast<std::size_t>(b) * kLanes;
    step_block<H, S>(a, theta + i0, grad + i0, src + i0, dst + i0, ld);
  }
}

// A piece of one tensor of a multi-tensor step: coordinates [begin, end) of segment
// `segment`. Chunks start at multiples of kChunk within their tensor, so they hold whole
// blocks of kLanes but for the tensor's last one.
struct Chunk {
  std::size_t segment, begin, end;
};
constexpr std::size_t kChunk = 64 * kLanes;

template <class S>
std::vector<Chunk> split(const Segment<S>* segments, std::size_t count) {
  std::vector<Chunk> chunks;
  for (std::size_t s = 0; s < count; ++s)
    for (std::size_t b = 0; b < segments[s].n; b += kChunk)
      chunks.push_back({s, b, std::min(b + kChunk, segments[s].n)});
  return chunks;
}

// True when every gradient of every chunk is finite (one parallel pass).
template <class S>
bool all_finite(const Segment<S>* segments, const std::vector<Chunk>& chunks) {
  int bad = 0;
  const long long m = static_cast<long long>(chunks.size());
#pragma omp parallel for reduction(| : bad) schedule(static)
  for (long long c = 0; c < m; ++c) {
    const float* g = segments[chunks[c].segment].grad;
    for (std::size_t i = chunks[c].begin; i < chunks[c].end; ++i) bad |= !is_finite(g[i]);
  }
  return !bad;
}

// Where the backward of one block of coordinates puts what the phi reduction needs, for
// every step of the unroll: gate gradients dz and cell inputs [in ; h_prev] per layer,
// the output's gradient and the top layer's h.
struct BlockSink {
  const WeightLayout* L;
  int T;
  int t = 0;
  std::vector<Pack> dz[kMaxLayers], xin[kMaxLayers], dout, htop;

  BlockSink(const WeightLayout& layout, int steps) : L(&layout), T(steps) {
    const int H = layout.hidden;
    for (int l = 0; l < layout.layers; ++l) {
      dz[l].resize(static_cast<std::size_t>(T) * 4 * H);
      xin[l].resize(static_cast<std::size_t>(T) * layout.row_length(l));
    }
    dout.resize(T);
    htop.resize(static_cast<std::size_t>(T) * H);
  }
  void output(const Pack& d, const Pack* h) {
    dout[t] = d;
    for (int j = 0; j < L->hidden; ++j) htop[t * L->hidden + j] = h[j];
  }
  void layer(int l, const Pack* g, const Pack* in, const Pack* hp) {
    const int H = L->hidden, nin = L->layer_input(l), K = nin + H;
    for (int r = 0; r < 4 * H; ++r) dz[l][t * 4 * H + r] = g[r];
    for (int k = 0; k < nin; ++k) xin[l][t * K + k] = in[k];
    for (int j = 0; j < H; ++j) xin[l][t * K + nin + j] = hp[j];
  }

  // acc[e] += sum over steps of this block's contribution to dL/dphi[e], lane by lane.
  void accumulate(Pack* acc) const {
    const int H = L->hidden;
    for (int l = 0; l < L->layers; ++l) {
      const int K = L->row_length(l);
      Pack* dW = acc + L->w_offset(l);
      Pack* db = acc + L->b_offset(l);
      for (int r = 0; r < 4 * H; r += 4) {  // 4 gate rows x 4 columns: 16 sums in registers
        const Pack* dzr = dz[l].data() + r;
        for (int q = 0; q < 4; ++q) {
          Pack sb(0.0f);
          for (int t = 0; t < T; ++t) sb = sb + dzr[t * 4 * H + q];
          db[r + q] = db[r + q] + sb;
        }
        int k = 0;
        for (; k + 4 <= K; k += 4) {
          Pack s[4][4];
          for (auto& row : s)
            for (auto& v : row) v = Pack(0.0f);
          for (int t = 0; t < T; ++t) {
            const Pack* d = dzr + t * 4 * H;
            const Pack* x = xin[l].data() + t * K + k;
            for (int q = 0; q < 4; ++q)
              for (int c = 0; c < 4; ++c) s[q][c] = s[q][c] + d[q] * x[c];
          }
          for (int q = 0; q < 4; ++q)
            for (int c = 0; c < 4; ++c) dW[(r + q) * K + k + c] = dW[(r + q) * K + k + c] + s[q][c];
        }
        for (; k < K; ++k) {
          Pack s[4] = {Pack(0.0f), Pack(0.0f), Pack(0.0f), Pack(0.0f)};
          for (int t = 0; t < T; ++t)
            for (int q = 0; q < 4; ++q) s[q] = s[q] + dzr[t * 4 * H + q] * xin[l][t * K + k];
          for (int q = 0; q < 4; ++q) dW[(r + q) * K + k] = dW[(r + q) * K + k] + s[q];
        }
      }
    }
    Pack* dwo = acc + L->out_w_offset();
    Pack sb(0.0f);
    for (int t = 0; t < T; ++t) sb = sb + dout[t];
    acc[L->out_b_offset()] = acc[L->out_b_offset()] + sb;
    for (int j = 0; j < H; ++j) {
      Pack s(0.0f);
      for (int t = 0; t < T; ++t) s = s + dout[t] * htop[t * H + j];
      dwo[j] = dwo[j] + s;
    }
  }
};

}  // namespace cpu
}  // namespace l2o
