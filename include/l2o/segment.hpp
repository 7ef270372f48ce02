// One parameter tensor of a model, for the multi-tensor steps of LstmOptimizer and
// BaselineOptimizer: a model's hundreds of tensors are stepped in one call (one kernel
// launch on CUDA, one parallel pass on the CPU) instead of one call each.
#pragma once

#include "l2o/bfloat16.hpp"
#include "l2o/build.hpp"

#include <cstddef>

namespace l2o {

// theta, grad and state of n coordinates, laid out as for the single-tensor step (the
// state's row k of this tensor at state[k * n + i]); S: float, or bfloat16 for the LSTM
// optimizer's bfloat16 state. state may be null where the optimizer keeps none (SGD).
template <class S>
struct Segment {
  float* theta = nullptr;
  const float* grad = nullptr;
  S* state = nullptr;
  std::size_t n = 0;
};

}  // namespace l2o
