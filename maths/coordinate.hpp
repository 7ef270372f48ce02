// The per-coordinate maths of the LSTM optimizer, written once for both backends.
//
// docs/method.md §1 and §3: every optimizee coordinate runs the same small network,
//   x_t = P(grad_t);  (h, c)_l = LSTM_l(input_l, (h, c)_l)  for each stacked layer;
//   update = output_scale * (w_o . h_last + b_o);  theta += update.
// The CPU backend instantiates these templates with a pack of SIMD lanes (several
// coordinates at once), the CUDA kernel with a plain float (one coordinate per thread).
// The value type V needs +, -, * with V and float, 1.0f / V, unary minus, and an
// exp_f(V) overload found by argument-dependent lookup.
//
// State access goes through an accessor with load(k) -> V and store(k, V), where
// k in [0, state_dim) is row (layer * 2 + {0: h, 1: c}) * H + unit: the CPU backend
// reads a SIMD vector of neighbouring coordinates, the CUDA kernel one float, both from
// the structure-of-arrays buffer state[k * n + i].
#pragma once

#include "l2o/bfloat16.hpp"
#include "l2o/config.hpp"
#include "l2o/layout.hpp"
#include "maths/hd.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace l2o {
L2O_ISA_BEGIN
namespace math {

L2O_HD float bits_to_float(std::uint32_t u) {
#if L2O_DEVICE_CODE
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

L2O_HD std::uint32_t float_to_bits(float f) {
#if L2O_DEVICE_CODE
  return __float_as_uint(f);
#else
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

// Lane-wise helpers the generic exp below needs (from_bits takes a value of the result
// type, so argument-dependent lookup finds a pack's overload); a SIMD pack type provides
// the same (maths/simd_pack.hpp).
L2O_HD float select(bool m, float a, float b) {
  return m ? a : b;
}
L2O_HD std::uint32_t bits_of(float x) {
  return float_to_bits(x);
}
L2O_HD float from_bits(float /*like*/, std::uint32_t u) {
  return bits_to_float(u);
}
// x limited to [lo, hi]; a NaN stays a NaN (a pack's overload compiles to min/max).
L2O_HD float clamp_f(float x, float lo, float hi) {
  x = hi < x ? hi : x;
  return lo > x ? lo : x;
}

// e^x in fp32 by a Cody-Waite reduction and a degree-6 polynomial (Cephes expf, ~1 ulp),
// branch-free, so that it compiles to straight SIMD code for a pack of lanes. NaN
// propagates; the input is clamped to where the result is a normal float (the LSTM only
// feeds it into 1 / (1 + e^x), where the clamp changes nothing visible in fp32).
template <class V>
L2O_HD V exp_poly(V x) {
  x = clamp_f(x, -87.33654f, 88.37626f);
  // Round x*log2(e) to an integer n held in the low mantissa bits of t (1.5 * 2^23 shift).
  const V t = x * 1.44269504088896341f + 12582912.0f;
  const V n = t - 12582912.0f;
  V r = x - n * 0.693359375f;  // ln 2 split in two for an exact reduction
  r = r + n * 2.12194440e-4f;
  V p = V(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const V y = p * r * r + r + 1.0f;
  // 2^n from the integer in t's mantissa: (n + 127) << 23, in unsigned arithmetic.
  return y * from_bits(y, (bits_of(t) - 0x4B400000u + 127u) << 23);
}

// e^x: the hardware approximation on the device (__expf, a few ulp for |x| < 88),
// exp_poly on the host.
L2O_HD float exp_f(float x) {
#if L2O_DEVICE_CODE
  return __expf(x);
#else
  return exp_poly(x);
#endif
}

L2O_HD float log_f(float x) {
#if L2O_DEVICE_CODE
  return __logf(x);
#else
  return std::log(x);
#endif
}

L2O_HD float abs_f(float x) {
  return x < 0.0f ? -x : x;
}

// tanh(x) by a rational function: x P(x^2) / Q(x^2), P of degree 6 and Q of degree 3 in
// x^2 (the minimax coefficients of Eigen's fast float tanh), x clamped to +-7.9053 where
// tanh rounds to +-1 in fp32. Absolute error <= 4e-7 (measured against double tanh on a
// 1e-5 grid over [-20, 20]); 14 vector operations and one division, no exponential, so
// the host's LSTM gates cost about half of what the exponential form costs. The device
// keeps 2 sigmoid(2x) - 1 with the hardware exponential (__expf), which is cheaper there.
template <class V>
L2O_HD V tanh_rational(V x) {
  x = clamp_f(x, -7.90531110763549805f, 7.90531110763549805f);
  const V x2 = x * x;
  V p = V(-2.76076847742355e-16f);
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  V q = V(1.19825839466702e-06f);
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return p * x / q;
}

// The gate functions. Device: sigmoid(x) = 1 / (1 + e^-x) with __expf, tanh(x) =
// 2 sigmoid(2x) - 1 (absolute error ~1e-7). Host: tanh_rational, and sigmoid(x) =
// (1 + tanh(x / 2)) / 2 (absolute error <= 2.3e-7; it reaches 0 below x = -15.8, where
// the exact value is under 1.4e-7).
template <class V>
L2O_HD V sigmoid(V x) {
#if L2O_DEVICE_CODE
  return 1.0f / (1.0f + exp_f(-x));
#else
  return 0.5f + 0.5f * tanh_rational(0.5f * x);
#endif
}

template <class V>
L2O_HD V tanh(V x) {
#if L2O_DEVICE_CODE
  return 2.0f * sigmoid(2.0f * x) - 1.0f;
#else
  return tanh_rational(x);
#endif
}

}  // namespace math
L2O_ISA_END

// Preprocessing constants, derived once from the configuration.
struct PreprocessParams {
  int two_inputs;   // 0: raw gradient (kNone), 1: log-magnitude and sign (kLogSign)
  float inv_p;      // 1 / p
  float threshold;  // e^-p: below it the gradient is "small"
  float exp_p;      // e^p
  // Running moments (OptimizerConfig::uses_moments): state rows moment_row .. + 3 hold
  // m, v, q1 = 1 - beta1^t and q2 = 1 - beta2^t (q kept as the running mean of 1, so a
  // state of zeros is the start, as for the LSTM's rows).
  int moments;        // 1 when the state has the moment rows
  int moment_inputs;  // 1: two more inputs, mhat / (sqrt(vhat) + eps), g / (sqrt(vhat) + eps)
  int moment_row;     // first moment row: layers * 2 * hidden
  int time_input;     // 1: one more input, beta2^t = 1 - q2 (the last input)
  float beta1, beta2, eps;
  float nominal_lr;  // the nominal term's learning rate (0: none)

  static PreprocessParams from(const OptimizerConfig& c) {
    PreprocessParams q;
    q.two_inputs = c.preprocess == Preprocess::kLogSign ? 1 : 0;
    q.inv_p = 1.0f / c.p;
    q.threshold = static_cast<float>(std::exp(-static_cast<double>(c.p)));
    q.exp_p = static_cast<float>(std::exp(static_cast<double>(c.p)));
    q.moments = c.uses_moments() ? 1 : 0;
    q.moment_inputs = c.moment_inputs ? 1 : 0;
    q.moment_row = c.layers * 2 * c.hidden;
    q.time_input = c.time_input ? 1 : 0;
    q.beta1 = c.beta1;
    q.beta2 = c.beta2;
    q.eps = c.moment_eps;
    q.nominal_lr = c.nominal_lr;
    return q;
  }
};

L2O_ISA_BEGIN

// The paper's Appendix A (equivalently the reference code's max(log(|g|)/p, -1) and
// clip(g e^p, -1, 1) without its epsilon):
//   |g| >= e^-p : (log|g| / p, sgn g)
//   otherwise   : (-1, e^p g)
// With kNone the single input is g itself. Writes 1 or 2 values to x.
L2O_HD void preprocess(float g, const PreprocessParams& q, float* x) {
  if (!q.two_inputs) {
    x[0] = g;
    return;
  }
  const float a = math::abs_f(g);
  if (a >= q.threshold) {
    x[0] = math::log_f(a) * q.inv_p;
    x[1] = g > 0.0f ? 1.0f : -1.0f;
  } else {
    x[0] = -1.0f;
    x[1] = g * q.exp_p;
  }
}

// The inputs of one coordinate's step and the nominal part of its update
// (docs/generalisation.md, options): the preprocessed gradient, then, with moments,
//   m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2,  q_k = beta_k q_k + 1 - beta_k,
//   r = 1 / (sqrt(v / q2) + eps),  inputs += (m / q1) r, g r  (moment_inputs),
//   nominal = -nominal_lr (m / q1) r,  inputs += 1 - q2 = beta2^t  (time_input, last).
// The moment rows are read through `state` (load(k), as the LSTM's rows) and, when
// `store`, written back updated (a step); the backward reads them without writing.
// Writes num_inputs values to x (at most kMaxInputs) and returns the nominal update (0
// without a nominal term). The moments depend on the gradients alone, which the
// meta-gradient holds constant (docs/method.md §3), so nothing here is differentiated.
template <class IO>
L2O_HD float coordinate_inputs(float g, const PreprocessParams& q, IO& state, bool store,
                               float* x) {
  preprocess(g, q, x);
  if (!q.moments) return 0.0f;
  const int k = q.moment_row;
  const float m = q.beta1 * state.load(k) + (1.0f - q.beta1) * g;
  const float v = q.beta2 * state.load(k + 1) + (1.0f - q.beta2) * g * g;
  const float q1 = q.beta1 * state.load(k + 2) + (1.0f - q.beta1);
  const float q2 = q.beta2 * state.load(k + 3) + (1.0f - q.beta2);
  if (store) {
    state.store(k, m);
    state.store(k + 1, v);
    state.store(k + 2, q1);
    state.store(k + 3, q2);
  }
  const float r = 1.0f / (sqrtf(v / q2) + q.eps);
  const float mhat = m / q1;
  const int at = q.two_inputs ? 2 : 1;
  if (q.moment_inputs) {
    x[at] = mhat * r;
    x[at + 1] = g * r;
  }
  if (q.time_input) x[at + 2 * q.moment_inputs] = 1.0f - q2;
  return -q.nominal_lr * mhat * r;
}

// The learned update from the top layer's output o = w_o . h + b_o: output_scale o, or
// output_scale tanh(o) when bounded (the bound alone: bounded_output); and its derivative
// in o.
template <class V>
L2O_HD V bounded_output(V o) {
  return math::tanh(o);
}
template <class V>
L2O_HD V output_map(V o, float output_scale, bool bounded) {
  if (bounded) o = bounded_output(o);
  return output_scale * o;
}
template <class V>
L2O_HD V output_derivative(V o, float output_scale, bool bounded) {
  if (!bounded) return V(output_scale);
  const V t = math::tanh(o);
  return output_scale * (1.0f - t * t);
}

// How a cell reads its weight matrix W (4H x ld, ld = nin + H): quad(r, k) gives the four
// weights of rows r..r+3 (r a multiple of 4) in column k, the four products the cell's
// inner loop makes with one input value.
//
// Row-major, as phi is stored (layout.hpp): four loads, ld apart.
struct RowMajorRows {
  const float* W;
  int ld;
  L2O_HD void quad(int r, int k, float& w0, float& w1, float& w2, float& w3) const {
    const float* p = W + r * ld + k;
    w0 = p[0];
    w1 = p[ld];
    w2 = p[2 * ld];
    w3 = p[3 * ld];
  }
};

// Gate rows interleaved by four ("quads"): the weights of rows r..r+3 in column k sit
// together at P[((r / 4) * ld + k) * 4 + 0..3]. On the GPU, where every thread of a warp
// reads the same weight from shared memory, that is one 16-byte load for four products
// instead of four 4-byte loads: shared-memory load instructions, not FMAs, bound the step
// kernel otherwise. quad_index maps phi's row-major order to this one; everything outside
// the W matrices (biases, output layer) keeps its place. P must be 16-byte aligned: every
// w_offset is a multiple of 4H floats.
struct QuadRows {
  const float* P;
  int ld;
  L2O_HD void quad(int r, int k, float& w0, float& w1, float& w2, float& w3) const {
    const float* p = P + (static_cast<std::size_t>(r >> 2) * ld + k) * 4;
#if L2O_DEVICE_CODE
    const float4 q = *reinterpret_cast<const float4*>(p);
    w0 = q.x;
    w1 = q.y;
    w2 = q.z;
    w3 = q.w;
#else
    w0 = p[0];
    w1 = p[1];
    w2 = p[2];
    w3 = p[3];
#endif
  }
};

// Where phi[e] (row-major) goes when the rows of every W matrix are interleaved by R:
// the weights of rows r..r+R-1 (r a multiple of R, which must divide 4H) in column k sit
// together at W + ((r / R) * ld + k) * R + 0..R-1. R = 4 is the quad layout above; the
// CPU's register-blocked product (host/cpu/lstm_tile.hpp) reads whole tiles of R rows.
// Everything outside the W matrices keeps its place.
L2O_HD std::size_t interleaved_index(const WeightLayout& L, std::size_t e, int R) {
  for (int l = 0; l < L.layers; ++l) {
    const std::size_t w0 = L.w_offset(l), ld = static_cast<std::size_t>(L.row_length(l));
    if (e >= w0 && e < L.b_offset(l)) {
      const std::size_t r = (e - w0) / ld, k = (e - w0) % ld, R_ = static_cast<std::size_t>(R);
      return w0 + ((r / R_) * ld + k) * R_ + r % R_;
    }
  }
  return e;
}
L2O_HD std::size_t quad_index(const WeightLayout& L, std::size_t e) {
  return interleaved_index(L, e, 4);
}

// phi seen by the cells: row-major (the stored order) or the quad layout.
struct RowMajorPhi {
  const float* phi;
  L2O_HD RowMajorRows rows(const WeightLayout& L, int l) const {
    return {phi + L.w_offset(l), L.row_length(l)};
  }
  L2O_HD const float* data() const { return phi; }
};
struct QuadPhi {
  const float* phi;
  L2O_HD QuadRows rows(const WeightLayout& L, int l) const {
    return {phi + L.w_offset(l), L.row_length(l)};
  }
  L2O_HD const float* data() const { return phi; }
};

// The gates of one LSTM unit from its four pre-activations (gate order i, f, g, o):
//   i, f, o = sigmoid(z_i), sigmoid(z_f + forget_bias), sigmoid(z_o);  g = tanh(z_g);
//   c = f c + i g;  h = o tanh(c).
// c and h are updated in place; act receives i, f, g, o and tanh(c), which the backward
// needs.
template <class V>
L2O_HD void lstm_unit(V zi, V zf, V zg, V zo, float forget_bias, V& c, V& h, V* act) {
  const V ig = math::sigmoid(zi);
  const V fg = math::sigmoid(zf + forget_bias);
  const V gg = math::tanh(zg);
  const V og = math::sigmoid(zo);
  c = fg * c + ig * gg;
  const V tc = math::tanh(c);
  h = og * tc;
  act[0] = ig;
  act[1] = fg;
  act[2] = gg;
  act[3] = og;
  act[4] = tc;
}

// One LSTM cell on one coordinate (or one pack of lanes):
//   z = W [in ; h] + b;  i, f, o = sigmoid(z_i), sigmoid(z_f + forget_bias), sigmoid(z_o);
//   g = tanh(z_g);  c = f c + i g;  h = o tanh(c).
// W (read through `rows`: RowMajorRows or QuadRows) is 4H x (nin + H) with gates in the
// order i, f, g, o; in has H slots of which the first nin are used. h and c are updated in
// place. If act is not null it receives the activations i, f, g, o (4H values), which the
// backward pass needs.
template <int H, class V, class Rows>
L2O_HD void lstm_cell_forward(const Rows& W, const float* __restrict__ b, int nin, const V* in,
                              V* h, V* c, float forget_bias, V* act = nullptr) {
  V z[4 * H];
  // Four gate rows at a time, so each input value is loaded once for four products.
  L2O_UNROLL_IF_SMALL(H)
  for (int r = 0; r < 4 * H; r += 4) {
    V a0 = V(b[r]), a1 = V(b[r + 1]), a2 = V(b[r + 2]), a3 = V(b[r + 3]);
    L2O_UNROLL
    for (int k = 0; k < H; ++k) {
      if (k < nin) {
        const V v = in[k];
        float w0, w1, w2, w3;
        W.quad(r, k, w0, w1, w2, w3);
        a0 = a0 + w0 * v;
        a1 = a1 + w1 * v;
        a2 = a2 + w2 * v;
        a3 = a3 + w3 * v;
      }
    }
    L2O_UNROLL
    for (int j = 0; j < H; ++j) {
      const V v = h[j];
      float w0, w1, w2, w3;
      W.quad(r, nin + j, w0, w1, w2, w3);
      a0 = a0 + w0 * v;
      a1 = a1 + w1 * v;
      a2 = a2 + w2 * v;
      a3 = a3 + w3 * v;
    }
    z[r] = a0;
    z[r + 1] = a1;
    z[r + 2] = a2;
    z[r + 3] = a3;
  }
  L2O_UNROLL_IF_SMALL(H)
  for (int j = 0; j < H; ++j) {
    V a[5];
    lstm_unit(z[j], z[H + j], z[2 * H + j], z[3 * H + j], forget_bias, c[j], h[j], a);
    if (act) {
      act[j] = a[0];
      act[H + j] = a[1];
      act[2 * H + j] = a[2];
      act[3 * H + j] = a[3];
    }
  }
}

// One optimizer step on one coordinate (or pack): runs the stacked cells on the inputs x
// (num_inputs values from coordinate_inputs) with the state read and written through
// `state`, and returns the learned update output_map(w_o . h_last + b_o). Phi: RowMajorPhi
// (phi as stored) or QuadPhi (phi rearranged by quad_index); the results are identical.
template <int H, class V, class StateIO, class Phi = RowMajorPhi>
L2O_HD V lstm_forward_step(Phi P, const WeightLayout& L, float forget_bias, float output_scale,
                           bool bounded, const V* x, StateIO& state) {
  const float* phi = P.data();
  V in[H];
  L2O_UNROLL
  for (int k = 0; k < H; ++k) in[k] = k < L.num_inputs ? x[k < kMaxInputs ? k : 0] : V(0.0f);
  for (int l = 0; l < L.layers; ++l) {
    V h[H], c[H];
    L2O_UNROLL
    for (int j = 0; j < H; ++j) {
      h[j] = state.load((2 * l) * H + j);
      c[j] = state.load((2 * l + 1) * H + j);
    }
    lstm_cell_forward<H>(P.rows(L, l), phi + L.b_offset(l), L.layer_input(l), in, h, c,
                         forget_bias);
    L2O_UNROLL
    for (int j = 0; j < H; ++j) {
      state.store((2 * l) * H + j, h[j]);
      state.store((2 * l + 1) * H + j, c[j]);
      in[j] = h[j];
    }
  }
  const float* wo = phi + L.out_w_offset();
  V out = V(phi[L.out_b_offset()]);
  L2O_UNROLL
  for (int j = 0; j < H; ++j) out = out + wo[j] * in[j];
  return output_map(out, output_scale, bounded);
}

// ---------------------------------------------------------------------------------------
// Backward (docs/method.md §3). With the optimizee gradients held constant, the meta-gradient
// of L = sum_t w_t F(theta_t) reaches the update g_t as dL/dg_t = lambda_{t+1}, the suffix
// sum lambda_t = w_t grad_t + lambda_{t+1}; from there it is ordinary LSTM backpropagation
// through time, coordinate by coordinate, the states entering the unroll held constant.
// The backward of a step recomputes that step's forward from the recorded state, so the
// tape holds only the states and gradients (~330 B per coordinate per step).

// out[q] = sum over the 4H gate rows r of W[r * ld + col + q] dz[r], for q < H: a block of
// H columns of W^T dz, four columns at a time so each dz value is loaded once for four
// products and the four sums stay in registers.
template <int H, class V>
L2O_HD void gate_rows_transpose(const float* __restrict__ W, int ld, int col, const V* dz, V* out) {
  L2O_UNROLL_IF_SMALL(H / 4)
  for (int j = 0; j < H; j += 4) {
    V a0(0.0f), a1(0.0f), a2(0.0f), a3(0.0f);
    L2O_UNROLL_IF_SMALL(4 * H)
    for (int r = 0; r < 4 * H; ++r) {
      const float* w = W + r * ld + col + j;
      const V d = dz[r];
      a0 = a0 + w[0] * d;
      a1 = a1 + w[1] * d;
      a2 = a2 + w[2] * d;
      a3 = a3 + w[3] * d;
    }
    out[j] = a0;
    out[j + 1] = a1;
    out[j + 2] = a2;
    out[j + 3] = a3;
  }
}

// Backward of one unit (lstm_unit): from its activations i, f, g, o, the cell state
// before the step (c_prev), tanh of the cell state after it (tc) and dh = dL/dh, with
// dc = dL/dc on entry, writes dz = dL/d(z_i, z_f, z_g, z_o) and leaves dL/dc_prev in dc.
template <class V>
L2O_HD void lstm_unit_backward(V i, V f, V g, V o, V c_prev, V tc, V dh, V& dc, V* dz) {
  const V d_o = dh * tc;
  const V dcj = dc + dh * o * (1.0f - tc * tc);
  dz[0] = dcj * g * i * (1.0f - i);
  dz[1] = dcj * c_prev * f * (1.0f - f);
  dz[2] = dcj * i * (1.0f - g * g);
  dz[3] = d_o * o * (1.0f - o);
  dc = dcj * f;
}

// Backward of one cell. Inputs: W (as in lstm_cell_forward), the forward's activations
// act (i, f, g, o), previous and new cell states c_prev and c, and dh = dL/dh_new.
// dc holds dL/dc_new on entry and dL/dc_prev on exit. Outputs: dz = dL/dz (4H gate
// pre-activations), dh_prev = dL/dh_prev (H) and, if din is not null, dL/din (nin,
// which must then equal H: only layers above the first need their input's gradient).
template <int H, class V>
L2O_HD void lstm_cell_backward(const float* __restrict__ W, int nin, const V* act, const V* c_prev,
                               const V* c, const V* dh, V* dc, V* dz, V* dh_prev, V* din) {
  L2O_UNROLL_IF_SMALL(H)
  for (int j = 0; j < H; ++j) {
    V d[4];
    lstm_unit_backward(act[j], act[H + j], act[2 * H + j], act[3 * H + j], c_prev[j],
                       math::tanh(c[j]), dh[j], dc[j], d);
    dz[j] = d[0];
    dz[H + j] = d[1];
    dz[2 * H + j] = d[2];
    dz[3 * H + j] = d[3];
  }
  // d[in ; h_prev] = W^T dz.
  const int ld = nin + H;
  gate_rows_transpose<H>(W, ld, nin, dz, dh_prev);
  if (din) gate_rows_transpose<H>(W, ld, 0, dz, din);  // nin == H here (a layer above the first)
}

// Backward of step t of an unroll for one coordinate (or pack).
//   x         the step's preprocessed inputs (num_inputs values)
//   state     accessor of the state entering step t (read only)
//   dupdate   dL/dg_t = lambda_{t+1}
//   carry     accessor (load/store) of dL/d(state leaving step t) on entry and dL/d(state
//             entering step t) on exit, same row order as the state
//   sink      receives, for the phi reduction, sink.output(dout, h_top) with
//             dout = dL/d(w_o . h_top + b_o), and for each layer from the top,
//             sink.layer(l, dz, in, h_prev): the gate gradients and the cell's inputs.
// Layer l's forward is recomputed from the recorded state (layers below it again too:
// l + 1 cells for layer l), which keeps the working set to one layer's vectors.
template <int H, class V, class StateIn, class Carry, class Sink>
L2O_HD void lstm_backward_step(const float* __restrict__ phi, const WeightLayout& L,
                               float forget_bias, float output_scale, bool bounded, const V* x,
                               StateIn& state, V dupdate, Carry& carry, Sink& sink) {
  V dh_above[H];  // dL/dh of the layer being processed, from the layer above (or output)
  const float* wo = phi + L.out_w_offset();

  for (int l = L.layers - 1; l >= 0; --l) {
    // Recompute layers 0..l of this step; keep layer l's input, previous state and
    // activations.
    V in[H], hp[H], cp[H], h[H], c[H], act[4 * H];
    L2O_UNROLL
    for (int k = 0; k < H; ++k) in[k] = k < L.num_inputs ? x[k < kMaxInputs ? k : 0] : V(0.0f);
    for (int m = 0; m <= l; ++m) {
      L2O_UNROLL
      for (int j = 0; j < H; ++j) {
        hp[j] = state.load((2 * m) * H + j);
        cp[j] = state.load((2 * m + 1) * H + j);
        h[j] = hp[j];
        c[j] = cp[j];
      }
      lstm_cell_forward<H>(RowMajorRows{phi + L.w_offset(m), L.row_length(m)}, phi + L.b_offset(m),
                           L.layer_input(m), in, h, c, forget_bias, act);
      if (m < l) {
        L2O_UNROLL
        for (int j = 0; j < H; ++j) in[j] = h[j];
      }
    }
    if (l == L.layers - 1) {  // the first layer processed: the output's gradient
      V out = V(phi[L.out_b_offset()]);
      L2O_UNROLL
      for (int j = 0; j < H; ++j) out = out + wo[j] * h[j];
      const V dout = output_derivative(out, output_scale, bounded) * dupdate;
      sink.output(dout, h);
      L2O_UNROLL
      for (int j = 0; j < H; ++j) dh_above[j] = wo[j] * dout;
    }

    V dh[H], dc[H], dz[4 * H], dh_prev[H];
    L2O_UNROLL
    for (int j = 0; j < H; ++j) {
      dh[j] = dh_above[j] + carry.load((2 * l) * H + j);
      dc[j] = carry.load((2 * l + 1) * H + j);
    }
    const int nin = L.layer_input(l);
    lstm_cell_backward<H>(phi + L.w_offset(l), nin, act, cp, c, dh, dc, dz, dh_prev,
                          l > 0 ? dh_above : static_cast<V*>(nullptr));
    sink.layer(l, dz, in, hp);
    L2O_UNROLL
    for (int j = 0; j < H; ++j) {
      carry.store((2 * l) * H + j, dh_prev[j]);
      carry.store((2 * l + 1) * H + j, dc[j]);
    }
  }
}

L2O_ISA_END

// ---------------------------------------------------------------------------------------
// Hand-designed baselines (SGD, RMSprop, Adam, Nesterov momentum), one coordinate each.

struct BaselineParams {
  int kind;  // BaselineKind: 0 sgd, 1 rmsprop, 2 adam, 3 nag
  float lr, momentum, alpha, beta1, beta2, eps;
  float bias1, bias2;  // Adam's bias corrections 1 - beta^t, set per step by the host
};

L2O_ISA_BEGIN

// s0, s1: the coordinate's state (momentum / second moment), as many as the kind needs.
L2O_HD void baseline_update(const BaselineParams& p, float g, float& theta, float& s0, float& s1) {
  switch (p.kind) {
    case 0:  // SGD
      theta -= p.lr * g;
      break;
    case 1:  // RMSprop (PyTorch): s = alpha s + (1 - alpha) g^2; theta -= lr g / (sqrt(s) + eps)
      s0 = p.alpha * s0 + (1.0f - p.alpha) * g * g;
      theta -= p.lr * g / (sqrtf(s0) + p.eps);
      break;
    case 2: {  // Adam with bias correction
      s0 = p.beta1 * s0 + (1.0f - p.beta1) * g;
      s1 = p.beta2 * s1 + (1.0f - p.beta2) * g * g;
      theta -= p.lr * (s0 / p.bias1) / (sqrtf(s1 / p.bias2) + p.eps);
      break;
    }
    default:  // NAG (PyTorch SGD, nesterov=True): v = mu v + g; theta -= lr (g + mu v)
      s0 = p.momentum * s0 + g;
      theta -= p.lr * (g + p.momentum * s0);
      break;
  }
  (void)s1;
}

// True for finite floats (no NaN, no Inf), by the exponent bits so that it holds even
// under fast-math flags.
L2O_HD bool is_finite(float v) {
  return (math::float_to_bits(v) & 0x7F800000u) != 0x7F800000u;
}

// bfloat16 state storage (l2o/bfloat16.hpp): fp32 rounded to the nearest bfloat16, ties to
// even; a NaN stays a quiet NaN (rounding could otherwise carry it into an infinity).
// Infinities and overflow to infinity follow IEEE round-to-nearest.
L2O_HD std::uint16_t bf16_from_float(float f) {
  const std::uint32_t u = math::float_to_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
  return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
L2O_HD float float_from_bf16(std::uint16_t b) {
  return math::bits_to_float(static_cast<std::uint32_t>(b) << 16);
}

// One state value as fp32, stored as fp32 or bfloat16 (widened on load, rounded on store).
L2O_HD float state_value(const float* p) {
  return *p;
}
L2O_HD float state_value(const bfloat16* p) {
  return float_from_bf16(p->bits);
}
L2O_HD void set_state_value(float* p, float v) {
  *p = v;
}
L2O_HD void set_state_value(bfloat16* p, float v) {
  p->bits = bf16_from_float(v);
}

L2O_ISA_END
}  // namespace l2o
