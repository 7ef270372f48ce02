#include "l2o/weights.hpp"

#include "host/fail.hpp"
#include "l2o/error.hpp"
#include "maths/random.hpp"

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
    : config_(config), layout_(layout_of(config)), data_(layout_.count(), 0.0f) {}

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
  if (output == OutputInit::kZero) return w;  // the output layer stays at zero
  const double std = 1.0 / std::sqrt(static_cast<double>(L.hidden));
  MatrixView wo = w.output_weight();
  for (std::size_t k = 0; k < wo.size(); ++k) wo.data[k] = float(rng.truncated_normal(std));
  w.output_bias() = float(rng.truncated_normal(std));
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

}  // namespace l2o
