#include "l2o/weights.hpp"

#include "host/fail.hpp"
#include "l2o/error.hpp"
#include "maths/random.hpp"

#include <algorithm>
#include <cmath>

namespace l2o {

WeightLayout layout_of(const OptimizerConfig& config) {
  config.validate();
  WeightLayout L;
  L.layers = config.layers;
  L.hidden = config.hidden;
  L.num_inputs = config.num_inputs();
  return L;
}

Weights::Weights(const OptimizerConfig& config)
    : config_(config),
      layout_(layout_of(config)),
      data_(layout_.count() * static_cast<std::size_t>(config.groups), 0.0f) {}

Weights Weights::group(int k) const {
  if (k < 0 || k >= config_.groups)
    fail("Weights::group(", k, "): phi has ", config_.groups, " group",
         config_.groups > 1 ? "s" : "");
  Weights w(config_.single());
  const std::size_t P = layout_.count();
  std::copy(data_.begin() + k * P, data_.begin() + (k + 1) * P, w.data_.begin());
  return w;
}

void Weights::set_group(int k, const Weights& phi) {
  if (k < 0 || k >= config_.groups)
    fail("Weights::set_group(", k, "): phi has ", config_.groups, " group",
         config_.groups > 1 ? "s" : "");
  if (phi.config() != config_.single())
    fail("Weights::set_group: '", describe(phi.config()), "' is not one group of '",
         describe(config_), "'");
  std::copy(phi.data_.begin(), phi.data_.end(), data_.begin() + k * layout_.count());
}

Weights Weights::initialise(const OptimizerConfig& config, std::uint64_t seed, OutputInit output) {
  Weights w(config);
  Rng rng(seed);
  const WeightLayout& L = w.layout_;
  for (int l = 0; l < L.layers; ++l) {
    const double std = 1.0 / std::sqrt(static_cast<double>(L.row_length(l)));
    MatrixView W = w.lstm_weight(l);
    for (std::size_t k = 0; k < W.size(); ++k) W.data[k] = float(rng.truncated_normal(std));
    MatrixView b = w.lstm_bias(l);
    for (std::size_t k = 0; k < b.size(); ++k) b.data[k] = float(rng.truncated_normal(std));
  }
  if (output != OutputInit::kZero) {  // (kZero: the output layer stays at zero)
    const double std = 1.0 / std::sqrt(static_cast<double>(L.hidden));
    MatrixView wo = w.output_weight();
    for (std::size_t k = 0; k < wo.size(); ++k) wo.data[k] = float(rng.truncated_normal(std));
    w.output_bias() = float(rng.truncated_normal(std));
  }
  for (int g = 1; g < config.groups; ++g)  // LSTM-sub: every group starts as the first
    std::copy(w.data_.begin(), w.data_.begin() + L.count(), w.data_.begin() + g * L.count());
  return w;
}

MatrixView Weights::lstm_weight(int layer) {
  if (layer < 0 || layer >= layout_.layers)
    fail("lstm_weight(", layer, "): expected a layer in 0..", layout_.layers - 1);
  return {data_.data() + layout_.w_offset(layer), 4 * layout_.hidden, layout_.row_length(layer)};
}

MatrixView Weights::lstm_bias(int layer) {
  if (layer < 0 || layer >= layout_.layers)
    fail("lstm_bias(", layer, "): expected a layer in 0..", layout_.layers - 1);
  return {data_.data() + layout_.b_offset(layer), 4 * layout_.hidden, 1};
}

MatrixView Weights::output_weight() {
  return {data_.data() + layout_.out_w_offset(), 1, layout_.hidden};
}

float& Weights::output_bias() {
  return data_[layout_.out_b_offset()];
}

Weights extend_weights(const Weights& phi, const OptimizerConfig& to) {
  to.validate();
  const OptimizerConfig& from = phi.config();
  OptimizerConfig same = to;  // `to` with phi's values of the options after the paper
  same.moment_inputs = from.moment_inputs;
  same.bounded_output = from.bounded_output;
  same.nominal_lr = from.nominal_lr;
  same.beta1 = from.beta1;
  same.beta2 = from.beta2;
  same.moment_eps = from.moment_eps;
  same.groups = from.groups;
  same.gac = from.gac;  // which units are global: the weights' layout does not change
  same.time_input = from.time_input;
  if (to.groups != from.groups && from.groups != 1)
    fail("cannot carry phi of '", describe(from), "' over to '", describe(to),
         "': an LSTM-sub phi keeps its number of groups");
  if (from.groups > 1 || to.groups > 1) {  // each group as one phi
    Weights out(to);
    for (int g = 0; g < to.groups; ++g)
      out.set_group(g, extend_weights(phi.group(from.groups > 1 ? g : 0), to.single()));
    return out;
  }
  if (from.time_input && !to.time_input)
    fail("cannot carry phi of '", describe(from), "' over to '", describe(to),
         "': it reads the time input");
  if (from.time_input && to.num_inputs() != from.num_inputs())
    fail("cannot carry phi of '", describe(from), "' over to '", describe(to),
         "': new inputs would go before its time input (add them with the time input)");
  if (same != from || to.num_inputs() < from.num_inputs())
    fail("cannot carry phi of '", describe(from), "' over to '", describe(to),
         "': only the options after the paper may differ, and inputs may only be added");
  Weights out(to);
  const WeightLayout &a = phi.layout(), &b = out.layout();
  const float* src = phi.data();
  float* dst = out.data();
  // Layer 0's matrix: each row's input columns, zeros for the new inputs, then the h
  // columns; everything after it has the same layout in both.
  const int rows = 4 * a.hidden, na = a.layer_input(0), nb = b.layer_input(0);
  for (int r = 0; r < rows; ++r) {
    const float* s = src + a.w_offset(0) + static_cast<std::size_t>(r) * a.row_length(0);
    float* d = dst + b.w_offset(0) + static_cast<std::size_t>(r) * b.row_length(0);
    for (int k = 0; k < na; ++k) d[k] = s[k];
    for (int k = na; k < nb; ++k) d[k] = 0.0f;
    for (int j = 0; j < a.hidden; ++j) d[nb + j] = s[na + j];
  }
  for (std::size_t e = a.b_offset(0); e < a.count(); ++e)
    dst[e - a.b_offset(0) + b.b_offset(0)] = src[e];
  return out;
}

}  // namespace l2o
