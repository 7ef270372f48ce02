// Naive double-precision re-implementation of the optimizer, written independently of
// l2o's maths header (plain loops, std::exp / std::tanh / std::log), for the tests.
#pragma once

#include "l2o/config.hpp"
#include "l2o/weights.hpp"

#include <cmath>
#include <vector>

namespace l2o::ref {

inline double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

// Appendix A of the paper, in double.
inline std::vector<double> preprocess(double g, const OptimizerConfig& c) {
  if (c.preprocess == Preprocess::kNone) return {g};
  const double p = c.p;
  if (std::fabs(g) >= std::exp(-p)) return {std::log(std::fabs(g)) / p, g > 0 ? 1.0 : -1.0};
  return {-1.0, std::exp(p) * g};
}

// The optimizer's parameters unpacked into plain nested vectors, indexed by gate name.
struct Net {
  int layers, hidden, inputs;
  double scale, forget_bias;
  // W[l][gate][unit][col], b[l][gate][unit]; gates 0..3 = i, f, g, o.
  std::vector<std::vector<std::vector<std::vector<double>>>> W;
  std::vector<std::vector<std::vector<double>>> b;
  std::vector<double> wo;
  double bo;

  explicit Net(const Weights& phi)
      : Net(phi.config(), std::vector<double>(phi.values().begin(), phi.values().end())) {}

  // From a flat phi in double (for finite differences), walking the documented layout by
  // hand rather than through WeightLayout.
  Net(const OptimizerConfig& c, const std::vector<double>& flat) {
    layers = c.layers;
    hidden = c.hidden;
    inputs = c.num_inputs();
    scale = c.output_scale;
    forget_bias = c.forget_bias;
    const double* p = flat.data();
    W.resize(layers);
    b.resize(layers);
    for (int l = 0; l < layers; ++l) {
      const int cols = (l == 0 ? inputs : hidden) + hidden;
      W[l].assign(4, std::vector<std::vector<double>>(hidden, std::vector<double>(cols)));
      for (int g = 0; g < 4; ++g)
        for (int u = 0; u < hidden; ++u)
          for (int k = 0; k < cols; ++k) W[l][g][u][k] = *p++;
      b[l].assign(4, std::vector<double>(hidden));
      for (int g = 0; g < 4; ++g)
        for (int u = 0; u < hidden; ++u) b[l][g][u] = *p++;
    }
    wo.assign(p, p + hidden);
    p += hidden;
    bo = *p;
  }
};

// Per-coordinate state: h[l][u], c[l][u], and the running moments with their step count
// (used when the configuration has moment inputs or a nominal term).
struct CoordState {
  std::vector<std::vector<double>> h, c;
  double m = 0.0, v = 0.0;
  int t = 0;
  CoordState(int layers, int hidden)
      : h(layers, std::vector<double>(hidden, 0.0)), c(layers, std::vector<double>(hidden, 0.0)) {}
};

// Adam's bias-corrected moments after gradient g: advances s.m, s.v and s.t and returns
// r = 1 / (sqrt(v / (1 - beta2^t)) + eps) and mhat = m / (1 - beta1^t).
inline void moments(const OptimizerConfig& c, double g, CoordState& s, double& mhat, double& r) {
  const double b1 = c.beta1, b2 = c.beta2;
  s.m = b1 * s.m + (1 - b1) * g;
  s.v = b2 * s.v + (1 - b2) * g * g;
  s.t += 1;
  mhat = s.m / (1 - std::pow(b1, s.t));
  r = 1.0 / (std::sqrt(s.v / (1 - std::pow(b2, s.t))) + double(c.moment_eps));
}

// One LSTM cell; updates h and c in place.
inline void cell(const Net& net, int l, const std::vector<double>& in, std::vector<double>& h,
                 std::vector<double>& c) {
  const int H = net.hidden;
  std::vector<double> cat(in);
  cat.insert(cat.end(), h.begin(), h.end());
  std::vector<double> z[4];
  for (int g = 0; g < 4; ++g) {
    z[g].assign(H, 0.0);
    for (int u = 0; u < H; ++u) {
      double s = net.b[l][g][u];
      for (std::size_t k = 0; k < cat.size(); ++k) s += net.W[l][g][u][k] * cat[k];
      z[g][u] = s;
    }
  }
  for (int u = 0; u < H; ++u) {
    const double i = sigmoid(z[0][u]), f = sigmoid(z[1][u] + net.forget_bias);
    const double gg = std::tanh(z[2][u]), o = sigmoid(z[3][u]);
    c[u] = f * c[u] + i * gg;
    h[u] = o * std::tanh(c[u]);
  }
}

// The update g for one coordinate with gradient grad; state carried in place.
// With moment inputs the inputs are the preprocessed gradient, mhat r and g r; with the
// time input beta2^t last; with bounded output the update is scale tanh(out); a nominal
// term adds -nominal_lr mhat r.
inline double step(const Net& net, const OptimizerConfig& cfg, double grad, CoordState& s) {
  std::vector<double> in = preprocess(grad, cfg);
  double mhat = 0.0, r = 0.0;
  if (cfg.uses_moments()) moments(cfg, grad, s, mhat, r);
  if (cfg.moment_inputs) {
    in.push_back(mhat * r);
    in.push_back(grad * r);
  }
  if (cfg.time_input) in.push_back(std::pow(double(cfg.beta2), s.t));
  for (int l = 0; l < net.layers; ++l) {
    cell(net, l, in, s.h[l], s.c[l]);
    in = s.h[l];
  }
  double out = net.bo;
  for (int u = 0; u < net.hidden; ++u) out += net.wo[u] * in[u];
  const double learned = cfg.bounded_output ? net.scale * std::tanh(out) : net.scale * out;
  return learned - double(cfg.nominal_lr) * mhat * r;
}

// LSTM+GAC after a step of every coordinate: each global unit's h (the last cfg.gac units
// of every layer) becomes its mean over the coordinates.
inline void average_global_units(const OptimizerConfig& cfg, std::vector<CoordState>& s) {
  if (cfg.gac == 0 || s.empty()) return;
  for (int l = 0; l < cfg.layers; ++l)
    for (int u = cfg.hidden - cfg.gac; u < cfg.hidden; ++u) {
      double sum = 0.0;
      for (const CoordState& c : s) sum += c.h[l][u];
      for (CoordState& c : s) c.h[l][u] = sum / double(s.size());
    }
}

}  // namespace l2o::ref
