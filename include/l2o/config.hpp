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

  // Options from the literature after the paper (docs/generalisation.md). All off by
  // default, which is the paper's optimizer.
  // Adam-like normalised inputs (Lv et al. 2017): two more inputs per coordinate,
  // mhat / (sqrt(vhat) + eps) and g / (sqrt(vhat) + eps), from running moments kept in
  // the state (m, v with bias corrections, beta1 and beta2 below).
  bool moment_inputs = false;
  // A bounded update: output_scale * tanh(w_o . h + b_o) instead of the linear output.
  bool bounded_output = false;
  // A nominal term added to the learned update: -nominal_lr * mhat / (sqrt(vhat) + eps),
  // i.e. an Adam step of learning rate nominal_lr (Harrison et al. 2022); 0 for none.
  float nominal_lr = 0.0f;
  float beta1 = 0.9f;    // decay of the running mean of g (moment inputs, nominal term)
  float beta2 = 0.999f;  // decay of the running mean of g^2
  float moment_eps = 1e-8f;
  // LSTM-sub (the paper's CIFAR experiments, §3.4): `groups` LSTMs of this shape, each
  // with its own weights, one per parameter group of the optimizee (Optimizee::groups(),
  // e.g. the convolutions and the fully connected layers), group k's coordinates all
  // stepped by LSTM k. phi then holds `groups` copies of one LSTM's weights, one after the
  // other (Weights::group). 1: one LSTM for all coordinates, as everywhere else.
  int groups = 1;
  // LSTM+GAC (the paper's global averaging cells): the last `gac` units of every
  // layer are global. After each step their h, as it enters the next step, is the mean of
  // that unit's h over all the coordinates the step ran on (every tensor of one
  // LstmOptimizer step; one optimizee in meta-training, or one parameter group of it with
  // LSTM-sub), so the coordinates share
  // information, e.g. the gradient's norm. Within a step the layer above and the output
  // read each coordinate's own h: the average enters the recurrence one step later, which
  // keeps the step one pass per coordinate (docs/generalisation.md, LSTM+GAC). 0: none.
  int gac = 0;
  // A time input: one more input per coordinate, beta2^t (1 at the first step, 0.37 at
  // t = 1,000 with beta2 = 0.999, towards 0 after), read from the moments' bias correction
  // q2 = 1 - beta2^t in the state. Without it the LSTM can only count steps in its cell
  // state, and a phi meta-trained on 100 steps keeps stepping at step 1,000 as it did at
  // step 100; with it the update can depend on how long the optimizee has trained (as the
  // training-step features of Metz et al. 2020). It is the last input, after the moment
  // inputs when there are both. Bounded in [0, 1], so horizons longer than the training
  // ones see values it has seen (near 0).
  bool time_input = false;

  // True when the state carries the running moments (four rows: m, v and the bias
  // corrections 1 - beta1^t, 1 - beta2^t).
  bool uses_moments() const { return moment_inputs || nominal_lr != 0.0f || time_input; }
  int num_inputs() const {
    return (preprocess == Preprocess::kNone ? 1 : 2) + (moment_inputs ? 2 : 0) +
           (time_input ? 1 : 0);
  }
  // Floats of state per coordinate: layers x (h, c) x hidden, then the moment rows.
  int state_dim() const { return layers * 2 * hidden + (uses_moments() ? kMomentRows : 0); }
  static constexpr int kMomentRows = 4;
  // True when any option after the paper is on (checkpoints then need format version 2).
  // (The time input needs version 5.)
  bool has_extensions() const {
    return moment_inputs || bounded_output || nominal_lr != 0.0f || time_input;
  }
  // State row of global unit j (0 <= j < gac) of layer l: its h, units hidden - gac ..
  // hidden - 1 of the layer. constexpr, so that the CUDA kernels call it too
  // (kernels/gac_kernels.cuh; nvcc's --expt-relaxed-constexpr).
  static constexpr int gac_row(int hidden, int gac, int l, int j) {
    return 2 * l * hidden + hidden - gac + j;
  }
  int gac_row(int l, int j) const { return gac_row(hidden, gac, l, j); }
  // The same LSTM for one group (what each of an LSTM-sub phi's groups runs).
  OptimizerConfig single() const {
    OptimizerConfig c = *this;
    c.groups = 1;
    return c;
  }

  // Throws l2o::Error naming the first invalid field.
  void validate() const;

  bool operator==(const OptimizerConfig& o) const;
  bool operator!=(const OptimizerConfig& o) const { return !(*this == o); }
};

// Hidden sizes with compiled kernels (registers need a compile-time size).
// Other sizes are refused by validate() with this list in the message.
constexpr int kSupportedHidden[] = {4, 8, 16, 20, 32, 40, 64};
constexpr int kMaxLayers = 8;
constexpr int kMaxInputs = 5;   // log-sign (2) + moment inputs (2) + time input (1)
constexpr int kMaxGroups = 16;  // LSTM-sub: LSTMs per phi

L2O_API std::string to_string(Preprocess p);
L2O_API Preprocess parse_preprocess(const std::string& name);  // "none" | "log_sign"
L2O_API std::string describe(const OptimizerConfig& c);        // one line, for logs and `l2o info`

}  // namespace l2o
