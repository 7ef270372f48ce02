// Problem families and per-problem optimizer defaults from command-line options.
#pragma once

#include "args.hpp"

#include "l2o/config.hpp"
#include "l2o/problem.hpp"

#include <memory>
#include <set>
#include <string>

namespace l2o::cli {

// The options every problem family reads (--dims, --batch, ...).
OptionTable problem_options();

std::unique_ptr<ProblemFamily> make_family(const Args& a);

// The optimizer configuration: OptimizerConfig's defaults (the paper's 2 x 20 LSTM,
// log_sign preprocessing with p = 10, output scale 0.1) overridden by the options.
// The reference code's quadratic setting is --preprocess none --scale 1.
OptimizerConfig optimizer_config(const Args& a);
OptionTable optimizer_options();

}  // namespace l2o::cli
