// Weights phi of the LSTM optimizer: one flat float buffer with named views.
#pragma once

#include "l2o/build.hpp"

#include "l2o/config.hpp"
#include "l2o/layout.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace l2o {

// A non-owning view of one matrix (rows x cols, row-major) or vector (cols == 1) of phi.
struct L2O_API MatrixView {
  float* data;
  int rows;
  int cols;
  float& operator()(int r, int c) const { return data[static_cast<std::size_t>(r) * cols + c]; }
  std::size_t size() const { return static_cast<std::size_t>(rows) * cols; }
};

// How a fresh phi's output layer (w_o, b_o) starts. kZero: the optimizer's first update is
// exactly zero and the meta-gradient first shapes the output layer from the LSTM's random
// features; on the Fashion-MNIST MLP it left the do-nothing point from 5 of 6 initial phi,
// against 2 of 6 with kRandom (docs/results/mlp/README.md).
enum class OutputInit { kRandom, kZero };

class L2O_API Weights {
 public:
  Weights() = default;
  // All zeros, sized for the configuration (validated).
  explicit Weights(const OptimizerConfig& config);

  // The reference code's initialisation: every matrix and bias from a normal with std
  // 1/sqrt(fan_in) truncated at two standard deviations (fan_in = input + hidden for the
  // LSTM layers, hidden for the output layer). Reproducible from the seed on every platform.
  // With OutputInit::kZero the output layer stays zero; the LSTM layers, drawn first, equal
  // kRandom's for the seed. An LSTM-sub phi starts with every group the same.
  static Weights initialise(const OptimizerConfig& config, std::uint64_t seed,
                            OutputInit output = OutputInit::kRandom);

  const OptimizerConfig& config() const { return config_; }
  // One LSTM's layout (of every group, for an LSTM-sub phi: OptimizerConfig::groups).
  const WeightLayout& layout() const { return layout_; }
  std::size_t size() const { return data_.size(); }
  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }
  std::vector<float>& values() { return data_; }
  const std::vector<float>& values() const { return data_; }

  // An LSTM-sub phi (config().groups > 1): group k's weights, a phi of config().single()
  // (the values at k * layout().count()); and that group replaced by `phi`.
  Weights group(int k) const;
  void set_group(int k, const Weights& phi);

  // Views of the (first group's) matrices.
  MatrixView lstm_weight(int layer);  // 4H x (in + H), gates i, f, g, o
  MatrixView lstm_bias(int layer);    // 4H x 1
  MatrixView output_weight();         // 1 x H
  float& output_bias();

 private:
  OptimizerConfig config_;
  WeightLayout layout_;
  std::vector<float> data_;
};

L2O_API WeightLayout layout_of(const OptimizerConfig& config);

// phi carried over to `to`, a configuration that differs from phi's at most in the options
// after the paper (moment_inputs, bounded_output, nominal_lr, the moments' constants,
// time_input and gac, which moves no weight):
// every weight keeps its value, and the first layer's columns for inputs phi does not
// have are zero, so the LSTM computes what phi computed until meta-training moves them
// (a warm start: `l2o train --init PAPER.l2o --moment-inputs`). A phi of one group goes to
// every group of an LSTM-sub `to` (`--groups 2`); otherwise the groups must match. A
// configuration that differs in anything else (layers, hidden, preprocessing, p, output
// scale, forget bias), or that has fewer inputs than phi, or that drops phi's time input
// or adds inputs before it, is refused with l2o::Error
// naming both.
L2O_API Weights extend_weights(const Weights& phi, const OptimizerConfig& to);

}  // namespace l2o
