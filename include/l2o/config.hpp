// Configuration of the coordinatewise LSTM optimizer (docs/method.md §1).
#pragma once

#include "l2o/build.hpp"

#include <cstddef>
#include <string>

namespace l2o {

// How a raw gradient becomes the LSTM's input.
enum class Preprocess {
  kNone,     // one input: the raw gradient (the paper's quadratic experiments)
  kLogSign,  // two inputs: (log|g|/p, sgn g) or (-1, e^p g) — the paper's Appendix A
};

struct L2O_API OptimizerConfig {
  int layers = 2;   // stacked LSTM layers
  int hidden = 20;  // units per layer; see supported_hidden_sizes()
  Preprocess preprocess = Preprocess::kLogSign;
  float p = 10.0f;            // preprocessing exponent p (reference code: k = 5)
  float output_scale = 0.1f;  // g = output_scale * (w_o . h + b_o)
  float forget_bias = 1.0f;   // added to the forget gate's pre-activation

  int num_inputs() const { return preprocess == Preprocess::kNone ? 1 : 2; }
  // Floats of LSTM state per coordinate: layers x (h, c) x hidden.
  int state_dim() const { return layers * 2 * hidden; }

  // Throws l2o::Error naming the first invalid field.
  void validate() const;

  bool operator==(const OptimizerConfig& o) const;
  bool operator!=(const OptimizerConfig& o) const { return !(*this == o); }
};

// Hidden sizes with compiled kernels (registers need a compile-time size).
// Other sizes are refused by validate() with this list in the message.
constexpr int kSupportedHidden[] = {4, 8, 16, 20, 32, 40, 64};
constexpr int kMaxLayers = 8;

L2O_API std::string to_string(Preprocess p);
L2O_API Preprocess parse_preprocess(const std::string& name);  // "none" | "log_sign"
L2O_API std::string describe(const OptimizerConfig& c);        // one line, for logs and `l2o info`

}  // namespace l2o
